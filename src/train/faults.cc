#include "train/faults.h"

#include <ATen/ATen.h>
#include <google/protobuf/util/message_differencer.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <limits>

#include "config/run_config.h"
#include "dist/watchdog.h"
#include "util/env.h"
#include "util/logging.h"

namespace fc::train {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void OnStopSignal(int sig) {
  if (sig == SIGINT && g_stop_signal == SIGINT) {
    // Ctrl-C twice: the user means it. Die of it now (async-signal-safe calls only).
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  if (g_stop_signal == 0) g_stop_signal = sig;
}

// ---- TEST HOOK (tests only): FRAMECAST_TEST_HOLD_STEPS / FRAMECAST_TEST_HOLD_FILE. --------------
std::vector<int64_t> EnvSteps(const char* name) {
  std::vector<int64_t> out;
  const char* v = std::getenv(name);
  for (const char* p = v; p != nullptr && *p != '\0';) {
    char* end = nullptr;
    const long long x = std::strtoll(p, &end, 10);
    if (end == p) break;
    out.push_back(static_cast<int64_t>(x));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

void HoldForTest(int64_t global_step, const std::string& release_file) {
  LogWarning("test hook: holding after global step " + std::to_string(global_step) +
             " until a stop signal arrives" +
             (release_file.empty() ? std::string() : " or " + release_file + " exists"));
  for (int i = 0; i < 30000; ++i) {  // 300 s at most
    if (StopSignalReceived() != 0) break;
    if (!release_file.empty() && access(release_file.c_str(), F_OK) == 0) break;
    usleep(10000);
  }
  LogWarning("test hook: released after global step " + std::to_string(global_step) +
             (StopSignalReceived() != 0 ? " by signal " + std::to_string(StopSignalReceived())
                                        : std::string(" without a signal")));
}

}  // namespace

int ExitStatusFor(StopReason reason) {
  switch (reason) {
    case StopReason::kCompleted:
      return 0;
    case StopReason::kSignal:
      return kExitRequeue;
    case StopReason::kNonFinite:
      return kExitNonFinite;
  }
  return 1;
}

void InstallStopSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a blocked read or write goes on; the flag is read at the boundary
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) sigaction(sig, &sa, nullptr);
}

int StopSignalReceived() { return g_stop_signal; }
void ResetStopSignal() { g_stop_signal = 0; }

Status CheckSameModel(const framecast::ckpt::Manifest& m, const framecast::RunConfig& config) {
  if (m.config_text().empty()) return Status::Ok();  // written before configs were stored
  auto stored = config::ParseRunConfigText(m.config_text(), "the checkpoint's stored config");
  if (!stored.ok()) return stored.status();
  google::protobuf::util::MessageDifferencer diff;
  std::string report;
  diff.ReportDifferencesToString(&report);
  if (diff.Compare(stored.value().model(), config.model())) return Status::Ok();
  const std::string first = report.substr(0, report.find('\n'));
  return Status::InvalidArgument("was written by a different model config (model: " + first +
                                 "); use another output_dir or the config it was written with");
}

double StartupDeadline(const framecast::RunConfig& c) {
  return c.dist().init_timeout_s() > 0 ? c.dist().init_timeout_s() : 1800.0;
}
double StepDeadline(const framecast::RunConfig& c) {
  return c.dist().step_timeout_s() > 0 ? c.dist().step_timeout_s() : 600.0;
}

Result<bool> AllFinite(const StepReport& report, const std::vector<ckpt::NamedTensor>& state) {
  if (!report.scalars.empty() && !std::isfinite(report.scalars[0].second)) return false;
  std::vector<at::Tensor> flags;
  for (const auto& nt : state) {
    if (nt.tensor.defined() && at::isFloatingType(nt.tensor.scalar_type()))
      flags.push_back(at::isfinite(nt.tensor.detach()).all().reshape({1}));
  }
  if (flags.empty()) return true;
  try {
    return at::cat(flags).all().item<bool>();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("non-finite check: ") + e.what());
  }
}

