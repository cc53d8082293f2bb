// ConvGRU, separable 3-D conv and the residual blocks: shapes and reference computations written
// out with plain ATen ops.
#include <gtest/gtest.h>

#include "common/ranks.h"
#include "nn/conv_gru.h"
#include "nn/discriminator_block.h"
#include "nn/generator_block.h"
#include "nn/separable_conv3d.h"

namespace fc::nn {
namespace {

using testing::RelDiff;

const SpectralNormOptions kNoSn = SpectralNormOptions().enabled(false);

TEST(ConvGRU, MatchesWrittenOutEquations) {
  torch::manual_seed(31);
  const int64_t B = 2, T = 4, Cin = 3, Hd = 5, H = 4, W = 3;
  ConvGRU gru(ConvGRUOptions(Cin, Hd).sn(kNoSn));
  gru->to(at::kDouble);
  at::Tensor x = at::randn({B, T, Cin, H, W}, at::kDouble);
  at::Tensor out = gru(x);
  ASSERT_EQ(out.sizes(), at::IntArrayRef({B, T, Hd, H, W}));
  at::Tensor Wg = gru->gates->weight, bg = gru->gates->bias;
  at::Tensor Wc = gru->candidate->weight, bc = gru->candidate->bias;
  at::Tensor h = at::zeros({B, Hd, H, W}, at::kDouble);
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor xt = x.select(1, t);
    at::Tensor hx = at::cat({h, xt}, 1);
    at::Tensor r = at::sigmoid(at::conv2d(hx, Wg.narrow(0, 0, Hd), bg.narrow(0, 0, Hd), 1, 1));
    at::Tensor u = at::sigmoid(at::conv2d(hx, Wg.narrow(0, Hd, Hd), bg.narrow(0, Hd, Hd), 1, 1));
    at::Tensor c = at::relu(at::conv2d(at::cat({xt, r * h}, 1), Wc, bc, 1, 1));
    h = u * h + (1 - u) * c;
    EXPECT_LT(RelDiff(out.select(1, t), h), 1e-12) << "t=" << t;
  }
  // A given initial state is used.
  at::Tensor h0 = at::randn({B, Hd, H, W}, at::kDouble);
  EXPECT_GT(RelDiff(gru(x, h0), out), 1e-3);
}

TEST(SeparableConv3d, TemporalThenSpatial) {
  torch::manual_seed(32);
  const int64_t B = 2, T = 5, Cin = 3, Cout = 4, H = 5, W = 4;
  SeparableConv3d conv(SeparableConv3dOptions(Cin, Cout).sn(kNoSn));
  conv->to(at::kDouble);
  at::Tensor x = at::randn({B, T, Cin, H, W}, at::kDouble);
  at::Tensor y = conv(x);
  ASSERT_EQ(y.sizes(), at::IntArrayRef({B, T, Cout, H, W}));
  // Temporal: mid_t = sum_dt Wt[:, :, dt] x_{t + dt - 1} + bt (zero frames outside [0, T)).
  at::Tensor Wt = conv->temporal->weight.view({Cout, Cin, 3});
  at::Tensor Ws = conv->spatial->weight.view({Cout, Cout, 3, 3});
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor mid = conv->temporal->bias.view({1, Cout, 1, 1}).expand({B, Cout, H, W}).clone();
    for (int64_t dt = 0; dt < 3; ++dt) {
      const int64_t s = t + dt - 1;
      if (s < 0 || s >= T) continue;
      mid = mid + at::einsum("oi,bihw->bohw", {Wt.select(2, dt), x.select(1, s)});
    }
    at::Tensor want = at::conv2d(mid, Ws, conv->spatial->bias, 1, 1);
    EXPECT_LT(RelDiff(y.select(1, t), want), 1e-12) << "t=" << t;
  }
  // Any length: fully convolutional in time.
  EXPECT_EQ(conv(at::randn({1, 11, Cin, H, W}, at::kDouble)).size(1), 11);
}

