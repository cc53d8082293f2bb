// Multi-rank tests under real mpirun (CTest runs this binary with -np 2 and -np 3): the MPI
// backend's collectives, data-parallel training equal to single-process training, SyncBatchNorm
// against batch norm on the concatenated batch, NoSync accumulation.
#include <gtest/gtest.h>

#include "common/checks.h"
#include "common/mpi_env.h"
#include "dist/communicator.h"

namespace fc::testing {
namespace {

class Dist : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = dist::MakeCommunicator(*g_world, dist::Backend::kMpi);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    comm_ = std::move(c).value();
  }
  std::unique_ptr<dist::Communicator> comm_;
};

TEST_F(Dist, WorldLayout) {
  EXPECT_EQ(comm_->size(), g_world->size());
  EXPECT_EQ(g_world->node_count(), 1);
  EXPECT_EQ(g_world->local_size(), g_world->size());
  EXPECT_EQ(g_world->local_rank(), g_world->rank());
  EXPECT_EQ(g_world->launcher(), "mpirun");
}

TEST_F(Dist, CollectivesExact) {
  // 0, 1, odd, and several MiB (3 Mi floats = 12 MiB), in the dtypes gradients use.
  for (at::ScalarType dt : {at::kFloat, at::kDouble, at::kBFloat16}) {
    for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{12345}, int64_t{3} << 20}) {
      CheckCollectivesExact(comm_.get(), count, dt);
    }
  }
}

TEST_F(Dist, NcclOnACpuWorldIsAClearError) {
  auto c = dist::MakeCommunicator(*g_world, dist::Backend::kNccl);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("backend nccl needs a CUDA device"), std::string::npos)
      << c.status().message();
}

TEST_F(Dist, AgreeOnStatusNamesTheFailedRank) {
  Status local = comm_->rank() == comm_->size() - 1 ? Status::Internal("boom") : Status::Ok();
  Status all = g_world->AgreeOnStatus(local, "failed a check");
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(all.code(), Status::Code::kAborted);
  EXPECT_NE(all.message().find("rank " + std::to_string(comm_->size() - 1)), std::string::npos)
      << all.message();
  EXPECT_NE(all.message().find("boom"), std::string::npos);
}

// Twenty steps in float64, tolerance 1e-9 (norm-wise relative, per tensor; stricter than the 1e-5
// asked for). Both sides run the same arithmetic except for summation order (per-rank partial sums
// of the weight gradients and batch-norm moments, then the cross-rank average): ~1e-16 relative per
// step, which 20 SGD steps with momentum grow to ~1e-13. Why not float32 for 20 steps: at ~1e-7 per
// step, a ReLU pre-activation that sits within rounding distance of zero eventually flips on one
// side only and the trajectories separate by ~1e-4 (seen on 3 ranks at step 15): a property of the
// net, not of the synchronisation. Float32 is still checked for a few steps at 1e-3 below (rounding
// differs between CPUs, so its margin is wide). A real bug (a missed bucket, an unsynchronised
// statistic, a wrong average) shows up at 1e-2 or more in either test.
TEST_F(Dist, TwentyStepsMatchSingleProcess) {
  CheckTrainingMatchesSingleProcess(comm_.get(), /*steps=*/20, /*b=*/4, /*accumulation=*/1, 1e-9,
                                    at::kCPU, at::kDouble);
}

TEST_F(Dist, Float32StepsMatchSingleProcess) {
  CheckTrainingMatchesSingleProcess(comm_.get(), /*steps=*/6, /*b=*/4, /*accumulation=*/1, 1e-3);
}

TEST_F(Dist, NoSyncAccumulationMatchesLargerBatch) {
  CheckTrainingMatchesSingleProcess(comm_.get(), /*steps=*/5, /*b=*/2, /*accumulation=*/4, 1e-9,
                                    at::kCPU, at::kDouble);
}

TEST_F(Dist, SyncBatchNormEven) {
  CheckSyncBatchNormMatchesBatchNorm(comm_.get(), std::vector<int64_t>(comm_->size(), 3), 0);
}

TEST_F(Dist, SyncBatchNormUnevenWithAnEmptyRank) {
  std::vector<int64_t> split;
  for (int r = 0; r < comm_->size(); ++r) split.push_back(r == 1 ? 0 : 2 * r + 1);
  CheckSyncBatchNormMatchesBatchNorm(comm_.get(), split, 0);
}

TEST_F(Dist, SyncBatchNormPerTimeStep) {
  std::vector<int64_t> split;
  for (int r = 0; r < comm_->size(); ++r) split.push_back(r + 1);
  CheckSyncBatchNormMatchesBatchNorm(comm_.get(), split, 3);
}

}  // namespace
}  // namespace fc::testing
