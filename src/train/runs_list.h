// `framecast runs list DIR`: the run directories under DIR (DIR itself included) and where each
// stands: name, family, stage, step/total, last logged loss, last committed checkpoint.
//
// A run directory is one holding config.pbtxt (written by every run at start). The search goes at
// most 4 levels below DIR and does not descend into run directories. Stage and step come from the
// last complete line of metrics.jsonl, else from the newest committed checkpoint's manifest; the
// loss is the first scalar of that line (the trainer's loss). A run whose pieces cannot be read is
// still listed, with "?" where a value is unknown.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::train {

struct RunSummary {
  std::string dir, name, family, stage;
  int64_t step = -1, stage_steps = -1;  // step done in `stage`, the stage's total; -1 unknown
  int64_t global_step = -1, total_steps = -1;
  bool has_loss = false;
  double loss = 0;
  std::string loss_name;
  std::string last_checkpoint;  // "step-00000100" or ""
};

// The run directories under `dir`, sorted by path. NotFound when `dir` is not a directory.
Result<std::vector<RunSummary>> ListRuns(const std::string& dir);
// Reads one run directory.
RunSummary SummarizeRun(const std::string& run_dir);
// An aligned table with a header line.
std::string FormatRunsTable(const std::vector<RunSummary>& runs);

}  // namespace fc::train
