// The results of `framecast eval` as TensorBoard scalars in the run's tb/ folder (a new event file
// next to the training's), so they sit beside the training curves:
//   eval/<method>/<metric>         at the checkpoint's global step (means: psnr, ssim, lpips, fvd,
//                                  neg_elbo, bits_per_dim; cvg: inception_score, fid, accuracy,
//                                  fvd)
//   eval_curve/<method>/<metric>   hvrnn: the per-frame curve, at step t = 1..horizon
// Tag names: spaces in method names become '_'. Rank 0 only; no collectives.
#pragma once

#include <string>

#include "eval/report.h"
#include "util/files.h"
#include "util/status.h"

namespace fc::train {

Status WriteEvalScalars(const std::string& run_dir, int64_t global_step,
                        const eval::EvalReport& report);
Status WriteEvalScalars(const std::string& run_dir, int64_t global_step,
                        const eval::GenerationReport& report);

// The evaluated step's run directory (STEP_DIR/../..), when it is one (holds config.pbtxt).
inline std::string RunDirOfStep(const std::string& step_dir) {
  const std::string run = DirName(DirName(step_dir));
  return Exists(run + "/config.pbtxt") ? run : "";
}

}  // namespace fc::train
