// Checks shared by the in-process (fake backend) unit tests and the mpirun multi-rank tests: each
// takes this rank's communicator and asserts with gtest. Every check is a collective.
#pragma once

#include "dist/communicator.h"

namespace fc::testing {

// All-reduce (sum, avg), broadcast and all-gather of `count` elements of `dtype` with inputs whose
// results are exact; asserts every element on every rank.
void CheckCollectivesExact(dist::Communicator* comm, int64_t count, at::ScalarType dtype,
                           at::Device device = at::kCPU);

// Trains the demo net `steps` steps data-parallel (per-rank batch b, `accumulation` micro-batches
// with NoSync) and a single-process reference on the concatenated batch; asserts parameters and
// batch-norm buffers agree within `rel_tol` (norm-wise relative) and are bitwise identical on
// every rank.
void CheckTrainingMatchesSingleProcess(dist::Communicator* comm, int64_t steps, int64_t b,
                                       int64_t accumulation, double rel_tol,
                                       at::Device device = at::kCPU,
                                       at::ScalarType dtype = at::kFloat);

// SyncBatchNorm on this rank's slice of a global batch split as `split` (one count per rank, zeros
// allowed) equals single-process batch norm on the whole batch: output, input gradient, summed
// weight/bias gradients and running statistics. `time_steps` > 0 tests the per-time-step variant.
void CheckSyncBatchNormMatchesBatchNorm(dist::Communicator* comm, const std::vector<int64_t>& split,
                                        int64_t time_steps, at::Device device = at::kCPU,
                                        double rel_tol = 1e-5);

}  // namespace fc::testing
