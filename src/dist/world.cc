#include "dist/world.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "util/env.h"
#include "util/logging.h"

#ifdef FRAMECAST_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace fc::dist {
namespace {

std::string MpiError(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, len);
}

}  // namespace

Result<std::unique_ptr<World>> World::Init(int* argc, char*** argv, const WorldOptions& options) {
  std::unique_ptr<World> w(new World());
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) return Status::Internal("MPI_Init_thread failed: " + MpiError(rc));
    w->owns_mpi_ = true;
    if (provided < MPI_THREAD_MULTIPLE) {
      // Collectives run on communicator threads while the main thread may call MPI too.
      return Status::Unavailable(
          "the MPI library does not provide MPI_THREAD_MULTIPLE (got level " +
          std::to_string(provided) + "); build Open MPI with thread support");
    }
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &w->comm_);
  Status local = w->Discover(options);
  if (local.ok()) local = w->BindDevice(options);
  // Test hook: make one rank fail initialisation, to prove all ranks stop with its name.
  if (local.ok() && EnvInt("FRAMECAST_FAULT_INIT_RANK", -1) == w->rank_) {
    local = Status::Internal("injected fault (FRAMECAST_FAULT_INIT_RANK)");
  }
  SetLogIdentity(w->rank_, w->size_, w->host_);
  FC_RETURN_IF_ERROR(w->AgreeOnStatus(local, "failed to initialise"));
  return w;
}

Status World::Discover(const WorldOptions& options) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  host_ = host;

  MPI_Comm local;
  MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
  int leader = local_rank_ == 0 ? 1 : 0;
  MPI_Allreduce(&leader, &node_count_, 1, MPI_INT, MPI_SUM, comm_);

  // Which launcher started us, and does its view agree with MPI's?
  const int slurm_rank = static_cast<int>(EnvInt("SLURM_PROCID", -1));
  const int slurm_tasks = static_cast<int>(EnvInt("SLURM_NTASKS", -1));
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
    launcher_ = "mpirun";
  } else if (slurm_rank >= 0 && std::getenv("SLURM_STEP_ID") != nullptr) {
    launcher_ = "srun";
    if (slurm_tasks > 1 && size_ == 1) {
      return Status::InvalidArgument(
          "srun started " + std::to_string(slurm_tasks) +
          " tasks but MPI sees a world of 1: launch with `srun --mpi=pmix` (or pmi2) so Open MPI "
          "wires the tasks together");
    }
    if (slurm_rank != rank_) {
      return Status::InvalidArgument("SLURM_PROCID=" + std::to_string(slurm_rank) +
                                     " but MPI rank is " + std::to_string(rank_));
    }
  } else {
    launcher_ = size_ == 1 ? "singleton" : "mpirun";
  }
  if (size_ == 1) {
    // Launchers framecast does not speak (torchrun, accelerate, deepspeed: WORLD_SIZE/RANK; MPICH
    // hydra, Intel MPI: PMI_SIZE/PMI_RANK; MVAPICH) start independent one-rank runs that would
    // share a run directory. Refuse them.
    for (const char* var : {"WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE"}) {
      const int64_t n = EnvInt(var, -1);
      if (n > 1) {
        return Status::InvalidArgument(
            std::string(var) + "=" + std::to_string(n) +
            " says this is one of several ranks, but MPI sees a world of 1: framecast's ranks are "
            "MPI processes; launch with `mpirun -np N framecast ...`, `srun --mpi=pmix "
            "framecast ...` or launch/run.sh -np N");
      }
    }
    for (const char* var : {"RANK", "LOCAL_RANK", "PMI_RANK", "PMIX_RANK"}) {
      const int64_t r = EnvInt(var, -1);
      if (r > 0) {
        return Status::InvalidArgument(
            std::string(var) + "=" + std::to_string(r) +
            " but MPI sees a world of 1 (rank 0): framecast's ranks are MPI processes; launch "
            "with `mpirun -np N framecast ...`, `srun --mpi=pmix framecast ...` or launch/run.sh "
            "-np N");
      }
    }
  }
  return Status::Ok();
}

