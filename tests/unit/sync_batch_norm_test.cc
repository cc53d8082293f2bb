// SyncBatchNorm on in-process ranks against LibTorch's batch norm on the concatenated batch.
#include "dist/sync_batch_norm.h"

#include <gtest/gtest.h>

#include "common/checks.h"
#include "common/ranks.h"
#include "dist/communicator_fake.h"

namespace fc::testing {
namespace {

TEST(SyncBatchNorm, EvenBatches) {
  RunRanks(2, [](int, dist::Communicator* c) { CheckSyncBatchNormMatchesBatchNorm(c, {4, 4}, 0); });
}

TEST(SyncBatchNorm, UnevenAndEmptyBatches) {
  RunRanks(3, [](int, dist::Communicator* c) {
    CheckSyncBatchNormMatchesBatchNorm(c, {3, 0, 5}, 0);
  });
}

TEST(SyncBatchNorm, PerTimeStepStatistics) {
  RunRanks(3, [](int, dist::Communicator* c) {
    CheckSyncBatchNormMatchesBatchNorm(c, {2, 3, 1}, 4);
  });
}

TEST(SyncBatchNorm, SingleProcessWithoutCommunicator) {
  // The same algorithm with no communicator is plain batch norm.
  dist::FakeHub hub(1);
  auto c = hub.Make(0);
  CheckSyncBatchNormMatchesBatchNorm(c.get(), {6}, 0);
  CheckSyncBatchNormMatchesBatchNorm(c.get(), {6}, 3);
}

TEST(SyncBatchNorm, EvalUsesRunningStatsAndNoCollective) {
  dist::FakeHub hub(1);
  auto c = hub.Make(0);
  dist::SyncBatchNorm bn(3);
  bn->set_communicator(c.get());
  bn->train();
  bn(at::randn({4, 3, 2, 2}));
  const size_t calls = hub.Calls(0).size();
  bn->eval();
  at::Tensor x = at::randn({2, 3, 2, 2});
  at::Tensor y = bn(x);
  EXPECT_EQ(hub.Calls(0).size(), calls) << "eval mode must not communicate";
  at::Tensor want = (x - bn->running_mean.view({1, 3, 1, 1})) /
                    (bn->running_var.view({1, 3, 1, 1}) + 1e-5).sqrt();
  EXPECT_TRUE(at::allclose(y, want, 1e-5, 1e-6));
}

TEST(SyncBatchNorm, WrongChannelCountIsAnError) {
  dist::SyncBatchNorm bn(3);
  EXPECT_THROW(bn(at::randn({2, 4, 2, 2})), c10::Error);
  dist::SyncBatchNorm bt(dist::SyncBatchNormOptions(3).time_steps(5));
  EXPECT_THROW(bt(at::randn({2, 4, 3, 2, 2})), c10::Error);
}

TEST(SyncBatchNorm, AttachFindsNestedLayers) {
  struct Inner : torch::nn::Module {
    Inner() { register_module("bn", dist::SyncBatchNorm(4)); }
  };
  torch::nn::Module outer;
  outer.register_module("bn", dist::SyncBatchNorm(3));
  outer.register_module("inner", std::make_shared<Inner>());
  dist::FakeHub hub(1);
  auto c = hub.Make(0);
  EXPECT_EQ(dist::AttachSyncBatchNorm(outer, c.get()), 2);
}

}  // namespace
}  // namespace fc::testing

namespace fc::testing {
namespace {

// 1d ([N, C] and [N, C, L]) and 3d ([N, C, D, H, W]) layouts through the synchronised path (a
// one-rank communicator) against LibTorch's batch norm: output, input and weight gradients.
TEST(SyncBatchNorm, OneAndThreeDimensionalLayouts) {
  dist::FakeHub hub(1);
  auto c = hub.Make(0);
  for (std::vector<int64_t> shape : {std::vector<int64_t>{6, 3}, std::vector<int64_t>{4, 3, 7},
                                     std::vector<int64_t>{2, 3, 4, 5, 3}}) {
    torch::manual_seed(3);
    at::Tensor x = at::randn(shape) * 3 + 2, g = at::randn(shape);
    dist::SyncBatchNorm bn(3);
    bn->set_communicator(c.get());
    at::Tensor xa = x.clone().requires_grad_(true);
    (bn(xa) * g).sum().backward();
    at::Tensor w = at::ones({3}).requires_grad_(true), b = at::zeros({3}).requires_grad_(true);
    at::Tensor rm = at::zeros({3}), rv = at::ones({3});
    at::Tensor xr = x.clone().requires_grad_(true);
    (at::batch_norm(xr, w, b, rm, rv, true, 0.1, 1e-5, false) * g).sum().backward();
    EXPECT_LE(RelDiff(xa.grad(), xr.grad()), 1e-5) << "shape dims " << shape.size();
    EXPECT_LE(RelDiff(bn->weight.grad(), w.grad()), 1e-5) << "shape dims " << shape.size();
    EXPECT_LE(RelDiff(bn->running_var, rv), 1e-5) << "shape dims " << shape.size();
  }
}

}  // namespace
}  // namespace fc::testing
