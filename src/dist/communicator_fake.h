// FakeHub / FakeCommunicator: in-process ranks for unit tests (gloo's threads-as-ranks idea).
//
// A FakeHub joins `size` threads; each thread holds the FakeCommunicator for its rank. Every
// collective is a rendezvous: all ranks deposit their tensor, the last to arrive releases them,
// each computes its result locally from the deposits (reductions summed in rank order, so results
// are bitwise identical on every rank) and the call returns an already completed Work.
// A rank that waits longer than the hub's timeout gets DeadlineExceeded naming the collective, its
// sequence number and the ranks that never arrived, instead of hanging the test.
// Also records the sequence of calls per rank (op name and numel) so tests can assert on them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace fc::dist {

class FakeHub {
 public:
  explicit FakeHub(int size, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  int size() const { return size_; }
  // The communicator of rank `rank`; the hub must outlive it.
  std::unique_ptr<Communicator> Make(int rank);

  // Deposits `t` (a clone is kept) and returns every rank's deposit once all arrived.
  Result<std::vector<at::Tensor>> Exchange(int rank, const at::Tensor& t, const std::string& op);
  // Calls made by `rank` so far, e.g. "allreduce:1024".
  std::vector<std::string> Calls(int rank) const;

 private:
  const int size_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t generation_ = 0;                       // GUARDED_BY(mu_)
  int arrived_ = 0;                              // GUARDED_BY(mu_)
  std::vector<at::Tensor> slots_;                // GUARDED_BY(mu_)
  std::vector<bool> present_;                    // GUARDED_BY(mu_)
  std::vector<at::Tensor> released_;             // GUARDED_BY(mu_): the last completed generation
  std::vector<std::vector<std::string>> calls_;  // GUARDED_BY(mu_)
};

}  // namespace fc::dist
