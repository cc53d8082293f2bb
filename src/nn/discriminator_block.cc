#include "nn/discriminator_block.h"

namespace fc::nn {

DiscriminatorBlockImpl::DiscriminatorBlockImpl(const DiscriminatorBlockOptions& o) : options(o) {
  reset();
}

void DiscriminatorBlockImpl::reset() {
  const int64_t in = options.in_channels(), out = options.out_channels();
  TORCH_CHECK(options.three_d() || !options.downsample_time(),
              "DiscriminatorBlock: downsample_time needs three_d");
  const bool learnable = in != out || options.downsample() || options.downsample_time();
  const auto& sn = options.sn();
  if (options.three_d()) {
    conv3d_1 = register_module("conv1", SNConv3d(SNConv3dOptions(in, out, 3).sn(sn)));
    conv3d_2 = register_module("conv2", SNConv3d(SNConv3dOptions(out, out, 3).sn(sn)));
    if (learnable) skip3d = register_module("skip", SNConv3d(SNConv3dOptions(in, out, 1).sn(sn)));
  } else {
    conv2d_1 = register_module("conv1", SNConv2d(SNConv2dOptions(in, out, 3).sn(sn)));
    conv2d_2 = register_module("conv2", SNConv2d(SNConv2dOptions(out, out, 3).sn(sn)));
    if (learnable) skip2d = register_module("skip", SNConv2d(SNConv2dOptions(in, out, 1).sn(sn)));
  }
}

at::Tensor DiscriminatorBlockImpl::Pool(const at::Tensor& x) const {
  if (options.three_d()) {
    if (!options.downsample() && !options.downsample_time()) return x;
    const int64_t kt = options.downsample_time() ? 2 : 1, ks = options.downsample() ? 2 : 1;
    return at::avg_pool3d(x, {kt, ks, ks});
  }
  return options.downsample() ? at::avg_pool2d(x, {2, 2}) : x;
}

at::Tensor DiscriminatorBlockImpl::Skip(const at::Tensor& x) {
  const bool learnable = skip2d || skip3d;
  if (!learnable) return x;
  auto conv = [&](const at::Tensor& t) {
    return options.three_d() ? skip3d->forward(t) : skip2d->forward(t);
  };
  return options.preactivation() ? Pool(conv(x)) : conv(Pool(x));
}

at::Tensor DiscriminatorBlockImpl::forward(const at::Tensor& x) {
  const int64_t want = options.three_d() ? 5 : 4;
  TORCH_CHECK(x.dim() == want && x.size(1) == options.in_channels(),
              "DiscriminatorBlock: expected ", want, "-d input with ", options.in_channels(),
              " channels at dim 1, got ", x.sizes());
  at::Tensor h = options.preactivation() ? at::relu(x) : x;
  if (options.three_d()) {
    h = conv3d_2->forward(at::relu(conv3d_1->forward(h)));
  } else {
    h = conv2d_2->forward(at::relu(conv2d_1->forward(h)));
  }
  return Pool(h) + Skip(x);
}

}  // namespace fc::nn
