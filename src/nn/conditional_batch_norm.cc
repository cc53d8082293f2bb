#include "nn/conditional_batch_norm.h"

#include <vector>

namespace fc::nn {

ConditionalBatchNormImpl::ConditionalBatchNormImpl(const ConditionalBatchNormOptions& o)
    : options(o) {
  reset();
}

void ConditionalBatchNormImpl::reset() {
  TORCH_CHECK(options.time_steps() > 0, "ConditionalBatchNorm: time_steps must be > 0");
  bn = register_module("bn", dist::SyncBatchNorm(dist::SyncBatchNormOptions(options.num_features())
                                                     .affine(false)
                                                     .eps(options.eps())
                                                     .momentum(options.momentum())
                                                     .time_steps(options.time_steps())));
  auto lin =
      SNLinearOptions(options.cond_dim(), options.num_features()).bias(false).sn(options.sn());
  gain = register_module("gain", SNLinear(lin));
  bias = register_module("bias", SNLinear(lin));
}

at::Tensor ConditionalBatchNormImpl::forward(const at::Tensor& x, const at::Tensor& y) {
  TORCH_CHECK(x.dim() >= 3 && y.dim() == 2 && y.size(0) == x.size(0),
              "ConditionalBatchNorm: expected x [B, T, C, *] and y [B, D], got ", x.sizes(),
              " and ", y.sizes());
  // Per-sample gain and bias broadcast over time and the spatial dims: [B, 1, C, 1, ...].
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  shape[2] = x.size(2);
  at::Tensor g = gain->forward(y).view(shape);
  at::Tensor b = bias->forward(y).view(shape);
  return bn->forward(x) * (g + 1) + b;
}

}  // namespace fc::nn
