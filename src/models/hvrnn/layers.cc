#include "models/hvrnn/layers.h"

#include <ATen/ATen.h>

namespace fc::models::hvrnn {

namespace nn = torch::nn;

at::Tensor PadSame(const at::Tensor& x, int64_t k) {
  if (k <= 1) return x;
  const int64_t lo = (k - 1) / 2, hi = k / 2;
  return at::constant_pad_nd(x, {lo, hi, lo, hi}, 0);
}

ConvLstmCellImpl::ConvLstmCellImpl(int64_t in, int64_t hidden_, int64_t kernel_, int64_t groups)
    : hidden(hidden_), kernel(kernel_) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in + hidden, 4 * hidden, kernel)));
  norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(groups, 4 * hidden)));
}

std::pair<at::Tensor, at::Tensor> ConvLstmCellImpl::forward(const at::Tensor& x,
                                                            const at::Tensor& h,
                                                            const at::Tensor& c) {
  auto gates = norm(conv(PadSame(at::cat({x, h}, 1), kernel)));
  auto g = gates.chunk(4, 1);
  auto c_next = at::sigmoid(g[1]) * c + at::sigmoid(g[0]) * at::tanh(g[3]);
  auto h_next = at::sigmoid(g[2]) * at::tanh(c_next);
  return {h_next, c_next};
}

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t groups, int64_t first_kernel) {
  TORCH_CHECK(first_kernel == 3 || first_kernel == 4, "ResBlock: first_kernel must be 3 or 4");
  conv1 = register_module(
      "conv1",
      nn::Conv2d(nn::Conv2dOptions(in, out, first_kernel).padding(first_kernel == 3 ? 1 : 0)));
  norm1 = register_module("norm1", nn::GroupNorm(nn::GroupNormOptions(groups, out)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1)));
  norm2 = register_module("norm2", nn::GroupNorm(nn::GroupNormOptions(groups, out)));
  if (first_kernel != 3) {
    skip = register_module("skip", nn::Conv2d(nn::Conv2dOptions(in, out, first_kernel)));
  } else if (in != out) {
    skip = register_module("skip", nn::Conv2d(nn::Conv2dOptions(in, out, 1)));
  }
}

at::Tensor ResBlockImpl::forward(const at::Tensor& x) {
  auto y = norm1(conv1(at::relu(x)));
  y = norm2(conv2(at::relu(y)));
  return (skip ? skip(x) : x) + y;
}

UpConvImpl::UpConvImpl(int64_t in, int64_t out, int64_t groups, bool from_1x1) {
  conv = register_module("conv", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4)
                                                         .stride(from_1x1 ? 1 : 2)
                                                         .padding(from_1x1 ? 0 : 1)));
  norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(groups, out)));
}

at::Tensor UpConvImpl::forward(const at::Tensor& x) { return at::relu(norm(conv(x))); }

ConvGnReluImpl::ConvGnReluImpl(int64_t in, int64_t out, int64_t kernel_, int64_t groups)
    : kernel(kernel_) {
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)));
  norm = register_module("norm", nn::GroupNorm(nn::GroupNormOptions(groups, out)));
}

at::Tensor ConvGnReluImpl::forward(const at::Tensor& x) {
  return at::relu(norm(conv(PadSame(x, kernel))));
}

InitNetImpl::InitNetImpl(int64_t in, int64_t hidden, int64_t groups) {
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, hidden, 1)));
  norm1 = register_module("norm1", nn::GroupNorm(nn::GroupNormOptions(groups, hidden)));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(hidden, 2 * hidden, 1)));
  norm2 = register_module("norm2", nn::GroupNorm(nn::GroupNormOptions(groups, 2 * hidden)));
}

std::pair<at::Tensor, at::Tensor> InitNetImpl::forward(const at::Tensor& x) {
  auto y = norm2(conv2(at::relu(norm1(conv1(x)))));
  auto hc = y.chunk(2, 1);
  return {hc[0], hc[1]};
}

LatentNetImpl::LatentNetImpl(int64_t in, int64_t hidden, int64_t channels, int64_t kernel,
                             int64_t groups, bool gn_on_head, double floor, bool zero_head)
    : sigma_floor(floor) {
  conv_in = register_module("conv_in", nn::Conv2d(nn::Conv2dOptions(in, hidden, 1)));
  norm_in = register_module("norm_in", nn::GroupNorm(nn::GroupNormOptions(groups, hidden)));
  cell = register_module("cell", ConvLstmCell(hidden, hidden, kernel, groups));
  head = register_module("head", nn::Conv2d(nn::Conv2dOptions(hidden, 2 * channels, 1)));
  if (gn_on_head) {
    norm_head =
        register_module("norm_head", nn::GroupNorm(nn::GroupNormOptions(groups, 2 * channels)));
  }
  if (zero_head) {
    torch::NoGradGuard no_grad;
    if (norm_head) {
      norm_head->weight.zero_();
    } else {
      head->weight.zero_();
      head->bias.zero_();
    }
  }
}

LatentNetOut LatentNetImpl::forward(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c) {
  auto [h2, c2] = cell(norm_in(conv_in(x)), h, c);
  auto p = head(h2);
  if (norm_head) p = norm_head(p);
  auto ms = p.chunk(2, 1);
  return {ms[0], at::softplus(ms[1]) + sigma_floor, h2, c2};
}

at::Tensor GaussianKl(const at::Tensor& mu_q, const at::Tensor& sigma_q, const at::Tensor& mu_p,
                      const at::Tensor& sigma_p) {
  auto var_p = sigma_p * sigma_p;
  return at::log(sigma_p / sigma_q) + (sigma_q * sigma_q + (mu_q - mu_p).pow(2)) / (2 * var_p) -
         0.5;
}

}  // namespace fc::models::hvrnn
