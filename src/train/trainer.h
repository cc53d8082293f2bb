// One model family's training on one rank, as the run loop (train/run.h) drives it.
//
// A Trainer owns its networks, optimizers, gradient synchronisation and data loader. The loop owns
// the schedule (stages and steps), checkpoint timing, resume and logging. Contract:
//   - Seek(stage, step, global_step) is called once before the first Step, after any resume load,
//     so the trainer can position its data stream (data are a function of the global step).
//   - Step trains one optimizer step of the stage on this rank's share and returns its scalars; the
//     loop averages every scalar over ranks in one all-reduce (so each must be a per-rank mean
//     whose rank average is the global value).
//   - ReplicatedState is what every rank holds identically (parameters, buffers, optimizer state);
//     per-rank state (generators) is saved by the loop.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ckpt/checkpoint.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "log/samples.h"
#include "proto/config.pb.h"
#include "train/state.h"

namespace fc::train {

struct StepReport {
  // Named scalars; the first is the loss printed on the step line.
  std::vector<std::pair<std::string, double>> scalars;
  // Named scalars written to TensorBoard and metrics.jsonl but not printed (per-channel KL,
  // loader and gradient-sync wait times). Averaged over ranks like `scalars`.
  std::vector<std::pair<std::string, double>> details;
};

// True when step `step_done` (1-based within `stage`) is a logging step: every
// logging.every_steps steps and at the stage's last step. Trainers compute their costlier
// diagnostics (gradient norms, cross-rank KL statistics) only then.
inline bool IsLoggingStep(const framecast::RunConfig& config, int stage, int64_t step_done) {
  const int64_t every = config.logging().every_steps();
  return (every > 0 && step_done % every == 0) || step_done == config.stages(stage).steps();
}

// One metric of the evaluation during training (eval.every_steps).
struct EvalMetric {
  std::string name;  // "psnr", "fid", ...; TensorBoard tag "eval/<name>"
  bool higher_is_better = false;
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  // The model family name stored in checkpoint manifests ("demo", "hvrnn", "cvg").
  virtual std::string family() const = 0;
  // One line for the start-up log: per-rank batch, micro-batches, parameter count.
  virtual std::string Describe() const = 0;
  virtual Status Seek(int stage, int64_t step_in_stage, int64_t global_step) = 0;
  virtual Result<StepReport> Step(int stage, int64_t step_in_stage, int64_t global_step) = 0;
  // Called after a stage's last step (a cascade freezes the level it just trained).
  virtual Status EndStage(int stage) { return Status::Ok(); }
  virtual Result<std::vector<ckpt::NamedTensor>> ReplicatedState() = 0;
  // The names a resume must find in `manifest` (those of the model, and of the optimizer state
  // when the manifest has any).
  virtual std::vector<std::string> ReplicatedStateNames(
      const framecast::ckpt::Manifest& manifest) = 0;
  virtual Status LoadReplicatedState(const TensorMap& from) = 0;
  // The part of ReplicatedState that Step(stage, ...) can change, and a loader for that part
  // alone. The step guard (train/faults.h) copies it before every step to undo a non-finite one,
  // so a family whose stages train disjoint networks (a cascade) saves the copy of the rest.
  // Default: all of it.
  virtual Result<std::vector<ckpt::NamedTensor>> StepState(int stage) { return ReplicatedState(); }
  virtual Status LoadStepState(int stage, const TensorMap& from) {
    return LoadReplicatedState(from);
  }
  // Sample previews for the people watching the run (log/samples.h), from up to `clips` held-out
  // clips, noise seeded by `seed`. Called on rank 0 only (no collectives), between steps; must
  // leave the training state and its random streams untouched. Default: none.
  virtual Result<std::vector<log::SampleGrid>> Samples(int stage, int clips, uint64_t seed) {
    return std::vector<log::SampleGrid>{};
  }
  // Evaluation during training (eval.every_steps; train/run.h). EvalMetrics: what Evaluate reports
  // in `stage`, in order; empty (the default): the family has none, and a config asking for it is
  // refused. PrepareEval: called once on every rank before the first step when eval.every_steps >
  // 0, after the run directory exists (load or build the feature networks); collective.
  // Evaluate: collective; evaluates the networks `stage` trains on the held-out set
  // (eval.sequences_during_training sequences, noise keyed by the run seed so that equal weights
  // give equal numbers) and returns the same values on every rank. It must leave the training
  // state, the networks' modes and every training random stream as they were.
  virtual std::vector<EvalMetric> EvalMetrics(int stage) const { return {}; }
  virtual Status PrepareEval(const std::string& run_dir) { return Status::Ok(); }
  virtual Result<std::vector<double>> Evaluate(int stage) {
    return Status::InvalidArgument("eval.every_steps: family " + family() +
                                   " has no evaluation during training");
  }
};

// The trainer for `config`'s model family (the registry, train/family.h). Collective: every rank
// calls it.
Result<std::unique_ptr<Trainer>> MakeTrainer(const framecast::RunConfig& config,
                                             const dist::World& world, dist::Communicator* comm);

// Names of optimizer state tensors of `manifest` under "<prefix>/".
std::vector<std::string> NamesUnder(const framecast::ckpt::Manifest& manifest,
                                    const std::string& prefix);

}  // namespace fc::train
