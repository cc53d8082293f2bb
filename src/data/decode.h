// Frame sources: image files, folders of frames and video files, decoded with the FFmpeg libraries
// (libavformat demuxes video containers and, through its image2 demuxer, PNG/JPEG/BMP/PPM files;
// libavcodec decodes; libswscale converts and resizes).
//
// Every call opens its own demuxer, decoder and scaler contexts, so calls on different threads
// never share decoder state (one decoder context per thread). The decoder runs single-threaded;
// parallelism comes from decoding several files at once.
//
// Geometry: when `size` > 0 each frame is centre-cropped to a square of side `crop` (0: the
// shorter side) and then resized to size x size with swscale's area filter (SWS_AREA), after an
// exact conversion to RGB24 (or GRAY8) at the native resolution. When `size` is 0, frames keep
// their native resolution (a `crop` > 0 still centre-crops).
//
// Errors name the file and, where FFmpeg knows it, the frame number and byte offset. A file that
// cannot be opened, has no video stream, fails to decode, decodes to a frame marked corrupt, or
// yields fewer frames than its container declares (a truncated file) is an error, never a short
// or empty clip.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace fc::data {

struct FrameOptions {
  int size = 0;            // > 0: square output side (centre crop, then area resize)
  int crop = 0;            // > 0: centre-crop side before resizing (Cityscapes: 1024)
  int channels = 3;        // 3: RGB; 1: grayscale (luma)
  int64_t max_frames = 0;  // > 0: stop after this many frames
};

// Every frame of a video file (or the single frame of an image): uint8 [T, H, W, C], T >= 1.
Result<at::Tensor> DecodeVideo(const std::string& path, const FrameOptions& options);
// One image file: uint8 [H, W, C].
Result<at::Tensor> DecodeImage(const std::string& path, const FrameOptions& options);
// The image files of a folder in natural name order (frame2 < frame10): uint8 [T, H, W, C]. Every
// frame must decode to the same size (else an error naming the file).
Result<at::Tensor> DecodeFrameFolder(const std::string& dir, const FrameOptions& options);

// The image files (by extension: png jpg jpeg bmp ppm pgm) of `dir`, natural order, full paths.
std::vector<std::string> ListFrameFiles(const std::string& dir);
bool IsImageFile(const std::string& name);
// Video files by extension: mp4 m4v mov avi mkv webm mpg mpeg ogv flv wmv.
bool IsVideoFile(const std::string& name);
// Natural order: digit runs compare by value, everything else bytewise ("f2" < "f10").
bool NaturalLess(const std::string& a, const std::string& b);

// Area-filter resize of a uint8 [H, W, C] image (C = 1 or 3) with swscale.
Result<at::Tensor> ResizeArea(const at::Tensor& hwc, int out_h, int out_w);

}  // namespace fc::data
