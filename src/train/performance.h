// The training step's fast paths (RunConfig.performance, src/proto/config.proto), resolved for
// one device, and the small pieces the model-family steps use to apply them.
//
//   precision BF16   AutocastScope around the model forward and the loss (CUDA: the CUDA autocast
//                    dtype, CPU: the CPU autocast dtype, both set to bf16). Parameters, gradients,
//                    optimizer state and the gradient sync stay fp32; the loss code casts to the
//                    parameters' dtype before its reductions (models/hvrnn, models/cvg/loss.h).
//   channels_last    ToChannelsLast(module): 4-D parameters ChannelsLast, 5-D ChannelsLast3d;
//                    convolutions then produce channels-last activations. Same mathematics.
//   cudnn_benchmark  at::globalContext().setBenchmarkCuDNN on CUDA (default on).
//   cuda_graphs      see HvrnnReplica (hvrnn on one CUDA rank only).
//   device_prefetch  data::DevicePrefetcher depth on CUDA (default 1; 0 after resolution: off).
//   deterministic    at::globalContext(): deterministic cuDNN, no cuDNN benchmark, deterministic
//                    algorithms (torch errors on an op without one); CUBLAS_WORKSPACE_CONFIG set.
//
// Header-only; no CUDA code (the CUDA-only pieces live in the .cc files that use them, under
// FRAMECAST_WITH_CUDA).
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "dist/gradient_sync.h"
#include "proto/config.pb.h"
#include "util/logging.h"

namespace fc::train {

struct StepPerformance {
  bool bf16 = false;
  bool channels_last = false;
  bool cudnn_benchmark = false;
  bool cuda_graphs = false;  // requested (the family decides whether it can honour it)
  int device_prefetch = 0;   // micro-batches copied ahead; 0: none
  bool deterministic = false;
};

// `config.performance` with its defaults applied for `device`: cudnn_benchmark and a device
// prefetch of 1 are the CUDA defaults; on the CPU both are off whatever the config says.
inline StepPerformance ResolvePerformance(const framecast::RunConfig& config, at::Device device) {
  const auto& p = config.performance();
  StepPerformance s;
  s.bf16 = p.precision() == framecast::PerformanceConfig::BF16;
  s.channels_last = p.channels_last();
  s.cuda_graphs = p.cuda_graphs();
  s.deterministic = p.deterministic();
  if (device.is_cuda()) {
    s.cudnn_benchmark = p.has_cudnn_benchmark() ? p.cudnn_benchmark() : !s.deterministic;
    s.device_prefetch = p.device_prefetch() == 0 ? 1 : std::max(0, p.device_prefetch());
  }
  return s;
}

// dist.{first_,}bucket_mib, dist.gradient_dtype and dist.gradient_error_feedback as the options of
// every network's GradientSync (all families).
inline dist::GradientSyncOptions SyncOptionsFor(const framecast::DistConfig& d) {
  dist::GradientSyncOptions so;
  if (d.first_bucket_mib() > 0)
    so.first_bucket_bytes = static_cast<int64_t>(d.first_bucket_mib() * (1 << 20));
  if (d.bucket_mib() > 0) so.bucket_bytes = static_cast<int64_t>(d.bucket_mib() * (1 << 20));
  if (d.gradient_dtype() == framecast::DistConfig::GRADIENT_BF16) so.wire_dtype = at::kBFloat16;
  so.error_feedback = d.gradient_error_feedback();
  return so;
}

// Logs `message` once per process (the first time this exact text is passed).
inline void LogInfoOnce(const std::string& message) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  if (seen.insert(message).second) LogInfo(message);
}

// Applies the process-wide switches of `perf` (cuDNN autotuning) for `device`.
inline void ApplyGlobalSwitches(const StepPerformance& perf, at::Device device) {
  if (perf.deterministic) {
    // cuBLAS needs a fixed workspace for deterministic results; set before its first handle.
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/false);
  }
  if (device.is_cuda())
    at::globalContext().setBenchmarkCuDNN(perf.cudnn_benchmark && !perf.deterministic);
}

// RAII: bf16 autocast for `device`'s type while alive (when `enabled`), the previous autocast
// state (enabled flag and dtype) restored and the cast cache cleared at the end. Nestable; one
// thread (autocast state is thread-local).
class AutocastScope {
 public:
  AutocastScope(at::Device device, bool enabled) : enabled_(enabled), type_(device.type()) {
    if (!enabled_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    // The outermost scope frees the cached bf16 copies of the weights.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type_, prev_enabled_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  at::DeviceType type_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

// The channels-last layout of a tensor of convolution rank (4-D ChannelsLast, 5-D
// ChannelsLast3d); other tensors unchanged.
inline at::Tensor ChannelsLast(const at::Tensor& t) {
  if (!t.defined()) return t;
  if (t.dim() == 4) return t.contiguous(at::MemoryFormat::ChannelsLast);
  if (t.dim() == 5) return t.contiguous(at::MemoryFormat::ChannelsLast3d);
  return t;
}

// Converts every 4-D / 5-D parameter of `module` (convolution weights) to the channels-last
// layout in place (the parameter objects stay the same, so optimizers and gradient syncs built
// before or after see them). Gradients follow the parameters' layout.
inline void ToChannelsLast(torch::nn::Module& module) {
  at::NoGradGuard ng;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4 || p.dim() == 5) p.set_data(ChannelsLast(p.data()));
  }
}

}  // namespace fc::train
