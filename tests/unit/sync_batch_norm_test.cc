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
