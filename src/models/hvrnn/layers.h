// HVRNN building blocks (spec §2.1). Every normalisation is GroupNorm; there is no BatchNorm, so
// every block computes each sample independently of the others in the batch.
//
// Shapes are [B, C, H, W]. "same" padding for a stride-1 k x k conv is zero padding of (k-1)/2
// before and k/2 after on each spatial axis (asymmetric for even k; at 1x1 every kernel reduces to
// its centre tap (k-1)/2, so a 3x3 or 4x4 conv on a 1x1 map is a fully connected layer).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>

#include <utility>

namespace fc::models::hvrnn {

// Zero "same" padding for a stride-1 k x k conv (identity for k == 1).
at::Tensor PadSame(const at::Tensor& x, int64_t k);

// Convolutional LSTM cell with GroupNorm on the gates:
//   gates = GN_groups(Conv_k(concat(x, h)))  over 4 * hidden channels, split i, f, o, g;
//   c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c').
// x: [B, in, H, W]; h, c: [B, hidden, H, W]; returns (h', c') of the same shape as h.
// Parameters: conv (in + hidden) -> 4 * hidden, k x k, with bias; GroupNorm affine.
// REQUIRES: 4 * hidden divisible by groups.
struct ConvLstmCellImpl : torch::nn::Module {
  ConvLstmCellImpl(int64_t in, int64_t hidden, int64_t kernel, int64_t groups);
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& h,
                                            const at::Tensor& c);
  int64_t hidden = 0, kernel = 3;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::GroupNorm norm{nullptr};
};
TORCH_MODULE(ConvLstmCell);

// The "modified" ResNet block: y = skip(x) + GN(Conv3x3(ReLU(GN(Conv_k(ReLU(x)))))).
// first_kernel 3: same padding, spatial size kept; skip is the identity, or a 1x1 conv when
// in != out. first_kernel 4 (the encoder's 4x4 -> 1x1 block): the first conv and the skip are
// 4x4 valid convs (4x4 input -> 1x1 output). All convs have biases.
// REQUIRES: out divisible by groups; first_kernel in {3, 4}.
struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in, int64_t out, int64_t groups, int64_t first_kernel = 3);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(ResBlock);

// Decoder up-sampling: ReLU(GN(ConvTranspose2d 4x4)). from_1x1: stride 1, padding 0 (1x1 -> 4x4);
// otherwise stride 2, padding 1 (H -> 2H).
struct UpConvImpl : torch::nn::Module {
  UpConvImpl(int64_t in, int64_t out, int64_t groups, bool from_1x1);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ConvTranspose2d conv{nullptr};
  torch::nn::GroupNorm norm{nullptr};
};
TORCH_MODULE(UpConv);

// ReLU(GN(Conv_k(x))) with same padding: the non-recurrent decoder stage and the output block.
struct ConvGnReluImpl : torch::nn::Module {
  ConvGnReluImpl(int64_t in, int64_t out, int64_t kernel, int64_t groups);
  at::Tensor forward(const at::Tensor& x);
  int64_t kernel = 3;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::GroupNorm norm{nullptr};
};
TORCH_MODULE(ConvGnRelu);

// Initial-state net of one ConvLSTM (spec §2.5): GN(Conv1x1(ReLU(GN(Conv1x1(x))))) with
// in -> hidden -> 2 * hidden channels, split into (h0, c0). x: [B, in, H, W] context features.
struct InitNetImpl : torch::nn::Module {
  InitNetImpl(int64_t in, int64_t hidden, int64_t groups);
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(InitNet);

// One level of the prior or the approximate posterior (spec §2.4):
//   u = GN(Conv1x1(x)) (in -> hidden); (h', c') = ConvLSTM(u, h, c);
//   [mu, s] = GN?(Conv1x1(h')) (hidden -> 2 * channels); sigma = softplus(s) + sigma_floor.
// With zero_head the head's last affine map starts at zero (the head GN's weight, or the conv's
// weight and bias without GN): every such net then outputs mu = 0, sigma = softplus(0) + floor
// for any input, so the posterior starts equal to the prior and the KL at 0 (see config.h).
struct LatentNetOut {
  at::Tensor mu, sigma, h, c;
};
struct LatentNetImpl : torch::nn::Module {
  LatentNetImpl(int64_t in, int64_t hidden, int64_t channels, int64_t kernel, int64_t groups,
                bool gn_on_head, double sigma_floor, bool zero_head = false);
  LatentNetOut forward(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c);
  double sigma_floor = 1e-4;
  torch::nn::Conv2d conv_in{nullptr}, head{nullptr};
  torch::nn::GroupNorm norm_in{nullptr}, norm_head{nullptr};
  ConvLstmCell cell{nullptr};
};
TORCH_MODULE(LatentNet);

// KL(N(mu_q, sq^2) || N(mu_p, sp^2)) per element (no reduction):
//   log(sp / sq) + (sq^2 + (mu_q - mu_p)^2) / (2 sp^2) - 1/2.
at::Tensor GaussianKl(const at::Tensor& mu_q, const at::Tensor& sigma_q, const at::Tensor& mu_p,
                      const at::Tensor& sigma_p);

}  // namespace fc::models::hvrnn
