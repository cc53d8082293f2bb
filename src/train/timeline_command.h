// framecast runs timeline RUN_DIR [--out FILE]: merges the per-rank timelines of a run
// (logging.timeline: RUN_DIR/timeline/rank<r>.json) into one Chrome trace / Perfetto JSON file,
// the ranks' clocks aligned on each file's wall-clock origin, and prints each span's share of the
// training step per rank.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::train {

struct SpanShare {
  std::string name;
  int64_t count = 0;
  double total_ms = 0;
  double share = 0;  // total_ms / the total of the "step" spans on the same rank
};

struct RankTimeline {
  int rank = 0;
  int64_t steps = 0;    // "step" spans
  int64_t dropped = 0;  // events the rank's ring dropped (otherData.dropped_events)
  double step_ms_median = 0;
  std::vector<SpanShare> spans;  // by total time, largest first; "step" itself excluded
};

// Reads every RUN_DIR/timeline/rank<r>.json (regular files only, at most 4 GiB each), checks each
// event has name, ph, ts, dur (for "X"), pid and tid, and writes the merged file to `out`
// atomically. Errors name the file and the event index.
Result<std::vector<RankTimeline>> MergeTimelines(const std::string& run_dir,
                                                 const std::string& out);
std::string FormatTimelineShares(const std::vector<RankTimeline>& ranks);

int TimelineCommand(int argc, char** argv, int first);

}  // namespace fc::train
