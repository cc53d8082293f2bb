#include "models/cvg/pyramid.h"

#include <torch/nn/functional/upsampling.h>

namespace fc::models::cvg {

at::Tensor PyramidDown(const at::Tensor& clip, int64_t temporal_factor, int64_t resolution) {
  TORCH_CHECK(clip.dim() == 5 && temporal_factor >= 1 && resolution >= 1,
              "PyramidDown: expected [B, T, C, H, W], factor >= 1, resolution >= 1");
  at::Tensor x = temporal_factor > 1 ? clip.slice(1, 0, clip.size(1), temporal_factor) : clip;
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  if (x.size(3) == resolution && x.size(4) == resolution) return x;
  namespace F = torch::nn::functional;
  at::Tensor y = F::interpolate(x.reshape({B * T, C, x.size(3), x.size(4)}),
                                F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{resolution, resolution})
                                    .mode(torch::kBilinear)
                                    .align_corners(false)
                                    .antialias(true));
  return y.view({B, T, C, resolution, resolution});
}

at::Tensor RandomWindowStarts(int64_t batch, int64_t frames, int64_t window, at::Generator gen) {
  TORCH_CHECK(window >= 1 && window <= frames, "RandomWindowStarts: window ", window,
              " does not fit in ", frames, " frames");
  return at::randint(0, frames - window + 1, {batch}, gen, at::TensorOptions().dtype(at::kLong));
}

at::Tensor CropWindows(const at::Tensor& clip, const at::Tensor& starts, int64_t window) {
  const int64_t B = clip.size(0);
  TORCH_CHECK(starts.dim() == 1 && starts.size(0) == B, "CropWindows: expected starts [B]");
  at::Tensor idx = starts.to(clip.device()).view({B, 1}) +
                   at::arange(window, at::TensorOptions().dtype(at::kLong).device(clip.device()));
  idx =
      idx.view({B, window, 1, 1, 1}).expand({B, window, clip.size(2), clip.size(3), clip.size(4)});
  return clip.gather(1, idx);
}

at::Tensor SampleFrames(int64_t batch, int64_t frames, int64_t k, at::Generator gen) {
  TORCH_CHECK(k >= 1 && k <= frames, "SampleFrames: cannot take ", k, " of ", frames, " frames");
  at::Tensor keys = at::rand({batch, frames}, gen, at::TensorOptions().dtype(at::kFloat));
  at::Tensor idx = std::get<1>(keys.sort(1)).narrow(1, 0, k);
  return std::get<0>(idx.sort(1));
}

}  // namespace fc::models::cvg
