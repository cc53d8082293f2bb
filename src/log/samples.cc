#include "log/samples.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "media/gif.h"
#include "media/video_writer.h"
#include "util/files.h"
#include "util/torch_status.h"

namespace fc::log {
namespace {

// [T, C, H, W] (uint8 or float in [0, 1]) -> uint8 [T, H, W, C] on the CPU with `channels`
// channels.
at::Tensor ToThwc(const at::Tensor& tile, int64_t channels) {
  at::Tensor t = tile.detach().to(at::kCPU);
  if (t.scalar_type() != at::kByte)
    t = (t.to(at::kFloat).clamp(0, 1) * 255.0).round().to(at::kByte);
  if (t.size(1) != channels) t = t.expand({t.size(0), channels, t.size(2), t.size(3)});
  return t.permute({0, 2, 3, 1}).contiguous();
}

}  // namespace

at::Tensor Filmstrip(const SampleGrid& grid) {
  int64_t frames = 0, channels = 1;
  for (const auto& t : grid.tiles) {
    frames = std::max(frames, t.size(0));
    channels = std::max(channels, t.size(1));
  }
  const int64_t h = grid.tiles[0].size(2), w = grid.tiles[0].size(3), gap = 2;
  const int64_t rows = static_cast<int64_t>(grid.tiles.size());
  at::Tensor out =
      at::zeros({rows * (h + gap) - gap, frames * (w + gap) - gap, channels}, at::kByte);
  for (int64_t r = 0; r < rows; ++r) {
    at::Tensor clip = ToThwc(grid.tiles[r], channels);
    for (int64_t f = 0; f < frames; ++f) {
      out.narrow(0, r * (h + gap), h)
          .narrow(1, f * (w + gap), w)
          .copy_(clip[std::min(f, clip.size(0) - 1)]);
    }
  }
  return out;
}

Status WriteSampleVideos(const std::string& dir, const std::string& stem, const SampleGrid& grid,
                         int fps) {
  if (grid.tiles.empty())
    return Status::InvalidArgument("sample grid '" + grid.name + "' is empty");
  FC_RETURN_IF_ERROR(MakeDirs(dir));
  at::Tensor video;
  FC_TRY_TORCH(video = media::TileClips(grid.tiles, std::max(1, grid.columns)));
  FC_RETURN_IF_ERROR(media::WriteGif(dir + "/" + stem + ".gif", video, fps));
  return media::WriteMp4(dir + "/" + stem + ".mp4", video, fps);
}

}  // namespace fc::log
