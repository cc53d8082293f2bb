// The hierarchical VRNN family as a run-loop Trainer, and the pieces `framecast eval` and the
// tests reuse: one data-parallel replica (model, GradientSync, Adam, data loader) per rank.
//
// Step: per micro-batch, the teacher-forced ELBO loss of models/hvrnn (batch mean) divided by the
// number of micro-batches, backward (NoSync on all but the last micro-batch), GradientSync
// averages over ranks, Adam (coupled weight decay) steps. The global batch of a step is the same
// samples for any number of ranks (data/sampler.h), so N ranks x b equals 1 process x N*b up to
// the reparameterisation noise, which is drawn from each rank's own generator (seeded from the run
// seed and the rank, saved in checkpoints). With `keyed_noise`, noise is instead a function of
// (seed, step, global sample position): training is then independent of the number of ranks
// (the tests use it; it is slower, as noise is drawn per sample on the CPU).
#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "dist/gradient_sync.h"
#include "eval/best_of_n.h"
#include "eval/likelihood.h"
#include "models/hvrnn/hvrnn.h"
#include "train/family.h"
#include "train/performance.h"
#include "train/prediction_eval.h"
#include "train/replica_parts.h"
#include "train/trainer.h"

namespace fc::train {

struct HvrnnReplicaOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // parameters and frames (float64 for exactness tests)
  bool keyed_noise = false;
  int loader_threads = -1;  // -1: data.loader_threads
  // Benchmarks: when set, no data source is opened and every micro-batch is this batch (frames
  // float [per-rank batch, D + T, C, H, W] in [0, 1]), so a step costs only the step itself.
  data::Batch fixed_batch;
};

class HvrnnReplica : public Trainer {
 public:
  // comm == nullptr: single process (no gradient synchronisation; rank 0 of 1).
  static Result<std::unique_ptr<HvrnnReplica>> Create(const framecast::RunConfig& config,
                                                      dist::Communicator* comm,
                                                      const HvrnnReplicaOptions& options);
  Status Seek(int64_t global_step);
  // The run loop's Trainer (one stage): Seek, Step, Samples (SamplePreview) and Evaluate
  // (EvaluateHeldOut) below.
  std::string family() const override { return "hvrnn"; }
  std::string Describe() const override;
  Status Seek(int, int64_t, int64_t global_step) override { return Seek(global_step); }
  Result<StepReport> Step(int, int64_t step_in_stage, int64_t global_step) override {
    return Step(step_in_stage, global_step);
  }
  Result<std::vector<log::SampleGrid>> Samples(int, int clips, uint64_t seed) override;
  std::vector<EvalMetric> EvalMetrics(int) const override { return EvalMetrics(); }
  Result<std::vector<double>> Evaluate(int) override { return EvaluateHeldOut(); }
  // One optimizer step: lr and beta applied, scalars of this rank's share returned: loss, nll,
  // kl, beta, lr, kl<l> per latent level; on logging steps (IsLoggingStep) also grad_norm and
  // active<l>, the number of level-l latent channels whose KL, averaged over the global batch,
  // space and time, exceeds kActiveChannelKl (collective: one all-reduce on those steps); the
  // per-channel KL values and the loader / gradient-sync wait times are in the report's details.
  //
  // Host synchronisation: the step's scalars are accumulated on the device over the micro-batches
  // and read in one copy at the end of the step (the run loop needs the loss of every step for
  // its non-finite guard); the logging-step diagnostics add their own reads. Nothing else in the
  // step waits for the device.
  //
  // Performance (config.performance, train/performance.h): bf16 autocast around forward_train,
  // channels-last parameters, device prefetch. cuda_graphs: on one CUDA rank with
  // accumulation_steps 1, default noise (not keyed) and no activation checkpointing, the first
  // step captures forward_train + loss + backward of one micro-batch into a CUDA graph (after 3
  // warm-up iterations on a side stream that do not touch the parameters); every step then copies
  // its frames and beta into the graph's static inputs and replays it, which writes the
  // parameters' gradients, and runs the optimizer (and the logging-step diagnostics) eagerly. The
  // reparameterisation noise comes from the CUDA default generator inside the graph (philox,
  // advanced per replay as in eager mode). Anything else runs eagerly, said once in the log.
  Result<StepReport> Step(int64_t step_in_stage, int64_t global_step);
  // Whether steps replay a captured CUDA graph (after the first step).
  bool graph_captured() const;

  // A latent channel is "active" above this mean KL in nats (the thesis' figure 4.4, after
  // Maaloe et al. 2019).
  static constexpr double kActiveChannelKl = 0.01;

  models::hvrnn::Hvrnn& model() { return model_; }
  torch::optim::Adam& optimizer() { return *optimizer_; }
  int64_t per_rank_batch() const { return per_rank_batch_; }
  int64_t accumulation() const { return accumulation_; }
  double steps_per_epoch() const { return steps_per_epoch_; }
  int64_t skipped_clips() const { return data_.skipped(); }

