// Evaluation shared by the video-prediction families (hvrnn, srvp): what they are asked for is the
// same (best-of-N PSNR/SSIM/LPIPS/FVD of predictions from context frames next to the
// copy-last-frame, mean-frame and blur-last-frame baselines, and the held-out negative ELBO), so
// a family hands over its model as a PredictionModel and these functions do the rest.
//
//   RunPredictionEval   `framecast eval` (Family::Eval): ranks split the held-out sequences; rank 0
//                       prints the table and writes report.json, curves.csv, curves_<metric>.png,
//                       table.txt, the TensorBoard eval scalars and the GIF.
//   EvaluateDuringTraining  the evaluation during training (Trainer::Evaluate): mean best-of-N PSNR
//                       and SSIM, then -ELBO in nats per video and bits per dimension.
//   PredictionTiles     sample previews and `framecast sample`: ground truth next to context +
//                       one prediction.
// The model is used as it is: callers set its mode (eval for generation) and device.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "dist/world.h"
#include "eval/best_of_n.h"
#include "eval/likelihood.h"
#include "proto/config.pb.h"
#include "train/family.h"
#include "train/trainer.h"
#include "util/status.h"

namespace fc::train {

struct PredictionModel {
  std::string name;  // the method's name in tables ("hvrnn", "srvp")
  // The best-of-N predictor over this rank's sequences, the first of which has global index
  // `first_index` (noise keyed by it and by the sample, so reruns repeat the numbers).
  std::function<eval::PredictFn(int64_t first_index)> predictor;
  // The held-out -ELBO of this rank's clips [n, D + T, C, H, W] (collective).
  std::function<Result<eval::ElboResult>(const at::Tensor& local_clips, int64_t first_index,
                                         int64_t batch, dist::Communicator* comm)>
      elbo;
  // One prediction of `horizon` frames from context [B, D, C, H, W] float in [0, 1] on the
  // model's device, noise from a generator seeded by `seed`: [B, horizon', C, H, W] in [0, 1]
  // (horizon' may exceed horizon for a higher frame rate).
  std::function<Result<at::Tensor>(const at::Tensor& context, int64_t horizon, uint64_t seed)>
      predict_once;
};

// The run rules every prediction family shares, errors naming `family`'s fields: video clips
// (not procedural blobs), data.context_frames and predicted_frames >= 1, one adam optimizer, one
// stage, and on Moving MNIST 1 channel and the canvas size.
Status ValidatePredictionRun(const framecast::RunConfig& config, const std::string& family,
                             int image_channels, int image_size);

// A best-of-N predictor for eval::Evaluate over this rank's sequences (the first with global
// index `first_index`; eval::Evaluate walks them in consecutive batches, samples 0..N-1 of a batch
// before the next): sample s of the batch whose first sequence is g calls generate(ctx, horizon,
// key) with key a hash of (seed, s, g), so a rerun on the same number of ranks repeats the numbers.
using KeyedGenerate =
    std::function<Result<at::Tensor>(const at::Tensor& context, int64_t horizon, uint64_t key)>;
eval::PredictFn KeyedPredictor(KeyedGenerate generate, uint64_t seed, int64_t first_index);

// `framecast eval CONFIG --checkpoint STEP` of a prediction family; `device` is the model's.
Status RunPredictionEval(const framecast::RunConfig& config, const EvalRequest& request,
                         dist::World& world, const PredictionModel& model, at::Device device);

// The metrics EvaluateDuringTraining returns, in order.
std::vector<EvalMetric> PredictionEvalMetrics();

// Evaluation during training on this rank's held-out clips `local` (the first with global index
// `first_index`): {psnr, ssim, nelbo, nelbo_bpd}, the same on every rank. Collective.
Result<std::vector<double>> EvaluateDuringTraining(const framecast::RunConfig& config,
                                                   const PredictionModel& model,
                                                   const at::Tensor& local, int64_t first_index,
                                                   dist::Communicator* comm);

// This rank's share of eval.sequences_during_training held-out sequences, on `device`, and the
// global index of its first (for EvaluateDuringTraining).
Result<std::pair<at::Tensor, int64_t>> TrainingEvalClips(const framecast::RunConfig& config,
                                                         int rank, int size, at::Device device);

// Held-out sequences 0..clips-1 as pairs of tiles: the ground truth, and the context followed by
// one prediction of `horizon` frames (noise seeded by `seed`). Float [frames, C, H, W] in [0, 1]
// on the CPU. `device`: the model's.
Result<std::vector<at::Tensor>> PredictionTiles(const PredictionModel& model,
                                                const framecast::RunConfig& config, int64_t clips,
                                                int64_t horizon, uint64_t seed, at::Device device);

}  // namespace fc::train
