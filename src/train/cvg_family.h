// The cascaded video GAN (models/cvg) as a run-loop Trainer: the cascade coordinator, around the
// single-device models::cvg::Cascade (draws, fakes, real views, sampling). Stage i
// of the run trains level i + 1; earlier levels are frozen and generate the level's input on the
// fly, on every rank, under no-grad.
//
// One iteration of level l on every rank (src/models/cvg/README.md "Training loop"):
//   2 x D step: per micro-batch a fresh real batch (the data source's clip viewed at the level:
//     PyramidDown to the level's frame skip and resolution, a random train_frames window) and a
//     fresh fake batch (z, uniform labels, the frozen levels' output cropped to random windows,
//     G_l in train mode under no-grad: synchronised per-time-step BN statistics); hinge loss /
//     micro-batches, backward (NoSync on all but the last micro-batch), the D GradientSync
//     averages over ranks, Adam steps on D.
//   1 x G step: D's parameters requires_grad(false) (no gradient, no synchronisation of D); fresh
//     fakes; generator hinge loss; the G GradientSync; Adam on G.
// The global batch of a D or G step is data.global_batch = ranks x per-rank batch x
// accumulation_steps; BN statistics cover one micro-batch over all ranks (logged by Describe).
// Fake labels are uniform over the classes; real labels are the clips' own.
//
// EndStage(l): the level's generator is frozen (eval, requires_grad false). When the level's
// full-length output is longer than it trained on (windows), a second copy of it is unrolled to
// the full length and its per-time-step BN statistics are rebuilt with standing_stat_passes
// forward passes of the whole cascade (synchronised over ranks); it is the generator inference
// (SampleCascade, `framecast sample`) uses.
//
// Checkpoint names: "model/level<k>/G/...", "model/level<k>/D/...", "model/level<k>/G_unrolled/..."
// (after stage k, if unrolled), "optim/level<k>/{G,D}/...". Every level's state is in every
// checkpoint, so a resume in any stage restores the frozen generators exactly.
//
// Randomness: each rank draws z, labels, windows and D_S frames from its own CPU generator
// (seeded from the run seed and the rank, saved in checkpoints). With keyed_noise every sample's
// draws are instead a function of (seed, step, phase, global sample position), so N ranks x b
// equal 1 process x N*b (the tests use it).
#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "dist/gradient_sync.h"
#include "models/cvg/cascade.h"
#include "models/cvg/level.h"
#include "train/performance.h"
#include "train/replica_parts.h"
#include "train/trainer.h"

namespace fc::train {

struct CvgReplicaOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // parameters and frames (float64 for exactness tests)
  bool keyed_noise = false;
  bool with_data = true;    // false: no data source (sampling from a checkpoint)
  int loader_threads = -1;  // -1: data.loader_threads
  // Benchmarks: with_data false and this set, every micro-batch's real clips are this batch
  // (frames float [per-rank batch, T, C, H, W] in [0, 1], labels int64 [B] or undefined), so a
  // step costs only the iteration itself.
  data::Batch fixed_batch;
};

class CvgTrainingEval;  // train/cvg_eval.h

