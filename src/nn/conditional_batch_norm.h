// Conditional batch norm (BigGAN "ccbn", CVG spec 2.2) with per-time-step statistics.
//
//   out[b, t, c, ...] = BN(x)[b, t, c, ...] * (1 + gain(y)[b, c]) + bias(y)[b, c]
//
// x: [B, T, C, *] (any trailing spatial dims); y: [B, cond_dim], the conditioning vector (CVG:
// [z ; class embedding]). gain and bias are SN linear maps without bias term (BigGAN). BN has no
// affine parameters of its own and normalises each (t, c) over (B, *) — per-frame statistics —
// through the runtime's dist::SyncBatchNorm (member `bn`, options time_steps = T). Consequences:
//   - dist::AttachSyncBatchNorm(model, comm) finds `bn` (it walks all submodules) and makes the
//     statistics cross-rank: forward all-gathers the per-(t, c) moments, backward all-reduces the
//     gradient sums, exactly single-process BN on the concatenated global batch. Without a
//     communicator it is LibTorch's native batch norm.
//   - running buffers are bn->running_mean / running_var of shape [T * C]; they are tied to T. Use
//     nn::SetTimeSteps (standing_stats.h) to run at another length, then rebuild the statistics
//     with nn::AccumulateStandingStats.
// The gain/bias maps are per-sample and never communicated; their gradients are local and are
// averaged by GradientSync like any parameter.
// REQUIRES: x.size(1) == time_steps and x.size(2) == num_features; y.size(0) == x.size(0).
// With a communicator attached, every rank must call forward/backward the same number of times
// while training (a collective; see dist/sync_batch_norm.h).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include "dist/sync_batch_norm.h"
#include "nn/spectral_norm.h"

namespace fc::nn {

struct ConditionalBatchNormOptions {
  ConditionalBatchNormOptions(int64_t num_features, int64_t cond_dim, int64_t time_steps)
      : num_features_(num_features), cond_dim_(cond_dim), time_steps_(time_steps) {}
  TORCH_ARG(int64_t, num_features);
  TORCH_ARG(int64_t, cond_dim);
  TORCH_ARG(int64_t, time_steps);  // > 0
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(double, momentum) = 0.1;
  TORCH_ARG(SpectralNormOptions, sn) = {};  // of the gain and bias maps
};

class ConditionalBatchNormImpl : public torch::nn::Cloneable<ConditionalBatchNormImpl> {
 public:
  explicit ConditionalBatchNormImpl(const ConditionalBatchNormOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& y);

  ConditionalBatchNormOptions options;
  dist::SyncBatchNorm bn{nullptr};  // affine = false, per-time-step
  SNLinear gain{nullptr}, bias{nullptr};
};
TORCH_MODULE(ConditionalBatchNorm);

}  // namespace fc::nn
