// Early stopping of a stage on an evaluation metric (eval.early_stopping), as the thesis stops a
// cascade level "when eval metrics stop improving".
//
// Record(step, value) takes each evaluation of the stage in order. An evaluation improves when it
// beats the best so far by more than min_delta in the metric's direction (the first finite value
// always does; a non-finite one never does). The stage ends at the evaluation that makes
// `patience` evaluations in a row without improvement. The state is the stage's StageStatus
// fields (has_best, best_value, best_step, evals_since_best, stopped_early), saved in every
// checkpoint manifest, so a resumed run stops at the same step as an uninterrupted one.
#pragma once

#include <cstdint>
#include <string>

#include "ckpt/manifest.pb.h"
#include "proto/config.pb.h"

namespace fc::train {

class EarlyStopping {
 public:
  // An empty config.metric() never stops.
  EarlyStopping(const framecast::EarlyStoppingConfig& config, bool higher_is_better,
                framecast::ckpt::StageStatus* state);

  struct Verdict {
    bool improved = false;  // the new best (restore_best keeps this step's state)
    bool stop = false;      // end the stage now
  };
  Verdict Record(int64_t step_in_stage, double value);
  bool enabled() const { return !config_.metric().empty(); }
  // "best fid 40.2 at step 800, 2/5 evaluations without improvement"
  std::string Describe() const;

 private:
  framecast::EarlyStoppingConfig config_;
  bool higher_ = false;
  framecast::ckpt::StageStatus* state_;
};

}  // namespace fc::train
