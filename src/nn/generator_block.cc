#include "nn/generator_block.h"

namespace fc::nn {

GeneratorBlockImpl::GeneratorBlockImpl(const GeneratorBlockOptions& o) : options(o) { reset(); }

void GeneratorBlockImpl::reset() {
  const int64_t in = options.in_channels(), out = options.out_channels();
  const int64_t t_in = options.time_steps();
  const int64_t t_out = options.upsample_time() ? 2 * t_in : t_in;
  auto cbn = [&](int64_t c, int64_t t) {
    return ConditionalBatchNorm(ConditionalBatchNormOptions(c, options.cond_dim(), t)
                                    .eps(options.bn_eps())
                                    .momentum(options.bn_momentum())
                                    .sn(options.sn()));
  };
  bn1 = register_module("bn1", cbn(in, t_in));
  bn2 = register_module("bn2", cbn(out, t_out));
  if (options.conv() == GeneratorBlockOptions::Conv::kConv2d) {
    conv2d_1 = register_module("conv1", SNConv2d(SNConv2dOptions(in, out, 3).sn(options.sn())));
    conv2d_2 = register_module("conv2", SNConv2d(SNConv2dOptions(out, out, 3).sn(options.sn())));
  } else {
    conv3d_1 =
        register_module("conv1", SeparableConv3d(SeparableConv3dOptions(in, out).sn(options.sn())));
    conv3d_2 = register_module("conv2",
                               SeparableConv3d(SeparableConv3dOptions(out, out).sn(options.sn())));
  }
  if (in != out) {
    skip_conv = register_module("skip", SNConv2d(SNConv2dOptions(in, out, 1).sn(options.sn())));
  }
}

at::Tensor GeneratorBlockImpl::Conv(int which, const at::Tensor& x) {
  if (options.conv() == GeneratorBlockOptions::Conv::kConv2d) {
    return which == 1 ? PerFrame(conv2d_1, x) : PerFrame(conv2d_2, x);
  }
  return which == 1 ? conv3d_1->forward(x) : conv3d_2->forward(x);
}

at::Tensor GeneratorBlockImpl::Upsample(const at::Tensor& x) const {
  at::Tensor y = x;
  if (options.upsample_time()) y = y.repeat_interleave(2, 1);
  if (options.upsample_space()) {
    const int64_t B = y.size(0), T = y.size(1), C = y.size(2), H = y.size(3), W = y.size(4);
    y = at::upsample_nearest2d(y.reshape({B * T, C, H, W}), {2 * H, 2 * W})
            .view({B, T, C, 2 * H, 2 * W});
  }
  return y;
}

at::Tensor GeneratorBlockImpl::forward(const at::Tensor& x, const at::Tensor& y) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.in_channels(),
              "GeneratorBlock: expected [B, T, ", options.in_channels(), ", H, W], got ",
              x.sizes());
  at::Tensor h = Upsample(at::relu(bn1->forward(x, y)));
  h = Conv(1, h);
  h = Conv(2, at::relu(bn2->forward(h, y)));
  // The 1x1 skip conv commutes with nearest-neighbour upsampling: convolve first (cheaper).
  at::Tensor s = skip_conv ? PerFrame(skip_conv, x) : x;
  return h + Upsample(s);
}

}  // namespace fc::nn
