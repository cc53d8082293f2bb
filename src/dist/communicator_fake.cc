#include "dist/communicator_fake.h"

namespace fc::dist {

FakeHub::FakeHub(int size, std::chrono::milliseconds timeout)
    : size_(size), timeout_(timeout), slots_(size), present_(size, false), calls_(size) {}

Result<std::vector<at::Tensor>> FakeHub::Exchange(int rank, const at::Tensor& t,
                                                  const std::string& op) {
  std::unique_lock<std::mutex> lock(mu_);
  calls_[rank].push_back(op + ":" + std::to_string(t.numel()));
  const int64_t my_gen = generation_;
  slots_[rank] = t.detach().clone();
  present_[rank] = true;
  if (++arrived_ == size_) {
    released_ = slots_;
    for (int r = 0; r < size_; ++r) {
      slots_[r] = at::Tensor();
      present_[r] = false;
    }
    arrived_ = 0;
    ++generation_;
    cv_.notify_all();
    return released_;
  }
  if (!cv_.wait_for(lock, timeout_, [&] { return generation_ != my_gen; })) {
    std::string missing;
    for (int r = 0; r < size_; ++r) {
      if (!present_[r]) missing += (missing.empty() ? "" : ",") + std::to_string(r);
    }
    return Status::DeadlineExceeded("fake " + op + " #" + std::to_string(calls_[rank].size()) +
                                    " on rank " + std::to_string(rank) +
                                    ": ranks never arrived: " + missing);
  }
  // `released_` holds our generation until every rank of it has copied (the next generation cannot
  // complete before we, a member of it, arrive again).
  return released_;
}

std::vector<std::string> FakeHub::Calls(int rank) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[rank];
}

namespace {

class FakeCommunicator : public Communicator {
 public:
  FakeCommunicator(FakeHub* hub, int rank) : hub_(hub), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return hub_->size(); }
  Backend backend() const override { return Backend::kFake; }

  std::unique_ptr<Work> AllReduce(at::Tensor& t, ReduceOp op) override {
    Status bad = CheckCollectiveTensor(t, "fake all-reduce");
    if (bad.ok() && op == ReduceOp::kAvg && !at::isFloatingType(t.scalar_type())) {
      bad = Status::InvalidArgument("average all-reduce of a non-floating tensor");
    }
    if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
    auto all = hub_->Exchange(rank_, t, "allreduce");
    if (!all.ok()) return std::make_unique<CompletedWork>(all.status());
    if (t.numel() == 0) return std::make_unique<CompletedWork>();
    // Sum in rank order in the tensor's own dtype, as a ring would do it: deterministic.
    at::Tensor acc = all.value()[0].clone();
    for (int r = 1; r < size(); ++r) acc.add_(all.value()[r]);
    if (op == ReduceOp::kAvg) acc.div_(size());
    t.copy_(acc);
    return std::make_unique<CompletedWork>();
  }
  std::unique_ptr<Work> Broadcast(at::Tensor& t, int root) override {
    Status bad = CheckCollectiveTensor(t, "fake broadcast");
    if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
    auto all = hub_->Exchange(rank_, t, "broadcast");
    if (!all.ok()) return std::make_unique<CompletedWork>(all.status());
    if (t.numel() > 0) t.copy_(all.value()[root]);
    return std::make_unique<CompletedWork>();
  }
  std::unique_ptr<Work> AllGather(const at::Tensor& in, at::Tensor& out) override {
    Status bad = CheckCollectiveTensor(in, "fake all-gather");
    if (bad.ok() && out.numel() != in.numel() * size()) {
      bad = Status::InvalidArgument("all-gather output must have size() * input numel");
    }
    if (!bad.ok()) return std::make_unique<CompletedWork>(bad);
    auto all = hub_->Exchange(rank_, in, "allgather");
    if (!all.ok()) return std::make_unique<CompletedWork>(all.status());
    at::Tensor flat = out.view({-1});
    for (int r = 0; r < size(); ++r) {
      flat.narrow(0, r * in.numel(), in.numel()).copy_(all.value()[r].reshape({-1}));
    }
    return std::make_unique<CompletedWork>();
  }
  Status Barrier() override {
    auto all = hub_->Exchange(rank_, at::empty({0}), "barrier");
    return all.status();
  }

 private:
  FakeHub* hub_;
  int rank_;
};

}  // namespace

std::unique_ptr<Communicator> FakeHub::Make(int rank) {
  return std::make_unique<FakeCommunicator>(this, rank);
}

}  // namespace fc::dist
