#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace fc::train {

int64_t WarmupSteps(const framecast::LrSchedule& s, double steps_per_epoch) {
  if (s.warmup_epochs() > 0 && steps_per_epoch > 0)
    return static_cast<int64_t>(std::ceil(s.warmup_epochs() * steps_per_epoch - 1e-9));
  return s.warmup_steps();
}

double LearningRateAt(const framecast::OptimizerConfig& o, int64_t step, int64_t steps,
                      double steps_per_epoch) {
  const double lr = o.lr();
  const auto& s = o.schedule();
  const int64_t warm = WarmupSteps(s, steps_per_epoch);
  const double ramp = warm > 0 ? std::min(1.0, static_cast<double>(step + 1) / warm) : 1.0;
  const double warm_lr = s.warmup_start_lr() + (lr - s.warmup_start_lr()) * ramp;
  switch (s.kind()) {
    case framecast::LrSchedule::LINEAR_WARMUP:
      return warm_lr;
    case framecast::LrSchedule::COSINE: {
      if (step < warm) return warm_lr;
      const double p = static_cast<double>(step - warm) / std::max<int64_t>(1, steps - warm);
      return lr * 0.5 * (1 + std::cos(M_PI * std::min(1.0, p)));
    }
    case framecast::LrSchedule::LINEAR_DECAY: {
      const int64_t decay = std::max<int64_t>(1, s.decay_steps());
      const int64_t start = steps - decay;  // first step of the decay
      if (step < warm) return warm_lr;
      if (step < start) return lr;
      return lr * std::max(0.0, static_cast<double>(steps - step) / decay);
    }
    default:
      return lr;
  }
}

}  // namespace fc::train
