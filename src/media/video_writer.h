// MP4 writing with libavcodec/libavformat: H.264 (libx264, CRF 18) when this FFmpeg has the
// encoder, else MPEG-4 part 2 (qscale 2); yuv420p; odd widths/heights are padded by one black
// pixel (yuv420p needs even sizes). Written atomically (a temporary file, then rename).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "util/status.h"

namespace fc::media {

// frames: uint8 [T, H, W, C], C = 1 or 3, T >= 1; fps >= 1.
Status WriteMp4(const std::string& path, const at::Tensor& frames_thwc_uint8, int fps);
// The encoder WriteMp4 uses here: "libx264" or "mpeg4".
std::string Mp4EncoderName();

}  // namespace fc::media
