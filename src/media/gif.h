// Animated GIF writing (FFmpeg's GIF encoder and muxer) and clip grids for previews.
//
// Palette: grayscale frames (C = 1) use the 256 grey levels, so they are reproduced exactly; RGB
// frames whose colours (over all frames) number at most 256 use exactly those colours; other RGB
// frames are quantised to a fixed 6x7x6 colour cube (nearest level per channel, no dithering).
// The palette is framecast's (above); FFmpeg's encoder LZW-codes the frames (only the changed
// rectangle of each frame after the first) and its muxer writes the GIF89a container: infinite
// loop (NETSCAPE2.0), delay round(100 / fps) centiseconds.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::media {

// frames: uint8 [T, H, W, C], C = 1 or 3, T >= 1, H and W in [1, 65535]; fps >= 1. Written
// atomically (path.tmp, then rename).
Status WriteGif(const std::string& path, const at::Tensor& frames_thwc_uint8, int fps);
// The GIF file bytes (what WriteGif writes).
Result<std::string> EncodeGif(const at::Tensor& frames_thwc_uint8, int fps);

// Tiles clips into a grid with `columns` columns (and as many rows as needed), 2 black pixels
// between tiles: each clip [T, C, H, W], uint8 or float in [0, 1]; C = 1 or 3 (grey clips are
// expanded when any clip is RGB); shorter clips hold their last frame. Returns uint8 [T', H', W',
// C'].
at::Tensor TileClips(const std::vector<at::Tensor>& clips, int columns);

}  // namespace fc::media
