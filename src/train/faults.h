// Faults a training run survives: stop signals, non-finite values, and the deadlines of its
// collectives (the watchdog itself is dist/watchdog.h).
//
// Signals: SIGTERM, SIGUSR1 and SIGINT only set a flag (the handler is async-signal-safe). A second
// SIGINT before the run stops kills the process at once, so Ctrl-C twice always works; repeated
// SIGTERM and SIGUSR1 are absorbed (SLURM and the launchers often deliver them more than once).
// At the next step boundary the ranks agree on the flag in one all-reduce, checkpoint and stop with
// kExitRequeue: SLURM's time-limit warning (--signal=B:USR1@120, forwarded to the ranks) and
// preemption (SIGTERM) end with a checkpoint the requeued job resumes from.
//
// Non-finite guard: before each step the replicated state is copied in memory (a device copy, the
// size of the parameters, buffers and optimizer state); after the step every rank checks its own
// loss and the parameters, and the same all-reduce tells every rank which ranks saw a NaN or Inf.
// The step is then undone on every rank (the copy is restored) and the config's policy
// (dist.nonfinite) decides: SKIP counts and logs it and goes on; STOP checkpoints the restored
// (last good) state and stops with kExitNonFinite.
//
// Exit statuses of `framecast train` (docs/clusters.md):
//   0   the run completed
//   1   an error (bad config, missing data, a rank failed; the message says which)
//   2   bad command line
//   65  stopped on a non-finite loss or parameter, after checkpointing the last good state
//   69  the watchdog stopped a collective that ran past its deadline (dist::kWatchdogExitCode)
//   75  stopped on a signal after checkpointing: requeue the job, it resumes from the checkpoint
//
// Test hooks (tests only, read in clearly marked places):
//   FRAMECAST_TEST_NAN_RANK=r with FRAMECAST_TEST_NAN_STEP=g makes rank r's loss and first
//     parameter NaN after global step g.
//   FRAMECAST_TEST_HOLD_STEPS=g1,g2,... makes every rank wait after global step g (before the
//     step-boundary agreement) until it has received a stop signal or, when
//     FRAMECAST_TEST_HOLD_FILE is set, that file exists (at most 300 s). A stop signal sent to a
//     holding rank therefore stops the run at exactly that step, however fast the steps are: the
//     tests assert on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "proto/config.pb.h"
#include "train/state.h"
#include "train/trainer.h"

namespace fc::train {

constexpr int kExitNonFinite = 65;  // sysexits EX_DATAERR
constexpr int kExitRequeue = 75;    // sysexits EX_TEMPFAIL: "try again"

// How RunTraining ended.
enum class StopReason { kCompleted, kSignal, kNonFinite };

// The exit status of `framecast train` for a run that ended with `reason`.
int ExitStatusFor(StopReason reason);

// Installs the SIGTERM / SIGUSR1 / SIGINT handlers (idempotent).
void InstallStopSignalHandlers();
// The first stop signal received since installation (or the last reset), 0 if none.
int StopSignalReceived();
// Forgets a received signal (tests, and in-process runs that follow each other).
void ResetStopSignal();

// A run directory is resumed only with the model it was written for: InvalidArgument naming the
// first field where `manifest`'s stored config and `config` differ under `model`.
Status CheckSameModel(const framecast::ckpt::Manifest& manifest,
                      const framecast::RunConfig& config);

// Collective deadlines of `config` (dist.init_timeout_s / step_timeout_s, defaults applied).
double StartupDeadline(const framecast::RunConfig& config);
double StepDeadline(const framecast::RunConfig& config);

// What the ranks agreed at a step boundary.
struct StepVerdict {
  int stop_signal = 0;          // > 0: some rank received a stop signal (the lowest number seen)
  bool nonfinite = false;       // some rank saw a NaN or Inf loss or parameter
  std::string nonfinite_ranks;  // "1, 2": the ranks that saw one
};

// Whether the loss (the report's first scalar) and every floating tensor of `state` are finite.
// Local; one host synchronisation.
Result<bool> AllFinite(const StepReport& report, const std::vector<ckpt::NamedTensor>& state);

class StepGuard {
 public:
  StepGuard(const framecast::RunConfig& config, int rank, int world_size);

  framecast::DistConfig::NonFinite policy() const { return policy_; }

  // Before a step of `stage`: copies trainer.StepState(stage), the state the step can change, on
  // its device (reusing the previous copy's memory; a copy of another stage's tensors is freed).
  Status BeforeStep(Trainer& trainer, int stage);
  // Collective over `comm`, after the step and before any averaging of its report: one all-reduce
  // of this rank's stop flag and non-finite flag (the loss and trainer.StepState(stage)).
  Result<StepVerdict> AfterStep(dist::Communicator* comm, Trainer& trainer, int stage,
                                StepReport* report, int64_t global_step);
  // Undoes the last step: loads the copy taken by BeforeStep with trainer.LoadStepState(stage).
  Status Restore(Trainer& trainer, int stage);
  // Bytes the copy holds (the guard's memory cost, on the trainer's device).
  int64_t held_bytes() const;

 private:
  framecast::DistConfig::NonFinite policy_;
  int rank_, world_size_;
  TensorMap last_good_;
  int test_nan_rank_ = -1;
  int64_t test_nan_step_ = -1;
  std::vector<int64_t> test_hold_steps_;
  std::string test_hold_file_;
};

}  // namespace fc::train
