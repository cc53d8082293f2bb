// Fréchet distance: closed forms, and agreement with numpy/scipy (scipy.linalg.sqrtm).
#include "eval/frechet.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "eval/eval_testing.h"

namespace fc::eval {
namespace {

TEST(Frechet, OneDimensionalClosedForm) {
  // N(0, 1) vs N(1, 4): 1 + 1 + 4 - 2 * sqrt(4) = 2.
  GaussianStats a{at::zeros({1}, at::kDouble), at::ones({1, 1}, at::kDouble), 10};
  GaussianStats b{at::ones({1}, at::kDouble), at::full({1, 1}, 4.0, at::kDouble), 10};
  auto fd = FrechetDistance(a, b);
  ASSERT_TRUE(fd.ok());
  EXPECT_NEAR(fd.value(), 2.0, 1e-12);
}

TEST(Frechet, SameSetIsZeroEvenRankDeficient) {
  at::manual_seed(8);
  at::Tensor f = at::randn({5, 12}, at::kDouble);  // N < D
  auto fd = FrechetDistance(f, f);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_NEAR(fd.value(), 0.0, 1e-9);
  auto shifted = FrechetDistance(f, f + 0.5);
  ASSERT_TRUE(shifted.ok());
  EXPECT_NEAR(shifted.value(), 12 * 0.25, 1e-9);  // only the mean term changes
  EXPECT_FALSE(FrechetDistance(f, at::randn({5, 11}, at::kDouble)).ok());
  EXPECT_FALSE(FrechetDistance(f.slice(0, 0, 1), f).ok());
}

TEST(Frechet, MatchesScipy) {
  at::manual_seed(9);
  const int64_t d = 8;
  at::Tensor mix = at::randn({d, d}, at::kDouble);
  at::Tensor a = at::randn({300, d}, at::kDouble);
  at::Tensor b = at::matmul(at::randn({250, d}, at::kDouble), mix) * 0.7 + 0.3;
  const std::string dir = testing::MakeTempDir();
  ASSERT_FALSE(dir.empty());
  auto dump = [&](const std::string& path, const at::Tensor& t) {
    FILE* f = std::fopen(path.c_str(), "w");
    auto acc = t.accessor<double, 2>();
    for (int64_t i = 0; i < t.size(0); ++i) {
      for (int64_t j = 0; j < t.size(1); ++j) std::fprintf(f, "%.17g ", acc[i][j]);
      std::fprintf(f, "\n");
    }
    std::fclose(f);
  };
  dump(dir + "/a.txt", a);
  dump(dir + "/b.txt", b);
  const std::string script = R"PY(
import sys
import numpy as np
from scipy import linalg
a = np.loadtxt(sys.argv[1]); b = np.loadtxt(sys.argv[2])
mu1, mu2 = a.mean(0), b.mean(0)
s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
covmean = covmean.real
print(repr(float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))))
)PY";
  int rc = 0;
  std::string out = testing::RunPython(dir, "fd", script, dir + "/a.txt " + dir + "/b.txt", &rc);
  ASSERT_EQ(rc, 0) << out;
  const double expected = std::stod(out.substr(out.rfind('\n', out.size() - 2) + 1));
  auto fd = FrechetDistance(a, b);
  ASSERT_TRUE(fd.ok());
  EXPECT_GT(expected, 1.0);
  EXPECT_NEAR(fd.value(), expected, 1e-6 * expected);
}

}  // namespace
}  // namespace fc::eval
