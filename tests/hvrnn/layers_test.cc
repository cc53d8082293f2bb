// HVRNN layers against hand-written references: ConvLSTM step, GroupNorm on 1x1 maps, ResBlock
// shapes and skips, UpConv, analytic KL against closed forms and a Monte Carlo estimate.
#include "models/hvrnn/layers.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "hvrnn/hvrnn_testing.h"

namespace fc::models::hvrnn {
namespace {

using testing::MaxAbsDiff;

// GroupNorm by hand: normalise each (sample, group) over its channels and space, then affine.
at::Tensor GroupNormRef(const at::Tensor& x, int64_t groups, const at::Tensor& w,
                        const at::Tensor& b, double eps = 1e-5) {
  const int64_t B = x.size(0), C = x.size(1);
  auto v = x.reshape({B, groups, -1});
  auto mean = v.mean(2, true);
  auto var = (v - mean).pow(2).mean(2, true);
  auto y = ((v - mean) / at::sqrt(var + eps)).reshape(x.sizes());
  return y * w.view({1, C, 1, 1}) + b.view({1, C, 1, 1});
}

TEST(HvrnnLayers, ConvLstmOneStepMatchesReference) {
  at::manual_seed(1);
  for (int64_t k : {3, 1, 4}) {
    ConvLstmCell cell(5, 8, k, 4);
    cell->to(at::kDouble);
    auto opts = at::TensorOptions().dtype(at::kDouble);
    const int64_t s = k == 4 ? 1 : 6;
    auto x = at::randn({2, 5, s, s}, opts), h = at::randn({2, 8, s, s}, opts),
         c = at::randn({2, 8, s, s}, opts);
    // Perturb the GroupNorm affine so it matters.
    {
      at::NoGradGuard ng;
      cell->norm->weight.uniform_(0.5, 1.5);
      cell->norm->bias.uniform_(-0.5, 0.5);
    }
    auto [h2, c2] = cell(x, h, c);
    // Reference: explicit padding, conv, GroupNorm, gates i, f, o, g.
    auto in = at::cat({x, h}, 1);
    const int64_t lo = (k - 1) / 2, hi = k / 2;
    in = at::constant_pad_nd(in, {lo, hi, lo, hi}, 0);
    auto gates = at::conv2d(in, cell->conv->weight, cell->conv->bias);
    gates = GroupNormRef(gates, 4, cell->norm->weight, cell->norm->bias);
    auto i = at::sigmoid(gates.narrow(1, 0, 8)), f = at::sigmoid(gates.narrow(1, 8, 8)),
         o = at::sigmoid(gates.narrow(1, 16, 8)), g = at::tanh(gates.narrow(1, 24, 8));
    auto c_ref = f * c + i * g;
    auto h_ref = o * at::tanh(c_ref);
    EXPECT_EQ(h2.sizes(), h.sizes());
    EXPECT_LT(MaxAbsDiff(c2, c_ref), 1e-10) << "kernel " << k;
    EXPECT_LT(MaxAbsDiff(h2, h_ref), 1e-10) << "kernel " << k;
    EXPECT_EQ(cell->conv->weight.sizes(), (at::IntArrayRef{32, 13, k, k}));
  }
}

TEST(HvrnnLayers, ConvLstmAt1x1IsFullyConnected) {
  // A 3x3 ConvLSTM on a 1x1 map uses only the centre tap: equal to a 1x1 cell with that tap.
  at::manual_seed(2);
  ConvLstmCell k3(6, 8, 3, 4), k1(6, 8, 1, 4);
  {
    at::NoGradGuard ng;
    k1->conv->weight.copy_(k3->conv->weight.narrow(2, 1, 1).narrow(3, 1, 1));
    k1->conv->bias.copy_(k3->conv->bias);
  }
  auto x = at::randn({3, 6, 1, 1}), h = at::randn({3, 8, 1, 1}), c = at::randn({3, 8, 1, 1});
  auto a = k3(x, h, c), b = k1(x, h, c);
  EXPECT_LT(MaxAbsDiff(a.first, b.first), 1e-6);
  EXPECT_LT(MaxAbsDiff(a.second, b.second), 1e-6);
}

TEST(HvrnnLayers, GroupNormOn1x1MapsNormalisesOverChannelGroups) {
  // Spec §7.1: GroupNorm on [B, C, 1, 1] normalises over the channels of each group only, per
  // sample, and is finite and batch-independent.
  at::manual_seed(3);
  torch::nn::GroupNorm gn(torch::nn::GroupNormOptions(4, 16));
  {
    at::NoGradGuard ng;
    gn->weight.uniform_(0.5, 2);
    gn->bias.uniform_(-1, 1);
  }
  auto x = at::randn({5, 16, 1, 1}) * 3 + 1;
  auto y = gn(x);
  EXPECT_TRUE(at::isfinite(y).all().item<bool>());
  EXPECT_LT(MaxAbsDiff(y, GroupNormRef(x, 4, gn->weight, gn->bias)), 1e-5);
  // Per-sample: the first sample alone gives the same output.
  EXPECT_LT(MaxAbsDiff(gn(x.narrow(0, 0, 1)), y.narrow(0, 0, 1)), 1e-6);
  // Without affine, every group of every sample has mean 0 and variance ~1.
  auto z = ((y - gn->bias.view({1, 16, 1, 1})) / gn->weight.view({1, 16, 1, 1})).view({5, 4, 4});
  EXPECT_LT(z.mean(2).abs().max().item<double>(), 1e-5);
  EXPECT_LT((z.var(2, /*unbiased=*/false) - 1).abs().max().item<double>(), 1e-3);
  // The latent head at 1x1 (GN on [mu, s]) and the FC-LSTM at 1x1 are finite as well.
  LatentNet net(12, 8, 4, 1, 4, true, 1e-4);
  auto out = net(at::randn({2, 12, 1, 1}), at::zeros({2, 8, 1, 1}), at::zeros({2, 8, 1, 1}));
  EXPECT_EQ(out.mu.sizes(), (at::IntArrayRef{2, 4, 1, 1}));
  EXPECT_TRUE(at::isfinite(out.mu).all().item<bool>());
  EXPECT_GE(out.sigma.min().item<double>(), 1e-4);
}

TEST(HvrnnLayers, ResBlockShapesAndSkips) {
  at::manual_seed(4);
  ResBlock same(8, 8, 4), wider(8, 16, 4), k4(16, 16, 4, 4);
  EXPECT_FALSE(same->skip);
  ASSERT_TRUE(wider->skip);
  EXPECT_EQ(wider->skip->weight.sizes(), (at::IntArrayRef{16, 8, 1, 1}));
  ASSERT_TRUE(k4->skip);
  EXPECT_EQ(k4->skip->weight.sizes(), (at::IntArrayRef{16, 16, 4, 4}));
  auto x = at::randn({2, 8, 8, 8});
  EXPECT_EQ(same(x).sizes(), x.sizes());
  EXPECT_EQ(wider(x).sizes(), (at::IntArrayRef{2, 16, 8, 8}));
  EXPECT_EQ(k4(at::randn({2, 16, 4, 4})).sizes(), (at::IntArrayRef{2, 16, 1, 1}));
  // y = x + GN(Conv(ReLU(GN(Conv(ReLU(x)))))) for the identity skip.
  auto ref = x + same->norm2(same->conv2(at::relu(same->norm1(same->conv1(at::relu(x))))));
  EXPECT_LT(MaxAbsDiff(same(x), ref), 1e-6);
}

TEST(HvrnnLayers, UpConvAndInitNetShapes) {
  UpConv from1(8, 16, 4, true), up(16, 8, 4, false);
  auto a = from1(at::randn({2, 8, 1, 1}));
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{2, 16, 4, 4}));
  EXPECT_EQ(up(a).sizes(), (at::IntArrayRef{2, 8, 8, 8}));
  EXPECT_GE(up(a).min().item<double>(), 0.0);  // ReLU output
  InitNet init(8, 12, 4);
  auto [h0, c0] = init(at::randn({3, 8, 4, 4}));
  EXPECT_EQ(h0.sizes(), (at::IntArrayRef{3, 12, 4, 4}));
  EXPECT_EQ(c0.sizes(), (at::IntArrayRef{3, 12, 4, 4}));
}

