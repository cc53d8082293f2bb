// Standing statistics: cumulative averages over K passes, re-dimensioning for a new length, and
// spectral-norm state left untouched while accumulating.
#include "nn/standing_stats.h"

#include <gtest/gtest.h>

#include "common/ranks.h"
#include "nn/conditional_batch_norm.h"
#include "nn/generator_block.h"

namespace fc::nn {
namespace {

using testing::RelDiff;

TEST(StandingStats, CumulativeAverageOfPerPassStatistics) {
  torch::manual_seed(21);
  const int64_t T = 3, C = 2, D = 4;
  ConditionalBatchNorm m(ConditionalBatchNormOptions(C, D, T));
  m->to(at::kDouble);
  m->train();
  m(at::randn({4, T, C, 2, 2}, at::kDouble), at::randn({4, D}, at::kDouble));  // momentum stats
  const at::Tensor u_gain = m->gain->sn.u.clone();
  std::vector<at::Tensor> inputs;
  for (int k = 0; k < 5; ++k)
    inputs.push_back(at::randn({3, T, C, 2, 2}, at::kDouble) * (k + 1) + k);
  int pass = 0;
  const int n = AccumulateStandingStats(*m, 5, [&] {
    m(inputs[pass++], at::randn({3, D}, at::kDouble));
  });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(pass, 5);
  at::Tensor mean = at::zeros({T * C}, at::kDouble), var = at::zeros({T * C}, at::kDouble);
  for (const auto& x : inputs) {
    at::Tensor v = x.reshape({3, T * C, 4});
    mean += v.mean(at::IntArrayRef{0, 2}) / 5;
    var += v.permute({1, 0, 2}).reshape({T * C, 12}).var(1, /*unbiased=*/true) / 5;
  }
  EXPECT_LT(RelDiff(m->bn->running_mean, mean), 1e-12);
  EXPECT_LT(RelDiff(m->bn->running_var, var), 1e-12);
  EXPECT_FALSE(m->is_training());
  EXPECT_FALSE(m->bn->is_training());
  EXPECT_DOUBLE_EQ(m->bn->options.momentum(), 0.1);
  EXPECT_TRUE(at::equal(m->gain->sn.u, u_gain)) << "spectral-norm vectors must stay frozen";
}

TEST(StandingStats, SetTimeStepsRedimensionsAndResets) {
  torch::manual_seed(22);
  GeneratorBlock b(GeneratorBlockOptions(4, 4, 3, 2).upsample_time(true));
  b(at::randn({2, 2, 4, 4, 4}), at::randn({2, 3}));
  EXPECT_EQ(b->bn1->bn->running_mean.numel(), 2 * 4);
  EXPECT_EQ(b->bn2->bn->running_mean.numel(), 4 * 4);
  at::Tensor rm = b->bn1->bn->running_mean;  // same tensor object after resizing
  EXPECT_EQ(SetTimeSteps(*b, 4), 1);         // bn2 already at 4 steps
  EXPECT_EQ(rm.numel(), 4 * 4);
  EXPECT_EQ(rm.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(b->bn1->bn->running_var.sum().item<double>(), 16.0);
  EXPECT_EQ(SetTimeSteps(*b, 4), 0);
  // Runs at the new length (bn1: 4 steps, bn2 was already 4 -> now the block's output has 8).
  SetTimeSteps(*b->bn2, 8);
  at::Tensor y = b(at::randn({2, 4, 4, 4, 4}), at::randn({2, 3}));
  EXPECT_EQ(y.sizes(), at::IntArrayRef({2, 8, 4, 4, 4}));
  for (const auto& buf : b->named_buffers()) {
    if (buf.key().find("running") != std::string::npos) {
      EXPECT_EQ(buf.value().dim(), 1) << buf.key();
    }
  }
}

}  // namespace
}  // namespace fc::nn