// One rank's cascade, and the run loop's Trainer: stage k trains level k + 1.
class CvgReplica : public Trainer {
 public:
  ~CvgReplica() override;
  // comm == nullptr: single process (no gradient synchronisation, local BN statistics).
  static Result<std::unique_ptr<CvgReplica>> Create(const framecast::RunConfig& config,
                                                    dist::Communicator* comm,
                                                    const CvgReplicaOptions& options);
  // Freezes the levels before `stage`, prepares the stage's gradient synchronisation (collective)
  // and positions the data stream at `global_step`.
  Status Seek(int stage, int64_t global_step);
  Status Seek(int stage, int64_t, int64_t global_step) override { return Seek(stage, global_step); }
  std::string family() const override { return "cvg"; }
  // One iteration (2 D steps + 1 G step) of level `stage`. REQUIRES: Seek(stage, ...) first.
  // Host synchronisation: the losses and scores are accumulated on the device and read in one
  // copy at the end of the iteration (the run loop's non-finite guard needs them every step);
  // random draws are copied to the device without waiting; the labels are checked on the CPU.
  // Performance (config.performance): bf16 autocast around generation, D and the losses (which
  // reduce in fp32, models/cvg/loss.h); channels-last parameters; device prefetch. CUDA graphs
  // are not used for the cascade (config validation rejects them).
  Result<StepReport> Step(int stage, int64_t step_in_stage, int64_t global_step) override;
  // Freezes level `stage` and, if it is unrolled at inference, rebuilds its standing statistics
  // at full length (collective).
  Status EndStage(int stage) override;

  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override;
  std::vector<std::string> ReplicatedStateNames(const framecast::ckpt::Manifest& m) override;
  Status LoadReplicatedState(const TensorMap& from) override;
  // The step guard's state: stage k trains level k alone, so the frozen levels' state (their
  // optimizers included) is not copied.
  Result<std::vector<ckpt::NamedTensor>> StepState(int stage) override { return LevelState(stage); }
  Status LoadStepState(int stage, const TensorMap& from) override {
    return LoadLevelState(stage, from);
  }
  // Evaluation during training (CvgTrainingEval, train/cvg_eval.h).
  std::vector<EvalMetric> EvalMetrics(int stage) const override;
  Status PrepareEval(const std::string& run_dir) override;
  Result<std::vector<double>> Evaluate(int stage) override;
  // Level `level`'s part of ReplicatedState (its G, D, inference copy and both optimizers): all
  // that Step(stage = level) changes. LoadLevelState loads that part alone, with
  // LoadReplicatedState's errors; InvalidArgument for a level the cascade does not have.
  Result<std::vector<ckpt::NamedTensor>> LevelState(int level);
  Status LoadLevelState(int level, const TensorMap& from);
  // Marks levels 0..levels-1 trained and frozen (what Seek does; for sampling).
  void FreezeLevels(int levels);

  // Full-length samples of the cascade's first `levels` levels (frozen ones use their inference
  // generator; a level still training runs in eval mode at its training length on a random
  // window of its input). Returns every level's output [B, T_j, C, H_j, W_j] in [-1, 1], on the
  // replica's device. No collectives, no gradient; draws only from `gen`; leaves modes as they
  // were. labels: [B] int64 or undefined (unconditional).
  Result<std::vector<at::Tensor>> SampleCascade(int levels, const at::Tensor& labels, int64_t batch,
                                                at::Generator gen);
  // One grid per level 0..stage ("level<k>", clips tiles, in [0, 1]); labels i % num_classes.
  Result<std::vector<log::SampleGrid>> Samples(int stage, int clips, uint64_t seed) override;

  int num_levels() const { return cascade_->num_levels(); }
  models::cvg::CvgLevel& level(int i) { return cascade_->level(i); }
  torch::optim::Adam& optimizer(int level, char network) {
    return network == 'G' ? *opt_g_[level] : *opt_d_[level];
  }
  // The generator inference uses: the unrolled copy if there is one, else the trained one.
  models::cvg::CvgGenerator& inference_generator(int level);
  int64_t per_rank_batch() const { return per_rank_batch_; }
  int64_t accumulation() const { return accumulation_; }
  int64_t num_classes() const { return config_.model().cvg().num_classes(); }
  std::string Describe() const override;

 private:
  CvgReplica() = default;
  // The level's full-length inference copy (models/cvg/cascade.h), with SyncBatchNorm attached.
  Status BuildUnrolled(int level);
  std::string Prefix(int level) const;

  at::Tensor ToDevice(const at::Tensor& t) const;  // non-blocking copy (no host wait)

  framecast::RunConfig config_;
  dist::Communicator* comm_ = nullptr;
  CvgReplicaOptions options_;
  StepPerformance perf_;
  at::TensorOptions like_;
  // The levels, their inference copies, the frozen flags, draws, fakes and real views.
  std::unique_ptr<models::cvg::Cascade> cascade_;
  std::vector<std::unique_ptr<torch::optim::Adam>> opt_g_, opt_d_;
  std::vector<framecast::OptimizerConfig> oc_g_, oc_d_;
  int sync_level_ = -1;
  std::unique_ptr<dist::GradientSync> sync_g_, sync_d_;
  TrainData data_;
  int64_t per_rank_batch_ = 0, accumulation_ = 1;
  double steps_per_epoch_ = 0;
  bool labels_checked_ = false;
  std::unique_ptr<CvgTrainingEval> eval_;
};

// Levels of `config`'s cascade finished in a checkpoint: the leading stages the manifest marks DONE
// (`framecast sample` and `framecast eval` use only those).
int FinishedLevels(const framecast::ckpt::Manifest& manifest, const framecast::RunConfig& config);

}  // namespace fc::train
