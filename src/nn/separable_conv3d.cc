#include "nn/separable_conv3d.h"

namespace fc::nn {

SeparableConv3dImpl::SeparableConv3dImpl(const SeparableConv3dOptions& o) : options(o) { reset(); }

void SeparableConv3dImpl::reset() {
  const int64_t k = options.kernel_size();
  temporal = register_module(
      "temporal", SNConv3d(SNConv3dOptions(options.in_channels(), options.out_channels(), {k, 1, 1})
                               .sn(options.sn())));
  spatial = register_module(
      "spatial", SNConv3d(SNConv3dOptions(options.out_channels(), options.out_channels(), {1, k, k})
                              .sn(options.sn())));
}

at::Tensor SeparableConv3dImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.in_channels(),
              "SeparableConv3d: expected [B, T, ", options.in_channels(), ", H, W], got ",
              x.sizes());
  at::Tensor y = spatial->forward(temporal->forward(x.transpose(1, 2)));
  return y.transpose(1, 2);
}

}  // namespace fc::nn
