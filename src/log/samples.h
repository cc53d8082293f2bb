// Sample previews of a run: a grid video (GIF and MP4) per sample point, and a still "filmstrip"
// image of the same clips for TensorBoard.
//
// A SampleGrid is what a trainer returns (Trainer::Samples): tiles, each one clip [T, C, H, W]
// (uint8, or float in [0, 1]; C = 1 or 3; any device), laid out `columns` per row. The video is
// media::TileClips of the tiles; the filmstrip puts each tile on its own row with its frames left
// to right (2 black pixels between frames and rows; shorter clips hold their last frame; grey tiles
// are expanded to RGB when any tile is RGB).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace fc::log {

struct SampleGrid {
  std::string name;  // "" for a single preview, else e.g. "level2": part of file names and tags
  std::vector<at::Tensor> tiles;
  int columns = 1;
};

// uint8 [rows * (H + 2) - 2, T_max * (W + 2) - 2, C] on the CPU. REQUIRES: !grid.tiles.empty(),
// every tile of the same H and W.
at::Tensor Filmstrip(const SampleGrid& grid);

// Writes dir/<stem>.gif and dir/<stem>.mp4 (dir created if needed) of the tiled grid at `fps`.
Status WriteSampleVideos(const std::string& dir, const std::string& stem, const SampleGrid& grid,
                         int fps);

}  // namespace fc::log