Status World::BindDevice(const WorldOptions& options) {
  device_kind_ = options.device;
#ifdef FRAMECAST_WITH_CUDA
  visible_gpus_ = static_cast<int>(c10::cuda::device_count());
#endif
  if (options.device == DeviceKind::kCpu) return Status::Ok();
  if (visible_gpus_ == 0) {
#ifdef FRAMECAST_WITH_CUDA
    return Status::Unavailable("a CUDA device was requested but no GPU is visible to this rank");
#else
    return Status::Unavailable("a CUDA device was requested but framecast was built without CUDA");
#endif
  }
#ifdef FRAMECAST_WITH_CUDA
  device_index_ = local_rank_ % visible_gpus_;
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index_));
#endif
  return Status::Ok();
}

World::~World() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_mpi_ && !finalized) MPI_Finalize();
}

std::string World::Describe() const {
  std::string dev =
      device_kind_ == DeviceKind::kCpu ? "cpu" : "cuda:" + std::to_string(device_index_);
  return "rank " + std::to_string(rank_) + "/" + std::to_string(size_) + " host=" + host_ +
         " local " + std::to_string(local_rank_) + "/" + std::to_string(local_size_) +
         " nodes=" + std::to_string(node_count_) + " launcher=" + launcher_ + " device=" + dev;
}

Status World::AgreeOnStatus(const Status& local, const std::string& what) const {
  constexpr int kMsg = 512;
  std::vector<char> mine(kMsg, 0);
  mine[0] = local.ok() ? 1 : 0;
  std::string text = local.ok() ? "" : (host_ + "\t" + local.ToString());
  std::strncpy(mine.data() + 1, text.c_str(), kMsg - 2);
  std::vector<char> all(static_cast<size_t>(kMsg) * size_, 0);
  int rc = MPI_Allgather(mine.data(), kMsg, MPI_CHAR, all.data(), kMsg, MPI_CHAR, comm_);
  if (rc != MPI_SUCCESS)
    return Status::Internal("MPI_Allgather (status agreement): " + MpiError(rc));
  std::string failures;
  for (int r = 0; r < size_; ++r) {
    const char* row = all.data() + static_cast<size_t>(r) * kMsg;
    if (row[0] == 1) continue;
    std::string body(row + 1);
    auto tab = body.find('\t');
    std::string h = tab == std::string::npos ? "?" : body.substr(0, tab);
    std::string m = tab == std::string::npos ? body : body.substr(tab + 1);
    if (!failures.empty()) failures += "; ";
    failures += "rank " + std::to_string(r) + " (host " + h + ") " + what + ": " + m;
  }
  if (failures.empty()) return Status::Ok();
  return Status::Aborted(failures);
}

std::vector<std::string> World::GatherToRoot(const std::string& mine) const {
  constexpr int kMax = 4096;
  std::string padded = mine.substr(0, kMax);
  const int n = static_cast<int>(padded.size());
  padded.resize(kMax, '\0');
  std::vector<int> lengths(rank_ == 0 ? size_ : 0);
  MPI_Gather(&n, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm_);
  std::vector<char> all(rank_ == 0 ? static_cast<size_t>(size_) * kMax : 0);
  MPI_Gather(padded.data(), kMax, MPI_CHAR, all.data(), kMax, MPI_CHAR, 0, comm_);
  std::vector<std::string> out;
  for (int r = 0; r < static_cast<int>(lengths.size()); ++r)
    out.emplace_back(all.data() + static_cast<size_t>(r) * kMax, static_cast<size_t>(lengths[r]));
  return out;
}

std::string MpiLibraryVersion() {
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int n = 0;
  MPI_Get_library_version(mpi, &n);
  std::string v(mpi, static_cast<size_t>(std::max(0, n)));
  return v.substr(0, v.find_first_of(",\n"));
}

}  // namespace fc::dist
