#include "dist/watchdog.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/env.h"
#include "util/logging.h"

namespace fc::dist {
namespace {

thread_local std::string tls_label;

constexpr int kQuestionTag = 1;
constexpr int kAnswerTag = 2;
constexpr double kPollSeconds = 0.1;
constexpr double kAnswerGraceSeconds = 2.0;  // waiting for peers, then answering late ones

// The answer to "how far did you get?", fixed size.
struct Reply {
  int64_t entered;
  int64_t completed;
  char what[112];
};

}  // namespace

CollectiveLabel::CollectiveLabel(std::string text) : previous_(std::move(tls_label)) {
  tls_label = std::move(text);
}
CollectiveLabel::~CollectiveLabel() { tls_label = std::move(previous_); }
const std::string& CollectiveLabel::Current() { return tls_label; }

std::string DescribeExpiry(int rank, int64_t seq, const std::string& what, double waited_s,
                           double deadline_s, const std::vector<PeerProgress>& peers) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "watchdog: rank %d waited %.1f s (deadline %.1f s) in collective #%lld (%s); ",
                rank, waited_s, deadline_s, static_cast<long long>(seq), what.c_str());
  std::string out = buf;
  std::string missing;
  for (const PeerProgress& p : peers) {
    if (p.rank == rank) continue;
    std::string line;
    if (!p.answered) {
      line = "rank " + std::to_string(p.rank) + " (no answer: process dead or unreachable)";
    } else if (p.entered < seq) {
      line = "rank " + std::to_string(p.rank) + " (has not entered it; at collective #" +
             std::to_string(p.entered) + (p.what.empty() ? "" : " (" + p.what + ")") +
             (p.completed < p.entered ? ", still in it)" : ", done)");
    } else {
      continue;
    }
    if (!missing.empty()) missing += ", ";
    missing += line;
  }
  if (peers.empty()) {
    out += "peer positions unknown (device-side collective)";
  } else if (missing.empty()) {
    out += "every peer has entered it: the collective is stuck inside the communication library";
  } else {
    out += "waiting for " + missing;
  }
  return out + "; aborting the communicators and exiting with status " +
         std::to_string(kWatchdogExitCode);
}

Result<std::unique_ptr<Watchdog>> Watchdog::Create(MPI_Comm comm, std::string name) {
  std::unique_ptr<Watchdog> w(new Watchdog());
  if (MPI_Comm_dup(comm, &w->comm_) != MPI_SUCCESS) {
    return Status::Internal("MPI_Comm_dup for the watchdog failed");
  }
  MPI_Comm_set_errhandler(w->comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(w->comm_, &w->rank_);
  MPI_Comm_size(w->comm_, &w->size_);
  w->name_ = std::move(name);
  // ---- TEST HOOK (tests only): a rank whose gradient collective never completes. -------------
  w->test_hang_rank_ = static_cast<int>(EnvInt("FRAMECAST_TEST_HANG_RANK", -1));
  w->test_hang_after_ = static_cast<int>(EnvInt("FRAMECAST_TEST_HANG_AFTER", 3));
  w->thread_ = std::thread([p = w.get()] { p->Loop(); });
  return w;
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

void Watchdog::SetDeadline(double seconds) { deadline_s_.store(seconds); }

void Watchdog::AddAbortAction(std::function<void()> action) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_actions_.push_back(std::move(action));
}

void Watchdog::Begin(int64_t seq, const std::string& what, bool posted) {
  std::lock_guard<std::mutex> lock(mu_);
  timed_ = seq;
  timed_what_ = what;
  if (posted) {
    entered_ = seq;
    what_ = what;
  }
  began_ = std::chrono::steady_clock::now();
}

void Watchdog::End(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  completed_ = seq;
}

bool Watchdog::TestHangHere(const std::string& what) {
  // ---- TEST HOOK (tests only) ----------------------------------------------------------------
  if (test_hang_rank_ != rank_ || what.find("(gradient bucket") == std::string::npos) return false;
  return ++test_buckets_seen_ == test_hang_after_;
}

void Watchdog::Answer() {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQuestionTag, comm_, &flag, &st) != MPI_SUCCESS || !flag) return;
    int64_t question = 0;
    MPI_Recv(&question, 1, MPI_INT64_T, st.MPI_SOURCE, kQuestionTag, comm_, MPI_STATUS_IGNORE);
    Reply a{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      a.entered = entered_;
      a.completed = completed_;
      std::strncpy(a.what, what_.c_str(), sizeof(a.what) - 1);
    }
    MPI_Send(&a, sizeof(a), MPI_BYTE, st.MPI_SOURCE, kAnswerTag, comm_);
  }
}

