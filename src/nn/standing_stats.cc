#include "nn/standing_stats.h"

#include <vector>

#include "dist/sync_batch_norm.h"

namespace fc::nn {

namespace {

std::vector<dist::SyncBatchNormImpl*> TimeStepBatchNorms(torch::nn::Module& module) {
  std::vector<dist::SyncBatchNormImpl*> out;
  for (const auto& m : module.modules(/*include_self=*/true)) {
    if (auto* bn = m->as<dist::SyncBatchNormImpl>()) {
      if (bn->options.time_steps() > 0) out.push_back(bn);
    }
  }
  return out;
}

void ResetStats(dist::SyncBatchNormImpl* bn) {
  if (!bn->options.track_running_stats()) return;
  torch::NoGradGuard ng;
  bn->running_mean.zero_();
  bn->running_var.fill_(1);
  bn->num_batches_tracked.zero_();
}

}  // namespace

int SetTimeSteps(torch::nn::Module& module, int64_t time_steps) {
  TORCH_CHECK(time_steps > 0, "SetTimeSteps: time_steps must be > 0, got ", time_steps);
  int n = 0;
  for (auto* bn : TimeStepBatchNorms(module)) {
    if (bn->options.time_steps() == time_steps) continue;
    bn->options.time_steps(time_steps);
    if (bn->options.track_running_stats()) {
      torch::NoGradGuard ng;
      const int64_t k = time_steps * bn->options.num_features();
      bn->running_mean.resize_({k});
      bn->running_var.resize_({k});
      ResetStats(bn);
    }
    ++n;
  }
  return n;
}

int AccumulateStandingStats(torch::nn::Module& module, int passes,
                            const std::function<void()>& forward) {
  TORCH_CHECK(passes >= 1, "AccumulateStandingStats: passes must be >= 1, got ", passes);
  auto bns = TimeStepBatchNorms(module);
  std::vector<double> momentum;
  module.eval();
  for (auto* bn : bns) {
    momentum.push_back(bn->options.momentum());
    ResetStats(bn);
    bn->train();
  }
  {
    torch::NoGradGuard ng;
    for (int k = 1; k <= passes; ++k) {
      for (auto* bn : bns) bn->options.momentum(1.0 / k);
      forward();
    }
  }
  for (size_t i = 0; i < bns.size(); ++i) {
    bns[i]->options.momentum(momentum[i]);
    bns[i]->eval();
  }
  return static_cast<int>(bns.size());
}

}  // namespace fc::nn
