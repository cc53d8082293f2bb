// Console text of a run: the step line, the live progress bar, durations. Pure formatting.
//
// Step line (printed every logging.every_steps steps and at each stage's end, rank 0):
//   stage main step 5/100 (global 5) loss 0.25 kl 3.1 lr 0.0001 | 12.3 ms/step 2602 clips/s ETA
//   0:00:01
// the scalars in the trainer's order (the loss first; a grad norm when the trainer reports one),
// then the loop's timing over the steps since the previous line; ETA covers every remaining step
// of every stage at that pace.
// Progress bar (a terminal only, redrawn in place):
//   main [########--------------]  36/100  36% 12.3 ms/step ETA 0:00:01
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fc::log {

struct StepStats {
  std::string stage;
  int64_t step = 0, steps = 0;  // steps done in the stage, the stage's total
  int64_t global_step = 0;
  std::vector<std::pair<std::string, double>> scalars;
  double ms_per_step = 0;   // <= 0: unknown (not printed)
  double clips_per_s = 0;   // <= 0: unknown
  double eta_seconds = -1;  // < 0: unknown
};

std::string FormatStepLine(const StepStats& s);
// `width`: the bar's inner width in characters.
std::string FormatProgressBar(const StepStats& s, int width = 30);
// "0:00:07", "1:02:03", "3d 04:05:06".
std::string FormatDuration(double seconds);

}  // namespace fc::log
