#include "train/early_stopping.h"

#include <cmath>
#include <cstdio>

namespace fc::train {

EarlyStopping::EarlyStopping(const framecast::EarlyStoppingConfig& config, bool higher_is_better,
                             framecast::ckpt::StageStatus* state)
    : config_(config), higher_(higher_is_better), state_(state) {}

EarlyStopping::Verdict EarlyStopping::Record(int64_t step_in_stage, double value) {
  Verdict v;
  const double gain = higher_ ? value - state_->best_value() : state_->best_value() - value;
  if (std::isfinite(value) && (!state_->has_best() || gain > config_.min_delta())) {
    state_->set_has_best(true);
    state_->set_best_value(value);
    state_->set_best_step(step_in_stage);
    state_->set_evals_since_best(0);
    v.improved = true;
  } else {
    state_->set_evals_since_best(state_->evals_since_best() + 1);
  }
  if (enabled() && state_->evals_since_best() >= config_.patience()) {
    state_->set_stopped_early(true);
    v.stop = true;
  }
  return v;
}

std::string EarlyStopping::Describe() const {
  if (!state_->has_best()) return "no finite " + config_.metric() + " yet";
  char buf[200];
  std::snprintf(
      buf, sizeof(buf), "best %s %.6g at step %lld, %d/%d evaluation(s) without improvement",
      config_.metric().c_str(), state_->best_value(), static_cast<long long>(state_->best_step()),
      state_->evals_since_best(), config_.patience());
  return buf;
}

}  // namespace fc::train
