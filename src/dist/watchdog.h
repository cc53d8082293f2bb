// Watchdog: a deadline on every collective of one communicator, and a clear death when it passes.
//
// A communicator's worker calls Begin(seq, what) before it enters collective number `seq` and End()
// after it returns. The watchdog's own thread checks the collective in flight every 100 ms; when
// it has run longer than the deadline (SetDeadline; 0 disables) the watchdog
//   1. asks every other rank, over its own duplicate of the communicator, how far it got (each
//      rank's watchdog thread answers these questions while its collectives are blocked);
//   2. prints one line per rank on stderr, naming the collective, its label (e.g. "gradient bucket
//      2 of model (4.0 MiB)") and the ranks it waited for: those that had not entered it (and where
//      they were) and those that did not answer (dead or unreachable);
//   3. aborts: runs the registered abort actions (e.g. ncclCommAbort) and exits the process with
//      kWatchdogExitCode without unwinding (the blocked collective cannot be cancelled portably).
// A killed peer therefore makes every surviving rank exit within its deadline instead of hanging.
//
// Labels: CollectiveLabel is a thread-local scope; collectives started inside it carry its text.
// Test hook (tests only): FRAMECAST_TEST_HANG_RANK=r makes rank r's worker never finish the
// collective that the FRAMECAST_TEST_HANG_AFTER-th (default 3) gradient bucket launches, as a
// collective lost inside the library would.
// Threading: Begin/End from the worker thread; SetDeadline from any thread.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace fc::dist {

// Exit status of a process the watchdog stopped (a peer or the network is gone; sysexits
// EX_UNAVAILABLE). The SLURM scripts requeue it a bounded number of times.
constexpr int kWatchdogExitCode = 69;

// While alive, collectives started on this thread are labelled `text` in watchdog reports.
class CollectiveLabel {
 public:
  explicit CollectiveLabel(std::string text);
  ~CollectiveLabel();
  CollectiveLabel(const CollectiveLabel&) = delete;
  CollectiveLabel& operator=(const CollectiveLabel&) = delete;
  // The innermost label on this thread ("" outside any).
  static const std::string& Current();

 private:
  std::string previous_;
};

// What one rank reports about its progress on a communicator.
struct PeerProgress {
  int rank = 0;
  bool answered = false;  // false: no reply within the grace period
  int64_t entered = 0;    // highest collective number it has begun
  int64_t completed = 0;  // highest it has finished
  std::string what;       // the collective it is in (or last was in)
};

// The report printed on expiry, from what this rank knows and its peers' answers. Pure; tested.
std::string DescribeExpiry(int rank, int64_t seq, const std::string& what, double waited_s,
                           double deadline_s, const std::vector<PeerProgress>& peers);

// A deadline on a rank's set-up (communicator creation: MPI_Comm_dup, the NCCL unique-id broadcast
// and ncclCommInitRank), before any communicator has a watchdog of its own. While alive, a thread
// waits up to `seconds`; if the guard is still alive then, the rank prints one line ("rank R
// (host H): <what> did not complete within S s: a rank never arrived or the network is down")
// and exits with kWatchdogExitCode, so no rank hangs in set-up because another never came.
// Test hook (tests only): FRAMECAST_TEST_SETUP_DELAY_RANK=r makes rank r sleep
// FRAMECAST_TEST_SETUP_DELAY_S seconds (default 600) inside the guard, as a rank that never
// arrives.
class SetupDeadline {
 public:
  SetupDeadline(double seconds, int rank, std::string host, std::string what);
  ~SetupDeadline();  // disarms
  SetupDeadline(const SetupDeadline&) = delete;
  SetupDeadline& operator=(const SetupDeadline&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

class Watchdog {
 public:
  // Collective over `comm` (duplicates it for its questions). `name` appears in reports
  // ("mpi", "nccl").
  static Result<std::unique_ptr<Watchdog>> Create(MPI_Comm comm, std::string name);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Deadline for each collective from the moment this rank begins it; <= 0 disables.
  void SetDeadline(double seconds);
  double deadline() const { return deadline_s_.load(); }
  // Run on expiry before the process exits (e.g. abort an NCCL communicator).
  void AddAbortAction(std::function<void()> action);

  // `posted` false: the deadline runs but peers are told this rank has not entered `seq` (the test
  // hook's collective that is never handed to MPI).
  void Begin(int64_t seq, const std::string& what, bool posted = true);
  void End(int64_t seq);

  // Test hook: true when this rank must hang in the collective being begun (see above).
  bool TestHangHere(const std::string& what);

  // Reports collective `seq` (`what`) as expired after `waited_s`, asking the peers where they are
  // when `ask_peers` (their positions on this communicator), then aborts and exits. Used by the
  // watchdog's own thread, and by an NCCL communicator for its device-side collectives.
  [[noreturn]] void Expire(int64_t seq, const std::string& what, double waited_s,
                           bool ask_peers = true);

 private:
  Watchdog() = default;
  void Loop();
  void Answer();  // replies to every pending question
  void ExpireAskingPeers(int64_t seq, const std::string& what, double waited_s,
                         std::vector<PeerProgress>* peers);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::string name_;
  std::atomic<double> deadline_s_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                 // GUARDED_BY(mu_)
  int64_t timed_ = 0;                                 // GUARDED_BY(mu_): the one timed
  int64_t entered_ = 0, completed_ = 0;               // GUARDED_BY(mu_): as peers see it
  std::string what_;                                  // GUARDED_BY(mu_): as peers see it
  std::string timed_what_;                            // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point began_;       // GUARDED_BY(mu_)
  std::vector<std::function<void()>> abort_actions_;  // GUARDED_BY(mu_)
  int test_hang_rank_ = -1, test_hang_after_ = 3, test_buckets_seen_ = 0;
  std::thread thread_;
};

}  // namespace fc::dist
