// Learning-rate schedules (OptimizerConfig.schedule), a pure function of the step in the stage.
#pragma once

#include <cstdint>

#include "proto/config.pb.h"

namespace fc::train {

// Learning rate of optimizer `o` at step `step` (0-based) of a stage of `steps` steps.
// Warm-up is linear from schedule.warmup_start_lr to lr over the warm-up steps, reached at the last
// of them; warmup_epochs, when set, gives the length in epochs of `steps_per_epoch` steps each
// (rounded up). COSINE then decays to 0 at the stage's last step. LINEAR_DECAY holds lr, then
// over the last decay_steps steps decays linearly: lr * (steps - step) / decay_steps.
double LearningRateAt(const framecast::OptimizerConfig& o, int64_t step, int64_t steps,
                      double steps_per_epoch = 0);

// Warm-up length in steps (0: none).
int64_t WarmupSteps(const framecast::LrSchedule& s, double steps_per_epoch);

}  // namespace fc::train
