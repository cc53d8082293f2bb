// Communicator: collectives on at::Tensor across the ranks of a data-parallel job.
//
// One interface, several backends (the caller never names one):
//   mpi   CPU tensors through MPI; CUDA tensors host-staged (device -> pinned host -> MPI ->
//   device)
//         for when NCCL cannot be used (e.g. several ranks share one GPU). Runs every collective on
//         the communicator's own thread, in call order, so calls return at once and overlap
//         compute.
//   nccl  CUDA tensors through NCCL on the communicator's own CUDA stream, ordered after the
//   caller's
//         current stream with an event; CPU tensors are delegated to an owned mpi communicator.
//   fake  in-process ranks (threads) for unit tests; see communicator_fake.h.
//
// Contract for every call:
//   - Collective: every rank of the communicator makes the same calls in the same order with
//     tensors of the same dtype and numel. Mismatches are undefined (MPI/NCCL would hang).
//   - In place: AllReduce and Broadcast overwrite `t`. REQUIRES: `t` is contiguous (or empty).
//   - Asynchronous: returns a Work at once. The tensor must stay alive and untouched until Wait().
//     Wait() on CPU blocks until the result is in `t`; on CUDA (nccl) it makes the caller's current
//     stream wait for the collective and returns without blocking the host.
//   - Errors: a failed backend call means the communicator's state is unknown; it is not reused
//     and the job exits so the launcher can requeue it (docs/runtime.md).
//   - Reductions are deterministic: all ranks receive bitwise identical results.
// Thread-safety: calls may come from any thread (autograd hooks run on autograd's threads) but the
// caller must keep the per-rank call order identical across ranks; calls are serialised internally.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

#include "util/status.h"

namespace fc::dist {

class World;

enum class ReduceOp { kSum, kAvg };
enum class Backend { kAuto, kMpi, kNccl, kFake };

const char* BackendName(Backend b);
Result<Backend> ParseBackend(const std::string& name);  // "auto" | "mpi" | "nccl"

// A pending collective.
class Work {
 public:
  virtual ~Work() = default;
  // See the contract above. Returns the collective's status (same on every rank unless the job
  // is failing).
  virtual Status Wait() = 0;
  // True once the result is ready (CPU) or the collective has been enqueued (CUDA).
  virtual bool IsCompleted() = 0;
};

// A Work that is already done (or failed) when created.
class CompletedWork : public Work {
 public:
  explicit CompletedWork(Status s = Status::Ok()) : status_(std::move(s)) {}
  Status Wait() override { return status_; }
  bool IsCompleted() override { return true; }

 private:
  Status status_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual Backend backend() const = 0;  // the backend used for CUDA tensors (kMpi on CPU builds)

  // t <- op over ranks of t. kAvg REQUIRES a floating dtype.
  virtual std::unique_ptr<Work> AllReduce(at::Tensor& t, ReduceOp op) = 0;
  // t <- t of rank `root`.
  virtual std::unique_ptr<Work> Broadcast(at::Tensor& t, int root) = 0;
  // out[r * in.numel() : (r + 1) * in.numel()] <- in of rank r, for every rank r.
  // REQUIRES: out is contiguous, same dtype/device as in, out.numel() == size() * in.numel().
  virtual std::unique_ptr<Work> AllGather(const at::Tensor& in, at::Tensor& out) = 0;
  // Returns once every rank has called Barrier (after all earlier calls completed).
  virtual Status Barrier() = 0;

  // Deadline for each later collective, in seconds from the moment this rank begins it; <= 0
  // disables (the default). On expiry the process reports which collective (its CollectiveLabel,
  // dist/watchdog.h) and which ranks it waited for, aborts the communicators and exits with
  // kWatchdogExitCode. Backends without a watchdog (fake) ignore it.
  virtual void SetDeadline(double seconds) { (void)seconds; }
};

// Builds the communicator for `world` (collective): `kAuto` picks nccl when the world's device is
// CUDA and every local rank has a GPU of its own, mpi otherwise. `kNccl` fails clearly on CPU or a
// shared GPU. The outcome is agreed: if any rank fails, every rank gets Aborted naming it.
Result<std::unique_ptr<Communicator>> MakeCommunicator(const World& world, Backend backend);

// Collective over `comm`: OK on every rank iff `local` is OK on every rank; otherwise every rank
// gets Aborted("rank R <what>: <message>; ...") naming each failed rank.
Status AgreeOnStatus(Communicator* comm, const Status& local, const std::string& what);

// Validates a tensor for a collective; returns InvalidArgument naming `what` otherwise.
Status CheckCollectiveTensor(const at::Tensor& t, const char* what);

}  // namespace fc::dist
