// Generator residual block (BigGAN GBlock with conditional BN; CVG spec 2.3 and 2.5).
//
//   main:  cBN(y) -> ReLU -> [upsample] -> conv -> cBN(y) -> ReLU -> conv
//   skip:  [upsample] -> [1x1 conv when in != out]        (identity otherwise; the spec default)
//   out = main + skip
//
// Layout: x [B, T, in, H, W], y [B, cond_dim] -> [B, T', out, H', W'] with H' = 2H, W' = 2W when
// upsample_space and T' = 2T when upsample_time (nearest neighbour: pixel / frame repetition).
// conv = kConv2d: 3x3 2-D convolutions applied to every frame independently (time folded into the
// batch); conv = kSeparable3d: SeparableConv3d (temporal 3, then spatial 3x3). All convolutions are
// spectrally normalised. The conditional BNs keep per-time-step statistics: the first for T steps,
// the second for T' steps (time_steps is the block's input length).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "nn/conditional_batch_norm.h"
#include "nn/separable_conv3d.h"
#include "nn/spectral_norm.h"

namespace fc::nn {

struct GeneratorBlockOptions {
  enum class Conv { kConv2d, kSeparable3d };
  GeneratorBlockOptions(int64_t in, int64_t out, int64_t cond_dim, int64_t time_steps)
      : in_channels_(in), out_channels_(out), cond_dim_(cond_dim), time_steps_(time_steps) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, cond_dim);
  TORCH_ARG(int64_t, time_steps);  // input T
  TORCH_ARG(bool, upsample_space) = false;
  TORCH_ARG(bool, upsample_time) = false;
  TORCH_ARG(Conv, conv) = Conv::kConv2d;
  TORCH_ARG(double, bn_eps) = 1e-5;
  TORCH_ARG(double, bn_momentum) = 0.1;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class GeneratorBlockImpl : public torch::nn::Cloneable<GeneratorBlockImpl> {
 public:
  explicit GeneratorBlockImpl(const GeneratorBlockOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y);

  GeneratorBlockOptions options;
  ConditionalBatchNorm bn1{nullptr}, bn2{nullptr};
  // kConv2d: conv2d_1/2; kSeparable3d: conv3d_1/2. skip_conv only when in != out.
  SNConv2d conv2d_1{nullptr}, conv2d_2{nullptr};
  SeparableConv3d conv3d_1{nullptr}, conv3d_2{nullptr};
  SNConv2d skip_conv{nullptr};

 private:
  at::Tensor Conv(int which, const at::Tensor& x);  // [B, T, C, H, W] -> [B, T, C', H, W]
  at::Tensor Upsample(const at::Tensor& x) const;
};
TORCH_MODULE(GeneratorBlock);

// Applies a 2-D module to every frame of [B, T, C, H, W] (time folded into the batch).
template <typename M>
at::Tensor PerFrame(M& module, const at::Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1);
  at::Tensor y = module->forward(x.reshape({B * T, x.size(2), x.size(3), x.size(4)}));
  return y.view({B, T, y.size(1), y.size(2), y.size(3)});
}

}  // namespace fc::nn