void Watchdog::Loop() {
  for (;;) {
    int64_t seq = 0;
    std::string what;
    double waited = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::duration<double>(kPollSeconds), [&] { return stop_; });
      if (stop_) return;
      const double deadline = deadline_s_.load();
      if (timed_ > completed_ && deadline > 0) {
        waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - began_).count();
        if (waited > deadline) {
          seq = timed_;
          what = timed_what_;
        }
      }
    }
    Answer();
    if (seq > 0) Expire(seq, what, waited);
  }
}

void Watchdog::Expire(int64_t seq, const std::string& what, double waited_s, bool ask_peers) {
  std::vector<PeerProgress> peers(size_);
  if (!ask_peers) {
    LogError(DescribeExpiry(rank_, seq, what, waited_s, deadline_s_.load(), {}));
  } else {
    ExpireAskingPeers(seq, what, waited_s, &peers);
  }
  std::vector<std::function<void()>> actions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    actions = abort_actions_;
  }
  for (auto& a : actions) a();
  std::fflush(stdout);
  std::fflush(stderr);
  RecordExitStatus(kWatchdogExitCode);  // launch/run.sh: mpirun may report its own status
  std::_Exit(kWatchdogExitCode);
}

void Watchdog::ExpireAskingPeers(int64_t seq, const std::string& what, double waited_s,
                                 std::vector<PeerProgress>* out) {
  std::vector<PeerProgress>& peers = *out;
  std::vector<Reply> answers(size_);
  std::vector<MPI_Request> sends(size_, MPI_REQUEST_NULL), recvs(size_, MPI_REQUEST_NULL);
  for (int r = 0; r < size_; ++r) {
    peers[r].rank = r;
    if (r == rank_) continue;
    MPI_Irecv(&answers[r], sizeof(Reply), MPI_BYTE, r, kAnswerTag, comm_, &recvs[r]);
    MPI_Isend(&seq, 1, MPI_INT64_T, r, kQuestionTag, comm_, &sends[r]);
  }
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(kAnswerGraceSeconds);
  int pending = size_ - 1;
  while (pending > 0 && std::chrono::steady_clock::now() < until) {
    Answer();  // peers expiring at the same time ask us too
    for (int r = 0; r < size_; ++r) {
      if (recvs[r] == MPI_REQUEST_NULL || peers[r].answered) continue;
      int done = 0;
      if (MPI_Test(&recvs[r], &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && done) {
        peers[r].answered = true;
        peers[r].entered = answers[r].entered;
        peers[r].completed = answers[r].completed;
        peers[r].what.assign(answers[r].what, strnlen(answers[r].what, sizeof(answers[r].what)));
        --pending;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  LogError(DescribeExpiry(rank_, seq, name_ + " " + what, waited_s, deadline_s_.load(), peers));
  // Peers whose deadline passes a little later ask us too: keep answering for a while.
  const auto linger =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(kAnswerGraceSeconds);
  while (std::chrono::steady_clock::now() < linger) {
    Answer();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

SetupDeadline::SetupDeadline(double seconds, int rank, std::string host, std::string what) {
  thread_ = std::thread([this, seconds, rank, host = std::move(host), what = std::move(what)] {
    std::unique_lock<std::mutex> lock(mu_);
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(seconds));
    if (cv_.wait_until(lock, until, [this] { return done_; })) return;
    std::fprintf(stderr,
                 "[framecast r%d %s] error: %s did not complete within %.0f s "
                 "(dist.init_timeout_s): a rank never arrived or the network is down; exiting "
                 "with status %d\n",
                 rank, host.c_str(), what.c_str(), seconds, kWatchdogExitCode);
    std::fflush(stderr);
    RecordExitStatus(kWatchdogExitCode);
    std::_Exit(kWatchdogExitCode);
  });
  const int64_t delayed = EnvInt("FRAMECAST_TEST_SETUP_DELAY_RANK", -1);
  if (delayed == rank) {
    const int64_t s = EnvInt("FRAMECAST_TEST_SETUP_DELAY_S", 600);
    std::fprintf(stderr, "[framecast r%d] warning: test hook: delaying set-up by %lld s\n", rank,
                 static_cast<long long>(s));
    std::this_thread::sleep_for(std::chrono::seconds(s));
  }
}

SetupDeadline::~SetupDeadline() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace fc::dist
