// World: this process's place in an MPI-launched data-parallel job.
//
// Init() calls MPI_Init_thread (MPI_THREAD_MULTIPLE; communicators run collectives on their own
// threads), finds rank/size, the node-local rank and size (MPI_Comm_split_type, shared memory), the
// node count and the launcher (Open MPI's mpirun, SLURM's srun, or a singleton), and binds this
// rank to a GPU by local rank when a CUDA device is requested.
//
// Initialisation is agreed by all ranks: every rank reports its local outcome through
// AgreeOnStatus(), so when any rank fails (no GPU for it, an inconsistent SLURM/MPI view, ...)
// every rank gets the same Aborted status naming each failed rank, host and reason, and exits
// non-zero instead of hanging in the first collective.
//
// Threading: construct and destroy on the main thread. Accessors are const and thread-safe.
// Ownership: one World per process; it finalises MPI on destruction if it initialised it.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::dist {

enum class DeviceKind { kCpu, kCuda };

struct WorldOptions {
  DeviceKind device = DeviceKind::kCpu;  // kCuda binds GPU (local_rank % visible GPUs)
};

class World {
 public:
  // Collective over MPI_COMM_WORLD. On failure of any rank, every rank gets a non-OK status.
  static Result<std::unique_ptr<World>> Init(int* argc, char*** argv, const WorldOptions& options);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int node_count() const { return node_count_; }
  const std::string& host() const { return host_; }
  const std::string& launcher() const { return launcher_; }  // "mpirun" | "srun" | "singleton"
  DeviceKind device_kind() const { return device_kind_; }
  int device_index() const { return device_index_; }  // -1 on CPU
  // GPUs visible to this process (0 without CUDA) and whether several local ranks share one.
  int visible_gpus() const { return visible_gpus_; }
  bool gpu_shared() const {
    return device_kind_ == DeviceKind::kCuda && local_size_ > visible_gpus_;
  }
  MPI_Comm comm() const { return comm_; }
  // One line: "rank 0/2 host=… local 0/2 nodes=1 launcher=mpirun device=cpu".
  std::string Describe() const;

  // Collective. Returns OK on every rank iff `local` is OK on every rank; otherwise every rank gets
  // Aborted("rank R (host H) <what>: <message>; ...") naming all failed ranks.
  Status AgreeOnStatus(const Status& local, const std::string& what) const;
  // Collective: every rank's `mine` (at most 4096 bytes), in rank order on rank 0; empty
  // elsewhere.
  std::vector<std::string> GatherToRoot(const std::string& mine) const;

 private:
  World() = default;
  Status Discover(const WorldOptions& options);
  Status BindDevice(const WorldOptions& options);

  bool owns_mpi_ = false;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, node_count_ = 1;
  std::string host_, launcher_;
  DeviceKind device_kind_ = DeviceKind::kCpu;
  int device_index_ = -1;
  int visible_gpus_ = 0;
};

// The MPI library's version line (MPI_Get_library_version, up to its first comma or newline).
std::string MpiLibraryVersion();

}  // namespace fc::dist
