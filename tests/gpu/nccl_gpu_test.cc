// GPU tests (label `gpu`): the NCCL backend on CUDA tensors, the host-staged MPI path on CUDA
// tensors, SyncBatchNorm on CUDA against the CPU reference, GradientSync over NCCL against
// single-process training on the GPU. One rank per GPU (mpirun -np <GPUs>, or a single process).
// Skipped, with the reason, when no CUDA device is visible.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "common/checks.h"
#include "common/mpi_env.h"
#include "dist/communicator.h"

namespace fc::testing {
namespace {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (g_world->device_kind() != dist::DeviceKind::kCuda) {
      GTEST_SKIP() << "no CUDA device visible (or a CPU-only build): GPU test skipped";
    }
    if (g_world->gpu_shared())
      GTEST_SKIP() << "more local ranks than GPUs: NCCL needs one GPU per rank";
    // Exact comparisons: no TF32 in convolutions or matmuls.
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  at::Device device() const { return at::Device(at::kCUDA, g_world->device_index()); }
  std::unique_ptr<dist::Communicator> Make(dist::Backend b) {
    auto c = dist::MakeCommunicator(*g_world, b);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
};

TEST_F(Gpu, NcclCollectivesExact) {
  auto c = Make(dist::Backend::kNccl);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->backend(), dist::Backend::kNccl);
  for (at::ScalarType dt : {at::kFloat, at::kDouble, at::kBFloat16}) {
    for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{12345}, int64_t{3} << 20}) {
      CheckCollectivesExact(c.get(), count, dt, device());
    }
  }
}

TEST_F(Gpu, HostStagedMpiCollectivesExact) {
  auto c = Make(dist::Backend::kMpi);
  ASSERT_TRUE(c);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{12345}, int64_t{1} << 20}) {
      CheckCollectivesExact(c.get(), count, dt, device());
    }
  }
}

TEST_F(Gpu, SyncBatchNormMatchesCpuReference) {
  auto c = Make(dist::Backend::kNccl);
  ASSERT_TRUE(c);
  std::vector<int64_t> split;
  for (int r = 0; r < c->size(); ++r) split.push_back(r + 2);
  CheckSyncBatchNormMatchesBatchNorm(c.get(), split, 0, device(), 1e-4);
  CheckSyncBatchNormMatchesBatchNorm(c.get(), split, 3, device(), 1e-4);
}

TEST_F(Gpu, GradientSyncOverNcclMatchesSingleProcess) {
  auto c = Make(dist::Backend::kNccl);
  ASSERT_TRUE(c);
  CheckTrainingMatchesSingleProcess(c.get(), /*steps=*/10, /*b=*/4, /*accumulation=*/2, 1e-4,
                                    device());
}

}  // namespace
}  // namespace fc::testing
