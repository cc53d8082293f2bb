#include "dist/communicator_mpi.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <chrono>
#include <climits>
#include <cstdio>

#ifdef FRAMECAST_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#endif

namespace fc::dist {

struct MpiCommunicator::Pending {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
};

namespace {

// Element-wise sums for 16-bit floats: MPI has no such types; these are commutative user ops on
// MPI_UINT16_T buffers.
template <typename T>
void SumOp(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<const T*>(in);
  auto* b = static_cast<T*>(inout);
  for (int i = 0; i < *len; ++i)
    b[i] = static_cast<T>(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}

MPI_Op Bf16Sum() {
  static MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&SumOp<c10::BFloat16>, /*commute=*/1, &o);
    return o;
  }();
  return op;
}
MPI_Op HalfSum() {
  static MPI_Op op = [] {
    MPI_Op o;
    MPI_Op_create(&SumOp<c10::Half>, /*commute=*/1, &o);
    return o;
  }();
  return op;
}

Result<MPI_Datatype> MpiType(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kInt:
      return MPI_INT32_T;
    case at::kLong:
      return MPI_INT64_T;
    case at::kByte:
      return MPI_UINT8_T;
    case at::kChar:
      return MPI_INT8_T;
    case at::kBool:
      return MPI_UINT8_T;
    case at::kBFloat16:
    case at::kHalf:
      return MPI_UINT16_T;
    default:
      return Status::InvalidArgument(std::string("unsupported dtype for MPI: ") + c10::toString(t));
  }
}

MPI_Op SumOpFor(at::ScalarType t) {
  if (t == at::kBFloat16) return Bf16Sum();
  if (t == at::kHalf) return HalfSum();
  return MPI_SUM;
}

std::string MpiErr(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  return std::string(buf, len);
}

// "all-reduce (gradient bucket 2 of model) 4.0 MiB": the collective as a watchdog names it.
std::string Describe(const char* kind, int64_t bytes) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), " %.3g MiB", static_cast<double>(bytes) / (1 << 20));
  const std::string& label = CollectiveLabel::Current();
  return std::string(kind) + (label.empty() ? "" : " (" + label + ")") + buf;
}

// MPI counts are int: large buffers go in chunks.
constexpr int64_t kMaxChunk = INT_MAX / 2;

class MpiWork : public Work {
 public:
  MpiWork(std::shared_ptr<MpiCommunicator::Pending> p, std::function<void()> finish)
      : p_(std::move(p)), finish_(std::move(finish)) {}
  Status Wait() override {
    std::unique_lock<std::mutex> lock(p_->mu);
    p_->cv.wait(lock, [&] { return p_->done; });
    if (p_->status.ok() && finish_) {
      finish_();
      finish_ = nullptr;
    }
    return p_->status;
  }
  bool IsCompleted() override {
    std::lock_guard<std::mutex> lock(p_->mu);
    return p_->done;
  }

 private:
  std::shared_ptr<MpiCommunicator::Pending> p_;
  std::function<void()> finish_;
};

// Staging of CUDA tensors through pinned host memory. On CPU tensors it is the identity.
struct Staged {
  at::Tensor host;                 // the buffer MPI works on
  std::function<void()> wait_d2h;  // worker: wait until `host` holds the data (may be empty)
  std::function<void()> h2d;       // waiter: copy the result back (may be empty)
};

Staged Stage(at::Tensor dev, bool copy_in, bool copy_out) {
  Staged s;
  if (!dev.is_cuda()) {
    s.host = dev;
    return s;
  }
#ifdef FRAMECAST_WITH_CUDA
  s.host = at::empty(dev.sizes(), dev.options().device(at::kCPU).pinned_memory(true));
  if (copy_in) {
    s.host.copy_(dev, /*non_blocking=*/true);
    auto ev = std::make_shared<at::cuda::CUDAEvent>();
    ev->record(at::cuda::getCurrentCUDAStream(dev.device().index()));
    s.wait_d2h = [ev] { ev->synchronize(); };
  }
  if (copy_out) {
    at::Tensor host = s.host;
    s.h2d = [dev, host]() mutable { dev.copy_(host, /*non_blocking=*/true); };
  }
#endif
  return s;
}

}  // namespace

Result<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MPI_Comm parent) {
  std::unique_ptr<MpiCommunicator> c(new MpiCommunicator());
  int rc = MPI_Comm_dup(parent, &c->comm_);
  if (rc != MPI_SUCCESS) return Status::Internal("MPI_Comm_dup: " + MpiErr(rc));
  MPI_Comm_set_errhandler(c->comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(c->comm_, &c->rank_);
  MPI_Comm_size(c->comm_, &c->size_);
  FC_ASSIGN_OR_RETURN(c->watchdog_, Watchdog::Create(c->comm_, "mpi"));
  c->worker_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

MpiCommunicator::~MpiCommunicator() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  watchdog_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

void MpiCommunicator::Loop() {
  for (int64_t seq = 1;; ++seq) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    if (watchdog_->TestHangHere(item.what)) {
      // ---- TEST HOOK (tests only, FRAMECAST_TEST_HANG_RANK): this collective is never posted.
      watchdog_->Begin(seq, item.what + " [test hook: never posted]", /*posted=*/false);
      for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    watchdog_->Begin(seq, item.what);
    Status st;
    try {
      st = item.fn();
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("MPI collective: ") + e.what());
    }
    if (!st.ok()) st = st.WithContext("collective #" + std::to_string(seq) + " " + item.what);
    watchdog_->End(seq);
    {
      std::lock_guard<std::mutex> lock(item.pending->mu);
      item.pending->status = st;
      item.pending->done = true;
    }
    item.pending->cv.notify_all();
  }
}

std::unique_ptr<Work> MpiCommunicator::Enqueue(std::function<Status()> fn,
                                               std::function<void()> finish, std::string what) {
  auto p = std::make_shared<Pending>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Item{std::move(fn), p, std::move(what)});
  }
  cv_.notify_one();
  return std::make_unique<MpiWork>(std::move(p), std::move(finish));
}

