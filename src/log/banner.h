// The start-up banner of a run (rank 0): versions, world layout, run, config digest, resume point.
//
//   framecast 0.1.0 | LibTorch 2.11.0 | CUDA 13.0 (driver 13.0) | NCCL 2.27.7 | MPI Open MPI v4.1.4
//   world: 2 rank(s) on 1 host(s), device cpu, backend mpi, launcher mpirun; hostA: ranks 0-1
//   run demo (demo) in checkpoints/demo: <trainer description>
//   config digest 3f2a...; 1 stage(s), 100 step(s): main 100
//   resume: fresh start | resume: step-00000050 (global step 50, stage main step 50)
#pragma once

#include <string>
#include <vector>

#include "dist/world.h"

namespace fc::log {

struct VersionInfo {
  std::string framecast, libtorch, cuda, nccl, mpi;  // cuda, nccl empty in a CPU-only build
};
// The versions of this build and of the libraries loaded (MPI_Get_library_version's first line,
// cudaRuntimeGetVersion / cudaDriverGetVersion, ncclGetVersion).
VersionInfo CurrentVersions();
std::string FormatVersions(const VersionInfo& v);

// One rank's place, as gathered for the banner.
struct RankPlace {
  std::string host;
  int device = -1;  // GPU index, -1 on CPU
};
// Collective over `world`: every rank's place, on rank 0 (empty elsewhere).
std::vector<RankPlace> GatherPlaces(const dist::World& world);
// "2 rank(s) on 1 host(s): hostA ranks 0-1 (GPUs 0,1)".
std::string FormatLayout(const std::vector<RankPlace>& places);

}  // namespace fc::log
