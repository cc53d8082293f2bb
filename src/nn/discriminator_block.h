// Discriminator residual block (BigGAN DBlock; CVG spec 2.4), 2-D or 3-D, no normalisation.
//
//   main:  [ReLU if preactivation] -> conv3 -> ReLU -> conv3 -> [avg-pool 2]
//   skip:  learnable 1x1 conv when in != out or downsampling; with preactivation: conv -> pool,
//          without: pool -> conv (BigGAN's order); identity otherwise
//   out = main + skip
//
// 2-D: x [N, in, H, W], 3x3 convs, pool 2x2. 3-D: x [N, in, T, H, W], 3x3x3 convs, pool 1x2x2, or
// 2x2x2 when downsample_time. The hidden width is out_channels (BigGAN "wide"). All convolutions
// are spectrally normalised. The first block of a discriminator uses preactivation = false (its
// input is the image itself).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "nn/spectral_norm.h"

namespace fc::nn {

struct DiscriminatorBlockOptions {
  DiscriminatorBlockOptions(int64_t in, int64_t out) : in_channels_(in), out_channels_(out) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(bool, three_d) = false;
  TORCH_ARG(bool, downsample) = false;       // halve H and W
  TORCH_ARG(bool, downsample_time) = false;  // 3-D only: also halve T
  TORCH_ARG(bool, preactivation) = true;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class DiscriminatorBlockImpl : public torch::nn::Cloneable<DiscriminatorBlockImpl> {
 public:
  explicit DiscriminatorBlockImpl(const DiscriminatorBlockOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);

  DiscriminatorBlockOptions options;
  // Exactly one family is set, by three_d. skip_* only when learnable.
  SNConv2d conv2d_1{nullptr}, conv2d_2{nullptr}, skip2d{nullptr};
  SNConv3d conv3d_1{nullptr}, conv3d_2{nullptr}, skip3d{nullptr};

 private:
  at::Tensor Pool(const at::Tensor& x) const;
  at::Tensor Skip(const at::Tensor& x);
};
TORCH_MODULE(DiscriminatorBlock);

}  // namespace fc::nn
