// SyncBatchNorm: batch normalisation whose statistics are computed over the global batch of all
// ranks (cross-replica batch norm), as a C++ autograd function.
//
// Input layouts (C = num_features, * = any trailing spatial dims, possibly none):
//   [N, C, *]        statistics per channel c             (1d/2d/3d batch norm)
//   [B, T, C, *]     statistics per (t, c), time_steps = T (CVG's per-time-step batch norm)
//
// Training forward: each rank computes its local (count, mean, M2) per statistic group in the
// input's accumulation type; one all-gather of [mean | M2 | count] (2K+1 doubles, K groups); every
// rank merges the rows in rank order, so the global mean and biased variance are exact for uneven
// and empty local batches and bitwise identical on every rank. Running statistics are updated with
// the unbiased global variance M2 / (n - 1). Backward: one all-reduce (sum) of [sum(dy) |
// sum(dy * (x - mean))], then the usual batch-norm input gradient with the global count. The
// weight/bias gradients are the local contributions; GradientSync averages them like any other
// parameter gradient, which equals single-process batch norm on the concatenated batch.
// Eval mode uses the running statistics and issues no collective.
//
// Without a communicator attached the module calls LibTorch's own batch norm (fused native
// kernels); with a communicator of any size, including one rank, it runs the algorithm above. The
// tests check the synchronised path against LibTorch's batch norm on the concatenated batch.
// REQUIRES: while training, every rank calls forward and backward of every SyncBatchNorm layer the
// same number of times in the same order (a collective), including ranks whose local batch is
// empty.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "dist/communicator.h"

namespace fc::dist {

struct SyncBatchNormOptions {
  SyncBatchNormOptions(int64_t num_features) : num_features_(num_features) {}  // NOLINT
  TORCH_ARG(int64_t, num_features);
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(double, momentum) = 0.1;
  TORCH_ARG(bool, affine) = true;  // learnable per-channel weight and bias (shared over time)
  TORCH_ARG(bool, track_running_stats) = true;
  TORCH_ARG(int64_t, time_steps) = 0;  // > 0: input [B, T, C, *] with T == time_steps
};

class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl> {
 public:
  explicit SyncBatchNormImpl(const SyncBatchNormOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& input);

  // nullptr: local statistics only. The communicator must outlive the module's use.
  void set_communicator(Communicator* comm) { comm_ = comm; }
  Communicator* communicator() const { return comm_; }

  SyncBatchNormOptions options;
  at::Tensor weight, bias;               // [C] when affine
  at::Tensor running_mean, running_var;  // [C], or [T * C] per time step
  at::Tensor num_batches_tracked;

 private:
  Communicator* comm_ = nullptr;
};
TORCH_MODULE(SyncBatchNorm);

// Attaches `comm` to every SyncBatchNorm inside `module` (recursively); returns how many.
// Parallelism applied from outside: models build SyncBatchNorm layers and stay single-device.
int AttachSyncBatchNorm(torch::nn::Module& module, Communicator* comm);

// The autograd function on the canonical layout x: [N, K, S]. weight/bias: [K] or undefined.
// running_* may be undefined. Exposed for tests and for layers that precompute their own layout.
at::Tensor SyncBatchNormTrain(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor running_mean, at::Tensor running_var, double eps,
                              double momentum, Communicator* comm);

}  // namespace fc::dist
