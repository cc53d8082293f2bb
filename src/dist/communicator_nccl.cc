#include "dist/communicator_nccl.h"

#ifdef FRAMECAST_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <nccl.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#endif

namespace fc::dist {

#ifndef FRAMECAST_WITH_CUDA

Result<std::unique_ptr<Communicator>> NcclCommunicator::Create(MPI_Comm, int) {
  return Status::Unavailable("the nccl backend needs a CUDA build of framecast");
}
std::string NcclVersion() { return ""; }

#else

namespace {

Result<ncclDataType_t> NcclType(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kInt:
      return ncclInt32;
    case at::kLong:
      return ncclInt64;
    case at::kByte:
    case at::kBool:
      return ncclUint8;
    case at::kChar:
      return ncclInt8;
    default:
      return Status::InvalidArgument(std::string("unsupported dtype for NCCL: ") +
                                     c10::toString(t));
  }
}

Status NcclStatus(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return Status::Ok();
  return Status::Internal(std::string(what) + ": " + ncclGetErrorString(r));
}

class NcclWork : public Work {
 public:
  NcclWork(std::shared_ptr<at::cuda::CUDAEvent> done, int device, ncclComm_t comm)
      : done_(std::move(done)), device_(device), comm_(comm) {}
  Status Wait() override {
    done_->block(at::cuda::getCurrentCUDAStream(device_));
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    return NcclStatus(async, "NCCL asynchronous error");
  }
  bool IsCompleted() override { return done_->query(); }

