// MpiCommunicator: the Communicator backend over MPI (see communicator.h for the contract).
//
// Owns a duplicate of the parent MPI communicator (so its traffic never matches anyone else's) and
// one worker thread that runs the collectives in call order; calls return a Work immediately.
// CPU tensors are reduced in place. CUDA tensors are staged through pinned host memory: the device
// -> host copy is enqueued on the caller's current stream, the worker waits for it, runs MPI, and
// Wait() enqueues the host -> device copy on the waiting thread's current stream.
// bfloat16 and float16 sums use MPI user-defined operators (accumulate in float, round per step).
// Every collective is numbered and watched by a Watchdog (dist/watchdog.h) once SetDeadline() arms
// it.
#pragma once

#include <mpi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "dist/communicator.h"
#include "dist/watchdog.h"

namespace fc::dist {

class MpiCommunicator : public Communicator {
 public:
  // Collective over `parent`. The returned communicator uses MPI_Comm_dup(parent).
  static Result<std::unique_ptr<MpiCommunicator>> Create(MPI_Comm parent);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Backend backend() const override { return Backend::kMpi; }
  std::unique_ptr<Work> AllReduce(at::Tensor& t, ReduceOp op) override;
  std::unique_ptr<Work> Broadcast(at::Tensor& t, int root) override;
  std::unique_ptr<Work> AllGather(const at::Tensor& in, at::Tensor& out) override;
  Status Barrier() override;
  void SetDeadline(double seconds) override { watchdog_->SetDeadline(seconds); }
  // The watchdog of this communicator (abort actions of an owning NCCL communicator go here).
  Watchdog* watchdog() { return watchdog_.get(); }

  struct Pending;  // shared between a Work and the worker thread

 private:
  MpiCommunicator() = default;
  // Runs `fn` on the worker thread after every earlier call; `finish` (may be empty) runs in Wait()
  // on the waiting thread after `fn` succeeded.
  // `what` names the collective in watchdog reports.
  std::unique_ptr<Work> Enqueue(std::function<Status()> fn, std::function<void()> finish,
                                std::string what);
  void Loop();

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  struct Item {
    std::function<Status()> fn;
    std::shared_ptr<Pending> pending;
    std::string what;
  };
  std::deque<Item> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;       // GUARDED_BY(mu_)
  std::unique_ptr<Watchdog> watchdog_;
  std::thread worker_;
};

}  // namespace fc::dist