TEST(GeneratorBlock, ShapesForEveryUpsamplingMode) {
  torch::manual_seed(33);
  const int64_t B = 2, T = 3, D = 6;
  at::Tensor y = at::randn({B, D});
  struct Case {
    bool space, time;
    GeneratorBlockOptions::Conv conv;
  };
  for (Case c : {Case{false, false, GeneratorBlockOptions::Conv::kConv2d},
                 Case{true, false, GeneratorBlockOptions::Conv::kConv2d},
                 Case{true, true, GeneratorBlockOptions::Conv::kConv2d},
                 Case{false, true, GeneratorBlockOptions::Conv::kSeparable3d},
                 Case{true, false, GeneratorBlockOptions::Conv::kSeparable3d}}) {
    GeneratorBlock b(GeneratorBlockOptions(8, 4, D, T)
                         .upsample_space(c.space)
                         .upsample_time(c.time)
                         .conv(c.conv));
    at::Tensor x = at::randn({B, T, 8, 4, 4}).requires_grad_(true);
    at::Tensor out = b(x, y);
    EXPECT_EQ(out.sizes(),
              at::IntArrayRef({B, c.time ? 2 * T : T, 4, c.space ? 8 : 4, c.space ? 8 : 4}));
    out.sum().backward();
    EXPECT_TRUE(x.grad().defined());
    EXPECT_TRUE(b->skip_conv) << "in != out needs a 1x1 skip";
  }
  GeneratorBlock same(GeneratorBlockOptions(4, 4, D, T));
  EXPECT_FALSE(same->skip_conv);
}

TEST(GeneratorBlock, SkipPathIsNearestUpsampledInput) {
  // With the main path's last conv zeroed the block is exactly NN-upsample(x) (identity skip).
  torch::manual_seed(34);
  GeneratorBlock b(GeneratorBlockOptions(3, 3, 2, 2).upsample_space(true).sn(kNoSn));
  {
    torch::NoGradGuard ng;
    b->conv2d_2->weight.zero_();
    b->conv2d_2->bias.zero_();
  }
  at::Tensor x = at::randn({1, 2, 3, 2, 2});
  at::Tensor out = b(x, at::randn({1, 2}));
  at::Tensor want = x.repeat_interleave(2, 3).repeat_interleave(2, 4);
  EXPECT_LT(RelDiff(out, want), 1e-6);
}

TEST(DiscriminatorBlock, Shapes2dAnd3d) {
  torch::manual_seed(35);
  DiscriminatorBlock d2(DiscriminatorBlockOptions(3, 8).downsample(true).preactivation(false));
  EXPECT_EQ(d2(at::randn({4, 3, 8, 8})).sizes(), at::IntArrayRef({4, 8, 4, 4}));
  DiscriminatorBlock d3(DiscriminatorBlockOptions(3, 8).three_d(true).downsample(true));
  EXPECT_EQ(d3(at::randn({2, 3, 6, 8, 8})).sizes(), at::IntArrayRef({2, 8, 6, 4, 4}));
  DiscriminatorBlock d3t(
      DiscriminatorBlockOptions(3, 8).three_d(true).downsample(true).downsample_time(true));
  EXPECT_EQ(d3t(at::randn({2, 3, 6, 8, 8})).sizes(), at::IntArrayRef({2, 8, 3, 4, 4}));
  DiscriminatorBlock keep(DiscriminatorBlockOptions(8, 8));
  EXPECT_FALSE(keep->skip2d) << "no downsampling and same width: identity skip";
  at::Tensor x = at::randn({2, 8, 4, 4});
  keep->eval();
  // Identity skip: out = x + conv2(relu(conv1(relu(x)))).
  at::Tensor want = x + keep->conv2d_2(at::relu(keep->conv2d_1(at::relu(x))));
  EXPECT_LT(RelDiff(keep(x), want), 1e-6);
}

}  // namespace
}  // namespace fc::nn
