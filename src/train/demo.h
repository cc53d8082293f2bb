// The demo workload: a small conv net with batch norm trained data-parallel on procedurally
// generated frames (a coloured Gaussian blob on noise; the net regresses the blob's centre).
//
// Data are a pure function of (seed, global sample index): sample i is drawn from its own
// generator, so the global batch of step s is samples [s * G, (s + 1) * G) for any number of ranks,
// and rank r takes the slice [r * b, (r + 1) * b). Training on N ranks with per-rank batch b is
// therefore the same computation as one process on batch N * b, which the tests check.
// The model is single-device; DemoTrainer applies parallelism from outside (SyncBatchNorm
// attached to the communicator, one GradientSync for the network).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/optimizer.h>

#include <memory>

#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "dist/sync_batch_norm.h"

namespace fc::train {

struct DemoNetImpl : torch::nn::Module {
  explicit DemoNetImpl(int64_t width = 16);
  at::Tensor forward(const at::Tensor& frames);  // [B, 3, H, W] -> [B, 2]
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  dist::SyncBatchNorm bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(DemoNet);

struct DemoBatch {
  at::Tensor frames;   // [count, 3, size, size] float
  at::Tensor targets;  // [count, 2] blob centre in [-1, 1]
};
// Samples [first_index, first_index + count) of the stream seeded by `seed`.
DemoBatch MakeDemoBatch(uint64_t seed, int64_t first_index, int64_t count, int64_t size);

struct DemoOptions {
  int64_t steps = 30;
  int64_t per_rank_batch = 16;
  int64_t accumulation = 1;  // micro-batches per step (NoSync on all but the last)
  int64_t image_size = 32;
  int64_t width = 16;
  enum class Optimizer { kSgd, kAdam };
  Optimizer optimizer = Optimizer::kSgd;
  double lr = 0.05;
  double momentum = 0.9;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
  double weight_decay = 0;
  bool sync_bn = true;  // attach batch norm to the communicator
  uint64_t seed = 1234;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // parameters, buffers and frames
  dist::GradientSyncOptions sync;
};

// One data-parallel replica of the demo. With comm == nullptr it is the single-process reference
// (no GradientSync, local batch norm).
class DemoTrainer {
 public:
  static Result<std::unique_ptr<DemoTrainer>> Create(dist::Communicator* comm,
                                                     const DemoOptions& o);
  // One optimizer step on this rank's share of global step `step` (options.accumulation
  // micro-batches). Returns this rank's mean loss.
  Result<double> Step(int64_t step);
  // This rank's micro-batches of global step `step`.
  std::vector<DemoBatch> Batches(int64_t step) const;
  // One optimizer step on the given micro-batches (NoSync on all but the last).
  Result<double> StepOn(const std::vector<DemoBatch>& micro_batches);
  DemoNet& net() { return net_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  void SetLearningRate(double lr);
  dist::GradientSync* sync() { return sync_.get(); }

 private:
  DemoTrainer(dist::Communicator* comm, const DemoOptions& o);
  dist::Communicator* comm_;
  DemoOptions options_;
  DemoNet net_;
  std::unique_ptr<dist::GradientSync> sync_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace fc::train