StepGuard::StepGuard(const framecast::RunConfig& config, int rank, int world_size)
    : policy_(config.dist().nonfinite()), rank_(rank), world_size_(world_size) {
  // ---- TEST HOOK (tests only): NaN on one rank after one global step. ------------------------
  test_nan_rank_ = static_cast<int>(EnvInt("FRAMECAST_TEST_NAN_RANK", -1));
  test_nan_step_ = EnvInt("FRAMECAST_TEST_NAN_STEP", -1);
  // ---- TEST HOOK (tests only): hold at chosen step boundaries until a stop signal arrives. -----
  test_hold_steps_ = EnvSteps("FRAMECAST_TEST_HOLD_STEPS");
  if (const char* f = std::getenv("FRAMECAST_TEST_HOLD_FILE")) test_hold_file_ = f;
}

Status StepGuard::BeforeStep(Trainer& trainer, int stage) {
  FC_ASSIGN_OR_RETURN(auto state, trainer.StepState(stage));
  try {
    at::NoGradGuard ng;
    TensorMap copy;
    for (const auto& nt : state) {
      at::Tensor src = nt.tensor.detach();
      auto it = last_good_.find(nt.name);
      if (it != last_good_.end() && it->second.sizes() == src.sizes() &&
          it->second.scalar_type() == src.scalar_type() && it->second.device() == src.device()) {
        it->second.copy_(src);
        copy.emplace(nt.name, std::move(it->second));
      } else {
        copy.emplace(nt.name, src.clone());
      }
    }
    last_good_ = std::move(copy);  // what the step cannot change is not held
  } catch (const std::exception& e) {
    return Status::Internal(std::string("copying the last good state: ") + e.what());
  }
  return Status::Ok();
}

int64_t StepGuard::held_bytes() const {
  int64_t n = 0;
  for (const auto& kv : last_good_) n += kv.second.numel() * kv.second.element_size();
  return n;
}

Result<StepVerdict> StepGuard::AfterStep(dist::Communicator* comm, Trainer& trainer, int stage,
                                         StepReport* report, int64_t global_step) {
  FC_ASSIGN_OR_RETURN(auto state, trainer.StepState(stage));
  if (rank_ == test_nan_rank_ && global_step == test_nan_step_) {
    // ---- TEST HOOK (tests only, FRAMECAST_TEST_NAN_RANK/STEP): this rank's step went NaN. -----
    LogWarning("test hook: injecting NaN into the loss and the first parameter after global step " +
               std::to_string(global_step));
    if (!report->scalars.empty())
      report->scalars[0].second = std::numeric_limits<double>::quiet_NaN();
    for (const auto& nt : state) {
      if (at::isFloatingType(nt.tensor.scalar_type())) {
        at::NoGradGuard ng;
        nt.tensor.detach().view(-1)[0].fill_(std::numeric_limits<double>::quiet_NaN());
        break;
      }
    }
  }
  if (std::find(test_hold_steps_.begin(), test_hold_steps_.end(), global_step) !=
      test_hold_steps_.end()) {
    HoldForTest(global_step, test_hold_file_);  // ---- TEST HOOK (tests only) ----
  }
  FC_ASSIGN_OR_RETURN(bool finite, AllFinite(*report, state));
  // One all-reduce (sum): [lowest stop signal as 1/0 per signal kind..., non-finite per rank].
  // Slots 0..2: SIGINT, SIGUSR1, SIGTERM received; slots 3.. : rank r saw a non-finite value.
  at::Tensor flags = at::zeros({3 + world_size_}, at::kInt);
  auto* f = flags.data_ptr<int32_t>();
  const int sig = StopSignalReceived();
  if (sig == SIGINT) f[0] = 1;
  if (sig == SIGUSR1) f[1] = 1;
  if (sig == SIGTERM) f[2] = 1;
  if (!finite) f[3 + rank_] = 1;
  {
    dist::CollectiveLabel label("step-boundary flags (stop signal, non-finite values)");
    FC_RETURN_IF_ERROR(comm->AllReduce(flags, dist::ReduceOp::kSum)->Wait());
  }
  StepVerdict v;
  if (f[2] > 0) v.stop_signal = SIGTERM;
  if (f[1] > 0) v.stop_signal = SIGUSR1;
  if (f[0] > 0) v.stop_signal = SIGINT;
  for (int r = 0; r < world_size_; ++r) {
    if (f[3 + r] == 0) continue;
    v.nonfinite = true;
    if (!v.nonfinite_ranks.empty()) v.nonfinite_ranks += ", ";
    v.nonfinite_ranks += std::to_string(r);
  }
  return v;
}

Status StepGuard::Restore(Trainer& trainer, int stage) {
  return trainer.LoadStepState(stage, last_good_);
}

}  // namespace fc::train