TEST(HvrnnLayers, GaussianKlClosedForms) {
  auto t = [](double v) { return at::full({1}, v, at::kDouble); };
  EXPECT_NEAR(GaussianKl(t(0), t(1), t(0), t(1)).item<double>(), 0.0, 1e-15);
  EXPECT_NEAR(GaussianKl(t(1), t(1), t(0), t(1)).item<double>(), 0.5, 1e-15);
  const double s = 0.3;
  EXPECT_NEAR(GaussianKl(t(0), t(s), t(0), t(1)).item<double>(), -std::log(s) + s * s / 2 - 0.5,
              1e-14);
  // General: KL(N(m1,s1)||N(m2,s2)) = log(s2/s1) + (s1^2 + (m1-m2)^2) / (2 s2^2) - 1/2.
  const double m1 = 0.7, s1 = 1.3, m2 = -0.4, s2 = 0.8;
  EXPECT_NEAR(GaussianKl(t(m1), t(s1), t(m2), t(s2)).item<double>(),
              std::log(s2 / s1) + (s1 * s1 + (m1 - m2) * (m1 - m2)) / (2 * s2 * s2) - 0.5, 1e-14);
}

TEST(HvrnnLayers, GaussianKlMatchesMonteCarlo) {
  at::manual_seed(5);
  auto opts = at::TensorOptions().dtype(at::kDouble);
  auto mq = at::randn({4}, opts), sq = at::rand({4}, opts) + 0.5;
  auto mp = at::randn({4}, opts), sp = at::rand({4}, opts) + 0.5;
  const int64_t n = 400000;
  auto z = mq + sq * at::randn({n, 4}, opts);
  auto log_n = [](const at::Tensor& z, const at::Tensor& m, const at::Tensor& s) {
    return -at::log(s) - 0.5 * ((z - m) / s).pow(2);
  };
  auto mc = (log_n(z, mq, sq) - log_n(z, mp, sp)).mean(0);
  auto kl = GaussianKl(mq, sq, mp, sp);
  // Standard error of the estimate is well under 0.01 for these parameters.
  EXPECT_LT(MaxAbsDiff(mc, kl), 0.02) << mc << kl;
}

}  // namespace
}  // namespace fc::models::hvrnn
