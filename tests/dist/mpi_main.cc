// gtest main for the multi-rank tests: one process per rank under mpirun. Every rank runs every
// test; output is printed by all ranks (a failure names its rank), and the exit code is non-zero
// on every rank if any rank failed, so mpirun reports the failure.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <torch/cuda.h>

#include "common/mpi_env.h"
#include "train/family.h"
#include "util/logging.h"

namespace fc::testing {
dist::World* g_world = nullptr;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  fc::train::InstallFamilyConfigHooks();  // config loading as the framecast executable does it
  fc::dist::WorldOptions options;
#ifdef FRAMECAST_TEST_CUDA_WORLD
  // The GPU test binary binds a GPU when one is visible and runs on CPU (tests skip) otherwise.
  if (torch::cuda::is_available()) options.device = fc::dist::DeviceKind::kCuda;
#endif
  auto world = fc::dist::World::Init(&argc, &argv, options);
  if (!world.ok()) {
    fc::LogError(world.status().ToString());
    return 1;
  }
  fc::testing::g_world = world.value().get();
  // Only rank 0 prints the gtest progress; failures print on the rank that failed.
  if (world.value()->rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int rc = RUN_ALL_TESTS();
  int any = rc;
  MPI_Allreduce(&rc, &any, 1, MPI_INT, MPI_MAX, world.value()->comm());
  if (any != 0 && rc == 0) fc::LogError("another rank failed a test");
  return any;
}
