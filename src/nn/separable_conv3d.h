// Separable 3-D convolution of CVG's upscaling generators (spec 2.5): a temporal convolution
// (kernel k x 1 x 1, padding k/2 in time) followed by a spatial one (1 x k x k, padding k/2), both
// spectrally normalised, no non-linearity in between, intermediate width = out_channels (the
// spec's suggested defaults). Fully convolutional in time: any T, output T = input T.
// Layout: x [B, T, C, H, W] (framecast's clip layout) -> [B, T, out, H, W]; the [B, C, T, H, W]
// layout of Conv3d is internal.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "nn/spectral_norm.h"

namespace fc::nn {

struct SeparableConv3dOptions {
  SeparableConv3dOptions(int64_t in, int64_t out) : in_channels_(in), out_channels_(out) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class SeparableConv3dImpl : public torch::nn::Cloneable<SeparableConv3dImpl> {
 public:
  explicit SeparableConv3dImpl(const SeparableConv3dOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

  SeparableConv3dOptions options;
  SNConv3d temporal{nullptr}, spatial{nullptr};
};
TORCH_MODULE(SeparableConv3d);

}  // namespace fc::nn
