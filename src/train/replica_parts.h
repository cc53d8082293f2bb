// Plumbing every family's replica shares: its data stream, its Adam optimizers and the checks of
// the micro-batch loop. A replica (a Trainer) composes these; the mathematics of its step stays
// in the family.
#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <vector>

#include "ckpt/manifest.pb.h"
#include "data/loader.h"
#include "proto/config.pb.h"
#include "train/state.h"
#include "util/status.h"

namespace fc::train {

// A rank's training data: the source, the loader over this rank's share of every step's global
// batch (data/sampler.h: the same samples for any number of ranks), and a device prefetcher when
// performance.device_prefetch asks for one.
struct TrainData {
  std::shared_ptr<const data::ClipSource> source;
  std::unique_ptr<data::Loader> loader;
  std::unique_ptr<data::DevicePrefetcher> prefetcher;
  double steps_per_epoch = 0;  // source size / (global batch x batches_per_step)

  // Positions the stream at `global_step` (Trainer::Seek).
  void Start(int64_t global_step);
  // The next micro-batch, or `fixed` when no source was opened (benchmarks); checks that it is
  // (global_step, micro) and says "data loader out of step" otherwise.
  Result<data::Batch> Next(const data::Batch& fixed, int64_t global_step, int64_t micro);
  int64_t skipped() const { return loader ? loader->skipped() : 0; }
};

struct TrainDataOptions {
  int64_t clip_frames = 0;  // frames per clip
  int world = 1, rank = 0;
  int accumulation = 1;     // micro-batches per step
  int loader_threads = -1;  // -1: data.loader_threads
  at::Device device = at::kCPU;
  int device_prefetch = 0;   // micro-batches copied ahead to `device` (0: none)
  int batches_per_step = 1;  // global batches a step consumes (cvg: one per discriminator step)
};
Result<TrainData> OpenTrainData(const framecast::RunConfig& config, const TrainDataOptions& o);

// Adam over `params` from `o` (lr, betas, eps, coupled weight decay).
std::unique_ptr<torch::optim::Adam> MakeAdam(const framecast::OptimizerConfig& o,
                                             std::vector<at::Tensor> params);

// The replicated state of a single-network family: the module's parameters and buffers under
// `prefix` ("model/<family>") and its optimizer's state under "optim/model" (train/state.h); the
// names a resume must find in `manifest`; loading both back.
Result<std::vector<ckpt::NamedTensor>> ModelAndOptimizerState(torch::nn::Module& module,
                                                              torch::optim::Optimizer& optimizer,
                                                              const std::string& prefix);
std::vector<std::string> ModelAndOptimizerNames(torch::nn::Module& module,
                                                const std::string& prefix,
                                                const framecast::ckpt::Manifest& manifest);
Status LoadModelAndOptimizer(torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                             const std::string& prefix, const TensorMap& from);

// The module's parameters and buffers from committed step `step_dir` (its `manifest`); errors
// name the step ("... does not fit the config's model").
Status LoadModuleFromStep(torch::nn::Module& module, const std::string& prefix,
                          const std::string& step_dir, const framecast::ckpt::Manifest& manifest);

}  // namespace fc::train
