#include "nn/conv_gru.h"

#include <vector>

namespace fc::nn {

ConvGRUImpl::ConvGRUImpl(const ConvGRUOptions& o) : options(o) { reset(); }

void ConvGRUImpl::reset() {
  const int64_t in = options.in_channels(), hid = options.hidden_channels();
  const int64_t k = options.kernel_size();
  gates =
      register_module("gates", SNConv2d(SNConv2dOptions(hid + in, 2 * hid, k).sn(options.sn())));
  candidate =
      register_module("candidate", SNConv2d(SNConv2dOptions(in + hid, hid, k).sn(options.sn())));
}

at::Tensor ConvGRUImpl::Step(const at::Tensor& x_t, const at::Tensor& h) {
  at::Tensor ru = at::sigmoid(gates->forward(at::cat({h, x_t}, 1)));
  auto parts = ru.chunk(2, 1);
  const at::Tensor& r = parts[0];
  const at::Tensor& u = parts[1];
  at::Tensor c = at::relu(candidate->forward(at::cat({x_t, r * h}, 1)));
  return u * h + (1 - u) * c;
}

at::Tensor ConvGRUImpl::forward(const at::Tensor& x, const at::Tensor& h0) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.in_channels(), "ConvGRU: expected [B, T, ",
              options.in_channels(), ", H, W], got ", x.sizes());
  const int64_t B = x.size(0), T = x.size(1), H = x.size(3), W = x.size(4);
  at::Tensor h = h0.defined() ? h0 : at::zeros({B, options.hidden_channels(), H, W}, x.options());
  std::vector<at::Tensor> out;
  out.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    h = Step(x.select(1, t), h);
    out.push_back(h);
  }
  return at::stack(out, 1);
}

}  // namespace fc::nn
