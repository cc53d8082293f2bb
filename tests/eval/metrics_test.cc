// PSNR and SSIM: the conv2d path against plain loops, known values and the documented edge cases.
#include "eval/metrics.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace fc::eval {
namespace {

// Plain loop SSIM of one frame pair [C, H, W] (float64), the definition in metrics.h.
double SsimReference(const at::Tensor& x, const at::Tensor& y) {
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2), k = kSsimWindow;
  std::vector<double> g(k);
  double gs = 0;
  for (int64_t i = 0; i < k; ++i) {
    const double d = static_cast<double>(i) - (k - 1) / 2.0;
    g[i] = std::exp(-d * d / (2 * kSsimSigma * kSsimSigma));
    gs += g[i];
  }
  for (double& v : g) v /= gs;
  auto xa = x.accessor<double, 3>(), ya = y.accessor<double, 3>();
  const double c1 = kSsimK1 * kSsimK1, c2 = kSsimK2 * kSsimK2;
  double total = 0;
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t i = 0; i + k <= h; ++i) {
      for (int64_t j = 0; j + k <= w; ++j) {
        double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
        for (int64_t u = 0; u < k; ++u) {
          for (int64_t v = 0; v < k; ++v) {
            const double wt = g[u] * g[v];
            const double a = std::min(1.0, std::max(0.0, xa[ch][i + u][j + v])),
                         b = ya[ch][i + u][j + v];
            mx += wt * a;
            my += wt * b;
            sxx += wt * a * a;
            syy += wt * b * b;
            sxy += wt * a * b;
          }
        }
        const double vx = sxx - mx * mx, vy = syy - my * my, cov = sxy - mx * my;
        sum += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      }
    }
    total += sum / static_cast<double>((h - k + 1) * (w - k + 1));
  }
  return total / static_cast<double>(c);
}

double PsnrReference(const at::Tensor& x, const at::Tensor& y) {
  at::Tensor xc = x.to(at::kDouble).clamp(0, 1);
  const double mse = (xc - y.to(at::kDouble)).pow(2).mean().item<double>();
  return mse == 0 ? kPsnrCapDb : std::min(kPsnrCapDb, 10 * std::log10(1 / mse));
}

TEST(Metrics, SsimFastMatchesLoopReference) {
  at::manual_seed(1);
  at::Tensor target = at::rand({2, 3, 3, 16, 19}, at::kDouble);
  at::Tensor pred = (target + 0.15 * at::randn_like(target)).clamp(-0.1, 1.1);  // some clamping
  auto fast = Ssim(pred, target);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_EQ(fast.value().sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(fast.value().scalar_type(), at::kDouble);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t t = 0; t < 3; ++t) {
      const double ref = SsimReference(pred[b][t], target[b][t]);
      EXPECT_NEAR(fast.value()[b][t].item<double>(), ref, 1e-12) << b << "," << t;
      EXPECT_LT(ref, 0.99);
    }
  }
}

TEST(Metrics, PsnrFastMatchesReferenceAndFloat32Inputs) {
  at::manual_seed(2);
  at::Tensor target = at::rand({3, 2, 1, 12, 12});
  at::Tensor pred = target + 0.1 * at::randn_like(target);
  auto fast = Psnr(pred, target);
  ASSERT_TRUE(fast.ok());
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t t = 0; t < 2; ++t)
      EXPECT_NEAR(fast.value()[b][t].item<double>(), PsnrReference(pred[b][t], target[b][t]), 1e-9);
}

TEST(Metrics, KnownValues) {
  // Constant offset 0.1: MSE 0.01 -> 20 dB.
  at::Tensor target = at::full({1, 2, 3, 11, 11}, 0.5, at::kDouble);
  auto p = Psnr(target + 0.1, target);
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(p.value()[0][0].item<double>(), 20.0, 1e-9);
  // Constant frames a, b: SSIM = (2ab + C1) / (a^2 + b^2 + C1) (the structure term is C2 / C2).
  const double a = 0.2, b = 0.6, c1 = 1e-4;
  auto s = Ssim(at::full({1, 1, 1, 13, 11}, a, at::kDouble),
                at::full({1, 1, 1, 13, 11}, b, at::kDouble));
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s.value()[0][0].item<double>(), (2 * a * b + c1) / (a * a + b * b + c1), 1e-12);
}

TEST(Metrics, IdenticalFramesCapPsnrAndGiveSsimOne) {
  at::manual_seed(3);
  at::Tensor x = at::rand({2, 2, 3, 16, 16});
  auto p = Psnr(x, x);
  auto s = Ssim(x, x);
  ASSERT_TRUE(p.ok() && s.ok());
  EXPECT_TRUE(at::equal(p.value(), at::full({2, 2}, kPsnrCapDb, at::kDouble)));
  EXPECT_NEAR((s.value() - 1.0).abs().max().item<double>(), 0.0, 1e-12);
  // Predictions above 1 are clamped: 1.5 against 1.0 is a perfect frame.
  at::Tensor ones = at::ones({1, 1, 1, 11, 11});
  EXPECT_EQ(Psnr(ones * 1.5, ones).value()[0][0].item<double>(), kPsnrCapDb);
  EXPECT_NEAR(Ssim(ones * 1.5, ones).value()[0][0].item<double>(), 1.0, 1e-12);
}

TEST(Metrics, RejectsBadShapes) {
  at::Tensor a = at::rand({1, 1, 1, 10, 16});
  auto s = Ssim(a, a);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("smaller than the 11x11 window"), std::string::npos);
  EXPECT_FALSE(Psnr(at::rand({1, 1, 12, 12}), at::rand({1, 1, 12, 12})).ok());
  EXPECT_FALSE(Psnr(at::rand({1, 1, 1, 12, 12}), at::rand({1, 2, 1, 12, 12})).ok());
}

}  // namespace
}  // namespace fc::eval
