// The SRVP family (models/srvp) as a run-loop Trainer: one data-parallel replica per rank (model,
// SyncBatchNorm attached to the communicator, GradientSync, Adam, data loader), and the pieces
// `framecast eval` / `sample` and the tests reuse.
//
// Step: per micro-batch, forward_train's loss (the batch mean of the negative ELBO with the
// residual penalty) divided by the number of micro-batches, backward (NoSync on all but the
// last), GradientSync averages over ranks, Adam steps. Batch-norm statistics are those of the
// global micro-batch (SyncBatchNorm over T x per-rank batch frames per rank), so N ranks x b equal
// one process x N*b up to the noise; with `keyed_noise` (dist.keyed_noise) every random draw is a
// function of (seed, step, global sample position), and the equality holds to rounding.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dist/gradient_sync.h"
#include "models/srvp/srvp.h"
#include "train/family.h"
#include "train/prediction_eval.h"
#include "train/replica_parts.h"
#include "train/trainer.h"

namespace fc::train {

struct SrvpReplicaOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // parameters and frames (float64 for exactness tests)
  bool keyed_noise = false;
  int loader_threads = -1;  // -1: data.loader_threads
  // Benchmarks and tests: every micro-batch is this batch (frames float [per-rank batch, D + T,
  // C, H, W] in [0, 1]) and no data source is opened.
  data::Batch fixed_batch;
};

class SrvpReplica : public Trainer {
 public:
  // comm == nullptr: single process (local batch norm, no gradient synchronisation).
  static Result<std::unique_ptr<SrvpReplica>> Create(const framecast::RunConfig& config,
                                                     dist::Communicator* comm,
                                                     const SrvpReplicaOptions& options);
  std::string family() const override { return "srvp"; }
  std::string Describe() const override;
  Status Seek(int, int64_t, int64_t global_step) override;
  // Scalars: loss, nll, kl_y, kl_z, residual, lr (+ grad_norm on logging steps); details: loader
  // and gradient-sync waits, skipped clips.
  Result<StepReport> Step(int stage, int64_t step_in_stage, int64_t global_step) override;
  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override;
  std::vector<std::string> ReplicatedStateNames(const framecast::ckpt::Manifest& m) override;
  Status LoadReplicatedState(const TensorMap& from) override;
  // Ground truth next to context + prediction of data.predicted_frames (PredictionTiles).
  Result<std::vector<log::SampleGrid>> Samples(int stage, int clips, uint64_t seed) override;
  std::vector<EvalMetric> EvalMetrics(int) const override { return PredictionEvalMetrics(); }
  Result<std::vector<double>> Evaluate(int stage) override;

  models::srvp::Srvp& model() { return model_; }
  torch::optim::Adam& optimizer() { return *optimizer_; }
  int64_t per_rank_batch() const { return per_rank_batch_; }

 private:
  SrvpReplica() = default;
  framecast::RunConfig config_;
  dist::Communicator* comm_ = nullptr;
  SrvpReplicaOptions options_;
  models::srvp::Srvp model_{nullptr};
  std::unique_ptr<dist::GradientSync> sync_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  TrainData data_;
  int64_t per_rank_batch_ = 0, accumulation_ = 1;
  at::Tensor eval_clips_;
  int64_t eval_first_ = 0;
};

inline constexpr const char* kSrvpModelPrefix = "model/srvp";

// Noise of one training micro-batch whose first sample has global position `first` (keyed: the
// draws of sample i depend only on (seed, first + i, site, t)).
models::srvp::NoiseFn SrvpKeyedNoise(uint64_t seed, int64_t first);

// The model as the shared prediction evaluation sees it. euler_steps: sub-steps per frame at
// generation (0: the training value; 2 is the paper's dt/2).
PredictionModel SrvpPrediction(models::srvp::Srvp model, const framecast::RunConfig& config,
                               int64_t euler_steps = 0);

// The model of `config` with the weights of committed step `step_dir`, on the CPU in eval mode.
Result<models::srvp::Srvp> LoadSrvp(const framecast::RunConfig& config, const std::string& step_dir,
                                    const framecast::ckpt::Manifest& manifest);

}  // namespace fc::train
