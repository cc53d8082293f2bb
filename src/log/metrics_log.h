// RUN_DIR/metrics.jsonl: the run's scalars as JSON lines, for scripts.
//
// One line per logged step: {"step": <global step>, "stage": "<name>", "stage_step": <step in
// stage>, "time": <unix seconds>, "<scalar>": <value>, ...}, scalars in the order the trainer
// reports them (the loss first), then the loop's own ("ms_per_step", "clips_per_s", ...). Numbers
// are printed with 9 significant digits; NaN and infinities (not JSON) as null. The file is opened
// for appending: a resumed run continues it, and steps redone after the resume point appear again
// (the later line for a step is the current one). Flushed every line. Thread-safety: none.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace fc::log {

using Scalars = std::vector<std::pair<std::string, double>>;

// The JSON text of one line (no trailing newline).
std::string MetricsLine(int64_t step, const std::string& stage, int64_t stage_step,
                        double unix_time, const Scalars& scalars);

// Parses a flat JSON object of strings, numbers and nulls, as MetricsLine writes it: the keys in
// order with their values' text (strings unescaped, numbers and null verbatim). InvalidArgument
// on anything else.
Result<std::vector<std::pair<std::string, std::string>>> ParseFlatJson(const std::string& line);

class MetricsLog {
 public:
  static Result<std::unique_ptr<MetricsLog>> Open(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  Status Write(int64_t step, const std::string& stage, int64_t stage_step, const Scalars& scalars);
  const std::string& path() const { return path_; }

 private:
  MetricsLog() = default;
  std::string path_;
  FILE* file_ = nullptr;
};

}  // namespace fc::log