  Result<std::vector<ckpt::NamedTensor>> ReplicatedState() override;
  std::vector<std::string> ReplicatedStateNames(const framecast::ckpt::Manifest& m) override;
  Status LoadReplicatedState(const TensorMap& from) override;

  // Sample preview (log/samples.h): for each of the first `clips` clips of the held-out set
  // (data::MakeTestSource, context + predicted frames), two tiles side by side: the ground truth,
  // and the context followed by model->generate's prediction (noise from a generator seeded by
  // `seed`; the training random streams and the model's mode are left as they were). No
  // collectives. Tiles are float [D + T, C, H, W] in [0, 1] on the CPU; grid columns 2.
  Result<log::SampleGrid> SamplePreview(int clips, uint64_t seed);

  // Evaluation during training (Trainer::Evaluate): best-of-eval.samples_during_training mean
  // PSNR and SSIM over data.eval_predicted_frames, then the held-out -ELBO in nats per video and
  // bits per dimension, on the first eval.sequences_during_training held-out sequences split over
  // the ranks (train/prediction_eval.h with HvrnnPrediction). Collective; the same values on every
  // rank; the model's mode and the training noise streams are left as they were.
  static std::vector<EvalMetric> EvalMetrics();
  Result<std::vector<double>> EvaluateHeldOut();

 private:
  using Scalars = std::vector<std::pair<std::string, double>>;
  HvrnnReplica() = default;
  // Averages `kl_channel` (per level [C_l], float64 CPU) over ranks, appends one detail per
  // channel ("kl_channel/level<l>/<c>") and returns each level's active-channel count.
  Result<std::vector<int64_t>> KlChannelReport(const std::vector<at::Tensor>& kl_channel,
                                               Scalars* details);
  // forward_train + loss + backward of one micro-batch (eager, or the captured graph).
  Result<models::hvrnn::TrainOutput> ForwardBackward(const at::Tensor& frames, double beta,
                                                     const models::hvrnn::NoiseFn& noise);
  struct Graph;

  framecast::RunConfig config_;
  dist::Communicator* comm_ = nullptr;
  HvrnnReplicaOptions options_;
  StepPerformance perf_;
  bool use_graph_ = false;  // cuda_graphs requested and supported here
  std::shared_ptr<Graph> graph_;
  models::hvrnn::Hvrnn model_{nullptr};
  std::unique_ptr<dist::GradientSync> sync_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  TrainData data_;
  int64_t per_rank_batch_ = 0, accumulation_ = 1, context_ = 0, predicted_ = 0;
  double steps_per_epoch_ = 0;
  // This rank's held-out sequences for EvaluateHeldOut (read on first use) and the first's index.
  at::Tensor eval_clips_;
  int64_t eval_first_ = 0;
};

// The model's state names: "model/hvrnn/<path>", optimizer "optim/model/<path>/<field>".
inline constexpr const char* kHvrnnModelPrefix = "model/hvrnn";

// Evaluation of an HVRNN, shared by `framecast eval` and the evaluation during training. The
// model is used as it is (the caller sets eval mode). Noise comes from private CPU generators
// keyed by the run seed and each batch's first global sequence index (and the sample), so no
// training random stream is consumed and a rerun on the same number of ranks repeats the numbers.
//
// The best-of-N predictor for eval::Evaluate over this rank's sequences, the first of which has
// global index `first_index` (eval::Evaluate walks them in consecutive batches, samples 0..N-1 of
// a batch before the next batch).
eval::PredictFn HvrnnPredictor(models::hvrnn::Hvrnn model, uint64_t seed, int64_t first_index);
// The model as the shared prediction evaluation sees it (train/prediction_eval.h): the predictor
// above, HvrnnHeldOutElbo, and single predictions from a CPU generator seeded by the caller (the
// model's mode is restored).
PredictionModel HvrnnPrediction(models::hvrnn::Hvrnn model, const framecast::RunConfig& config);
// The held-out negative ELBO (eval/likelihood.h) of this rank's clips [n, D + T, C, H, W]: beta 1,
// one posterior sample, the Gaussian likelihood's normalising constant included (the training
// loss omits it; `note` says so). Collective.
Result<eval::ElboResult> HvrnnHeldOutElbo(models::hvrnn::Hvrnn model,
                                          const framecast::RunConfig& config,
                                          const at::Tensor& local_clips, int64_t first_index,
                                          int64_t batch, dist::Communicator* comm);

// The model of `config` with the weights of committed step `step_dir` (its `manifest`), on the
// CPU in training mode; errors name the step.
Result<models::hvrnn::Hvrnn> LoadHvrnn(const framecast::RunConfig& config,
                                       const std::string& step_dir,
                                       const framecast::ckpt::Manifest& manifest);

}  // namespace fc::train
