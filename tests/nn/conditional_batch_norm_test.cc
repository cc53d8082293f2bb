// Conditional batch norm: per-time-step statistics, and 2 / 3 in-process ranks (fake backend)
// against one process on the concatenated batch — outputs, input gradients and parameter
// gradients — in float64.
#include "nn/conditional_batch_norm.h"

#include <gtest/gtest.h>

#include "common/ranks.h"
#include "dist/sync_batch_norm.h"

namespace fc::nn {
namespace {

using testing::RelDiff;
using testing::RunRanks;

constexpr int64_t kT = 3, kC = 4, kD = 5, kH = 3, kW = 2;

ConditionalBatchNorm MakeCbn() {
  torch::manual_seed(11);
  ConditionalBatchNorm m(ConditionalBatchNormOptions(kC, kD, kT));
  m->to(at::kDouble);
  return m;
}

TEST(ConditionalBatchNorm, NormalisesEachTimeStepSeparately) {
  ConditionalBatchNorm m(
      ConditionalBatchNormOptions(kC, kD, kT).sn(SpectralNormOptions().enabled(false)));
  m->to(at::kDouble);
  {
    torch::NoGradGuard ng;
    m->gain->weight.zero_();
    m->bias->weight.zero_();
  }
  // Time steps with very different scales: each (t, c) must come out with mean 0, variance 1.
  at::Tensor x = at::randn({6, kT, kC, kH, kW}, at::kDouble) *
                     at::tensor({1.0, 10.0, 100.0}, at::kDouble).view({1, kT, 1, 1, 1}) +
                 at::tensor({-5.0, 0.0, 7.0}, at::kDouble).view({1, kT, 1, 1, 1});
  at::Tensor y = m(x, at::randn({6, kD}, at::kDouble));
  at::Tensor mean = y.mean(at::IntArrayRef{0, 3, 4}),
             var = y.var(at::IntArrayRef{0, 3, 4}, /*unbiased=*/false);
  EXPECT_LT(mean.abs().max().item<double>(), 1e-10);
  EXPECT_LT((var - 1).abs().max().item<double>(), 1e-3);  // eps = 1e-5
  EXPECT_EQ(m->bn->running_mean.numel(), kT * kC);
}

TEST(ConditionalBatchNorm, GainAndBiasComeFromTheCondition) {
  auto m = MakeCbn();
  m->eval();  // running stats (0, 1): BN is x / sqrt(1 + eps)
  at::Tensor x = at::randn({2, kT, kC, kH, kW}, at::kDouble);
  at::Tensor y = at::randn({2, kD}, at::kDouble);
  at::Tensor g = at::linear(y, m->gain->sn.Apply(m->gain->weight, false));
  at::Tensor b = at::linear(y, m->bias->sn.Apply(m->bias->weight, false));
  at::Tensor want =
      x / std::sqrt(1 + 1e-5) * (1 + g.view({2, 1, kC, 1, 1})) + b.view({2, 1, kC, 1, 1});
  EXPECT_LT(RelDiff(m(x, y), want), 1e-12);
}

void CheckRanksMatchSingleProcess(const std::vector<int64_t>& per_rank) {
  const int n = static_cast<int>(per_rank.size());
  int64_t total = 0;
  for (auto b : per_rank) total += b;
  torch::manual_seed(12);
  at::Tensor x = at::randn({total, kT, kC, kH, kW}, at::kDouble);
  at::Tensor y = at::randn({total, kD}, at::kDouble);
  at::Tensor w = at::randn({total, kT, kC, kH, kW}, at::kDouble);  // loss = sum(out * w)

  // Reference: one process, the whole batch.
  auto ref = MakeCbn();
  at::Tensor xr = x.clone().requires_grad_(true);
  at::Tensor out_ref = ref(xr, y);
  (out_ref * w).sum().backward();

  // Built here, one after the other: the ranks run on threads, and MakeCbn seeds torch's global
  // generator (same seed: same weights and u as the reference).
  std::vector<decltype(MakeCbn())> modules;
  for (int r = 0; r < n; ++r) modules.push_back(MakeCbn());
  RunRanks(n, [&](int rank, dist::Communicator* comm) {
    auto& m = modules[rank];
    EXPECT_EQ(dist::AttachSyncBatchNorm(*m, comm), 1);
    int64_t begin = 0;
    for (int r = 0; r < rank; ++r) begin += per_rank[r];
    const int64_t len = per_rank[rank];
    at::Tensor xl = x.narrow(0, begin, len).clone().requires_grad_(true);
    at::Tensor out = m(xl, y.narrow(0, begin, len));
    (out * w.narrow(0, begin, len)).sum().backward();
    EXPECT_LT(RelDiff(out, out_ref.narrow(0, begin, len)), 1e-12) << "rank " << rank;
    EXPECT_LT(RelDiff(xl.grad(), xr.grad().narrow(0, begin, len)), 1e-10) << "rank " << rank;
    // Parameter gradients are local contributions: their sum over ranks is the reference.
    for (auto* lin : {&m->gain, &m->bias}) {
      at::Tensor g = (*lin)->weight.grad().clone();
      ASSERT_TRUE(comm->AllReduce(g, dist::ReduceOp::kSum)->Wait().ok());
      at::Tensor want = (lin == &m->gain ? ref->gain : ref->bias)->weight.grad();
      EXPECT_LT(RelDiff(g, want), 1e-10) << "rank " << rank;
    }
    // Running statistics are the global ones on every rank.
    EXPECT_LT(RelDiff(m->bn->running_mean, ref->bn->running_mean), 1e-12);
    EXPECT_LT(RelDiff(m->bn->running_var, ref->bn->running_var), 1e-12);
  });
}

TEST(ConditionalBatchNorm, TwoRanksEqualConcatenatedBatch) { CheckRanksMatchSingleProcess({3, 2}); }

TEST(ConditionalBatchNorm, ThreeRanksEqualConcatenatedBatch) {
  CheckRanksMatchSingleProcess({2, 4, 3});
}

TEST(ConditionalBatchNorm, WrongTimeStepsIsAnError) {
  auto m = MakeCbn();
  EXPECT_THROW(m(at::randn({2, kT + 1, kC, kH, kW}, at::kDouble), at::randn({2, kD}, at::kDouble)),
               c10::Error);
}

}  // namespace
}  // namespace fc::nn
