// Convolutional GRU (DVD-GAN style, CVG spec 2.3) unrolled over the time axis.
//
//   r_t = sigmoid(W_r * [h_{t-1}; x_t] + b_r)
//   u_t = sigmoid(W_u * [h_{t-1}; x_t] + b_u)
//   c_t = relu(W_c * [x_t; r_t (.) h_{t-1}] + b_c)     (ReLU candidate, per the spec)
//   h_t = u_t (.) h_{t-1} + (1 - u_t) (.) c_t           output at step t is h_t
//
// `*` is a k x k convolution with zero "same" padding; W_r and W_u are one conv producing 2 *
// hidden channels (`gates`), W_c is `candidate`. Both are spectrally normalised (options.sn). The
// initial state h_0 is zeros unless given. Stateless: the state is passed in and returned.
// x: [B, T, in, H, W] -> [B, T, hidden, H, W] (all h_t).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "nn/spectral_norm.h"

namespace fc::nn {

struct ConvGRUOptions {
  ConvGRUOptions(int64_t in, int64_t hidden) : in_channels_(in), hidden_channels_(hidden) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, hidden_channels);
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class ConvGRUImpl : public torch::nn::Cloneable<ConvGRUImpl> {
 public:
  explicit ConvGRUImpl(const ConvGRUOptions& options);
  void reset() override;
  // h0: [B, hidden, H, W] or undefined (zeros).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& h0 = {});
  // One step: x_t [B, in, H, W], h [B, hidden, H, W] -> h_t.
  at::Tensor Step(const at::Tensor& x_t, const at::Tensor& h);

  ConvGRUOptions options;
  SNConv2d gates{nullptr}, candidate{nullptr};
};
TORCH_MODULE(ConvGRU);

}  // namespace fc::nn