std::unique_ptr<Work> MpiCommunicator::AllReduce(at::Tensor& t, ReduceOp op) {
  Status bad = CheckCollectiveTensor(t, "MPI all-reduce");
  if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
  auto type = MpiType(t.scalar_type());
  if (!type.ok()) return std::make_unique<CompletedWork>(type.status());
  if (op == ReduceOp::kAvg && !at::isFloatingType(t.scalar_type())) {
    return std::make_unique<CompletedWork>(
        Status::InvalidArgument("average all-reduce of a non-floating tensor"));
  }
  if (t.numel() == 0) return std::make_unique<CompletedWork>();
  Staged s = Stage(t, /*copy_in=*/true, /*copy_out=*/true);
  const MPI_Datatype dt = type.value();
  const MPI_Op mop = SumOpFor(t.scalar_type());
  const int size = size_;
  MPI_Comm comm = comm_;
  return Enqueue(
      [s, dt, mop, op, size, comm]() -> Status {
        if (s.wait_d2h) s.wait_d2h();
        char* base = static_cast<char*>(s.host.data_ptr());
        const int64_t esz = s.host.element_size();
        for (int64_t off = 0; off < s.host.numel(); off += kMaxChunk) {
          int n = static_cast<int>(std::min<int64_t>(kMaxChunk, s.host.numel() - off));
          int rc = MPI_Allreduce(MPI_IN_PLACE, base + off * esz, n, dt, mop, comm);
          if (rc != MPI_SUCCESS) return Status::Internal("MPI_Allreduce: " + MpiErr(rc));
        }
        if (op == ReduceOp::kAvg) s.host.div_(size);
        return Status::Ok();
      },
      s.h2d, Describe("all-reduce", t.numel() * t.element_size()));
}

std::unique_ptr<Work> MpiCommunicator::Broadcast(at::Tensor& t, int root) {
  Status bad = CheckCollectiveTensor(t, "MPI broadcast");
  if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
  if (root < 0 || root >= size_) {
    return std::make_unique<CompletedWork>(Status::InvalidArgument("broadcast root out of range"));
  }
  if (t.numel() == 0) return std::make_unique<CompletedWork>();
  Staged s = Stage(t, /*copy_in=*/rank_ == root, /*copy_out=*/rank_ != root);
  MPI_Comm comm = comm_;
  return Enqueue(
      [s, root, comm]() -> Status {
        if (s.wait_d2h) s.wait_d2h();
        char* base = static_cast<char*>(s.host.data_ptr());
        const int64_t bytes = s.host.numel() * s.host.element_size();
        for (int64_t off = 0; off < bytes; off += kMaxChunk) {
          int n = static_cast<int>(std::min<int64_t>(kMaxChunk, bytes - off));
          int rc = MPI_Bcast(base + off, n, MPI_BYTE, root, comm);
          if (rc != MPI_SUCCESS) return Status::Internal("MPI_Bcast: " + MpiErr(rc));
        }
        return Status::Ok();
      },
      s.h2d, Describe("broadcast", t.numel() * t.element_size()));
}

std::unique_ptr<Work> MpiCommunicator::AllGather(const at::Tensor& in, at::Tensor& out) {
  Status bad = CheckCollectiveTensor(in, "MPI all-gather input");
  if (bad.ok()) bad = CheckCollectiveTensor(out, "MPI all-gather output");
  if (bad.ok() && (out.numel() != in.numel() * size_ || out.scalar_type() != in.scalar_type() ||
                   out.device() != in.device())) {
    bad = Status::InvalidArgument(
        "all-gather output must have size() * input numel and the input's dtype/device");
  }
  if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
  if (in.numel() == 0) return std::make_unique<CompletedWork>();
  Staged si = Stage(in, /*copy_in=*/true, /*copy_out=*/false);
  Staged so = Stage(out, /*copy_in=*/false, /*copy_out=*/true);
  const int64_t bytes = in.numel() * in.element_size();
  if (bytes > INT_MAX) {
    return std::make_unique<CompletedWork>(Status::InvalidArgument("all-gather input over 2 GiB"));
  }
  MPI_Comm comm = comm_;
  return Enqueue(
      [si, so, bytes, comm]() -> Status {
        if (si.wait_d2h) si.wait_d2h();
        int rc = MPI_Allgather(si.host.data_ptr(), static_cast<int>(bytes), MPI_BYTE,
                               so.host.data_ptr(), static_cast<int>(bytes), MPI_BYTE, comm);
        if (rc != MPI_SUCCESS) return Status::Internal("MPI_Allgather: " + MpiErr(rc));
        return Status::Ok();
      },
      so.h2d, Describe("all-gather", bytes));
}

Status MpiCommunicator::Barrier() {
  MPI_Comm comm = comm_;
  return Enqueue(
             [comm]() -> Status {
               int rc = MPI_Barrier(comm);
               return rc == MPI_SUCCESS ? Status::Ok()
                                        : Status::Internal("MPI_Barrier: " + MpiErr(rc));
             },
             nullptr, Describe("barrier", 0))
      ->Wait();
}

}  // namespace fc::dist