 private:
  std::shared_ptr<at::cuda::CUDAEvent> done_;
  int device_;
  ncclComm_t comm_;
};

class NcclCommunicatorImpl : public Communicator {
 public:
  NcclCommunicatorImpl(std::unique_ptr<MpiCommunicator> cpu, int device, ncclComm_t comm)
      : cpu_(std::move(cpu)),
        device_(device),
        comm_(comm),
        stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device)) {
    // On expiry of any collective (host or device side) the NCCL communicator is aborted first,
    // so no kernel keeps spinning on a dead peer.
    cpu_->watchdog()->AddAbortAction([c = comm_] { ncclCommAbort(c); });
    watcher_ = std::thread([this] { Watch(); });
  }
  ~NcclCommunicatorImpl() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (watcher_.joinable()) watcher_.join();
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }
  void SetDeadline(double seconds) override {
    deadline_s_.store(seconds);
    cpu_->SetDeadline(seconds);
  }

  int rank() const override { return cpu_->rank(); }
  int size() const override { return cpu_->size(); }
  Backend backend() const override { return Backend::kNccl; }

  std::unique_ptr<Work> AllReduce(at::Tensor& t, ReduceOp op) override {
    if (!t.is_cuda()) return cpu_->AllReduce(t, op);
    return Launch(t, "NCCL all-reduce",
                  [&](ncclDataType_t dt, cudaStream_t s) {
                    return ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), dt,
                                         op == ReduceOp::kSum ? ncclSum : ncclAvg, comm_, s);
                  },
                  {t});
  }
  std::unique_ptr<Work> Broadcast(at::Tensor& t, int root) override {
    if (!t.is_cuda()) return cpu_->Broadcast(t, root);
    return Launch(t, "NCCL broadcast",
                  [&](ncclDataType_t dt, cudaStream_t s) {
                    return ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), dt, root, comm_, s);
                  },
                  {t});
  }
  std::unique_ptr<Work> AllGather(const at::Tensor& in, at::Tensor& out) override {
    if (!in.is_cuda()) return cpu_->AllGather(in, out);
    Status bad = CheckCollectiveTensor(out, "NCCL all-gather output");
    if (bad.ok() && (out.numel() != in.numel() * size() || out.scalar_type() != in.scalar_type() ||
                     out.device() != in.device())) {
      bad = Status::InvalidArgument(
          "all-gather output must have size() * input numel and the input's dtype/device");
    }
    if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
    return Launch(in, "NCCL all-gather",
                  [&](ncclDataType_t dt, cudaStream_t s) {
                    return ncclAllGather(in.data_ptr(), out.data_ptr(), in.numel(), dt, comm_, s);
                  },
                  {in, out});
  }
  Status Barrier() override {
    // Everything enqueued on our stream first, then the ranks meet on the host.
    c10::cuda::CUDAGuard guard(device_);
    stream_.synchronize();
    return cpu_->Barrier();
  }

 private:
  template <typename F>
  std::unique_ptr<Work> Launch(const at::Tensor& t, const char* what, F&& call,
                               std::initializer_list<at::Tensor> used) {
    Status bad = CheckCollectiveTensor(t, what);
    if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
    auto dt = NcclType(t.scalar_type());
    if (!dt.ok()) return std::make_unique<CompletedWork>(dt.status());
    if (t.numel() == 0) return std::make_unique<CompletedWork>();
    c10::cuda::CUDAGuard guard(device_);
    // Order after the caller's work on its current stream, without blocking the host.
    at::cuda::CUDAEvent ready;
    ready.record(at::cuda::getCurrentCUDAStream(device_));
    ready.block(stream_);
    Status st = NcclStatus(call(dt.value(), stream_.stream()), what);
    if (!st.ok()) return std::make_unique<CompletedWork>(st);
    for (const at::Tensor& u : used) {
      c10::cuda::CUDACachingAllocator::recordStream(u.storage().data_ptr(), stream_);
    }
    auto done = std::make_shared<at::cuda::CUDAEvent>();
    done->record(stream_);
    if (deadline_s_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string& label = CollectiveLabel::Current();
      in_flight_.push_back({done, std::chrono::steady_clock::now(), ++seq_,
                            std::string(what) + (label.empty() ? "" : " (" + label + ")")});
    }
    return std::make_unique<NcclWork>(std::move(done), device_, comm_);
  }

  // Device-side deadlines: polls the done events of launched collectives, oldest first.
  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      while (!in_flight_.empty() && in_flight_.front().done->query()) in_flight_.pop_front();
      if (in_flight_.empty()) continue;
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - in_flight_.front().start)
              .count();
      const double deadline = deadline_s_.load();
      if (deadline > 0 && waited > deadline) {
        cpu_->watchdog()->Expire(in_flight_.front().seq, "nccl " + in_flight_.front().what, waited,
                                 /*ask_peers=*/false);
      }
    }
  }

  struct InFlight {
    std::shared_ptr<at::cuda::CUDAEvent> done;
    std::chrono::steady_clock::time_point start;
    int64_t seq;
    std::string what;
  };

  std::unique_ptr<MpiCommunicator> cpu_;
  int device_;
  ncclComm_t comm_;
  c10::cuda::CUDAStream stream_;
  std::atomic<double> deadline_s_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;               // GUARDED_BY(mu_)
  int64_t seq_ = 0;                 // GUARDED_BY(mu_)
  std::deque<InFlight> in_flight_;  // GUARDED_BY(mu_)
  std::thread watcher_;             // last: started after the members it uses
};

}  // namespace

Result<std::unique_ptr<Communicator>> NcclCommunicator::Create(MPI_Comm parent, int device) {
  FC_ASSIGN_OR_RETURN(auto cpu, MpiCommunicator::Create(parent));
  ncclUniqueId id;
  if (cpu->rank() == 0) FC_RETURN_IF_ERROR(NcclStatus(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  at::Tensor idt = at::from_blob(&id, {static_cast<int64_t>(sizeof(id))}, at::kByte);
  FC_RETURN_IF_ERROR(cpu->Broadcast(idt, 0)->Wait());
  c10::cuda::CUDAGuard guard(device);
  ncclComm_t comm = nullptr;
  FC_RETURN_IF_ERROR(
      NcclStatus(ncclCommInitRank(&comm, cpu->size(), id, cpu->rank()), "ncclCommInitRank"));
  // Let every rank finish building its communicator before the first collective (as Horovod does).
  FC_RETURN_IF_ERROR(cpu->Barrier());
  return std::unique_ptr<Communicator>(new NcclCommunicatorImpl(std::move(cpu), device, comm));
}

std::string NcclVersion() {
  int v = 0;
  ncclGetVersion(&v);
  // NCCL >= 2.9 encodes major*10000 + minor*100 + patch.
  return std::to_string(v / 10000) + "." + std::to_string((v % 10000) / 100) + "." +
         std::to_string(v % 100);
}

#endif  // FRAMECAST_WITH_CUDA

}  // namespace fc::dist
