#include "train/timeline_command.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>

#include "util/files.h"
#include "util/flags.h"

namespace fc::train {
namespace {

using nlohmann::json;

Status Bad(const std::string& file, size_t index, const std::string& what) {
  return Status::InvalidArgument(file + ": traceEvents[" + std::to_string(index) + "]: " + what);
}

}  // namespace

Result<std::vector<RankTimeline>> MergeTimelines(const std::string& run_dir,
                                                 const std::string& out) {
  const std::string dir = run_dir + "/timeline";
  if (!IsRealDir(dir))
    return Status::NotFound(dir + ": no timeline directory (run with --set logging.timeline=true)");
  std::vector<std::pair<int, std::string>> files;
  const std::regex name("rank([0-9]{1,6})\\.json");
  for (const auto& f : ListDir(dir)) {
    std::smatch m;
    if (std::regex_match(f, m, name)) files.emplace_back(std::stoi(m[1]), dir + "/" + f);
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return Status::NotFound(dir + ": no rank<r>.json files");
  struct Loaded {
    int rank;
    json doc;
    double origin;
    int64_t dropped;
  };
  std::vector<Loaded> loaded;
  double first_origin = 0;
  for (const auto& [rank, path] : files) {
    FC_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, 4ull << 30));
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("traceEvents") ||
        !doc["traceEvents"].is_array())
      return Status::InvalidArgument(path + ": not a trace-event JSON object with traceEvents");
    const auto& events = doc["traceEvents"];
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      if (!e.is_object()) return Bad(path, i, "not an object");
      for (const char* k : {"name", "ph", "pid", "tid"})
        if (!e.contains(k)) return Bad(path, i, std::string("no \"") + k + "\"");
      if (!e["ph"].is_string()) return Bad(path, i, "\"ph\" is not a string");
      if (!e["pid"].is_number_integer() || !e["tid"].is_number_integer())
        return Bad(path, i, "\"pid\" and \"tid\" must be integers");
      if (e["ph"] == "X") {
        // Microseconds since the rank's start: at most about 31 years, never negative.
        if (!e.contains("ts") || !e["ts"].is_number() || !e.contains("dur") ||
            !e["dur"].is_number() || !(e["ts"].get<double>() >= 0) ||
            !(e["ts"].get<double>() < 1e15) || !(e["dur"].get<double>() >= 0) ||
            !(e["dur"].get<double>() < 1e15))
          return Bad(path, i, "a complete event needs \"ts\" and \"dur\" in [0, 1e15) us");
        if (!e["pid"].is_number_integer() || e["pid"].get<int64_t>() != rank)
          return Bad(path, i, "\"pid\" is not the file's rank " + std::to_string(rank));
      }
    }
    double origin = 0;
    int64_t dropped = 0;
    if (doc.contains("otherData") && doc["otherData"].is_object()) {
      const auto& od = doc["otherData"];
      if (od.contains("rank") &&
          (!od["rank"].is_number_integer() || od["rank"].get<int64_t>() != rank))
        return Status::InvalidArgument(path + ": otherData.rank is " + od["rank"].dump() +
                                       ", the file name says rank " + std::to_string(rank));
      if (od.contains("origin_unix_us") && od["origin_unix_us"].is_number())
        origin = od["origin_unix_us"].get<double>();
      if (od.contains("dropped_events") && od["dropped_events"].is_number_integer())
        dropped = od["dropped_events"].get<int64_t>();
    }
    if (loaded.empty() || origin < first_origin) first_origin = origin;
    loaded.push_back({rank, std::move(doc), origin, dropped});
  }
  json merged = {{"traceEvents", json::array()}, {"displayTimeUnit", "ms"}};
  json other = json::array();
  std::vector<RankTimeline> ranks;
  for (auto& l : loaded) {
    // Each rank's clock starts at its own origin; shift it onto the earliest rank's.
    const double shift = l.origin - first_origin;
    RankTimeline rt;
    rt.rank = l.rank;
    rt.dropped = l.dropped;
    other.push_back(
        {{"rank", l.rank}, {"origin_unix_us", l.origin}, {"dropped_events", l.dropped}});
    std::map<std::string, SpanShare> by_name;
    std::vector<double> steps;
    for (auto& e : l.doc["traceEvents"]) {
      if (e["ph"] == "X") {
        e["ts"] = e["ts"].get<double>() + shift;
        const std::string n = e["name"].is_string() ? e["name"].get<std::string>() : "?";
        const double ms = e["dur"].get<double>() / 1000.0;
        if (n == "step") {
          steps.push_back(ms);
        } else {
          SpanShare& s = by_name[n];
          s.name = n;
          ++s.count;
          s.total_ms += ms;
        }
      }
      merged["traceEvents"].push_back(std::move(e));
    }
    double step_total = 0;
    for (double v : steps) step_total += v;
    rt.steps = static_cast<int64_t>(steps.size());
    if (!steps.empty()) {
      std::nth_element(steps.begin(), steps.begin() + steps.size() / 2, steps.end());
      rt.step_ms_median = steps[steps.size() / 2];
    }
    for (auto& [n, s] : by_name) {
      s.share = step_total > 0 ? s.total_ms / step_total : 0;
      rt.spans.push_back(s);
    }
    std::sort(rt.spans.begin(), rt.spans.end(),
              [](const SpanShare& a, const SpanShare& b) { return a.total_ms > b.total_ms; });
    ranks.push_back(std::move(rt));
  }
  merged["otherData"] = {{"ranks", other}};
  FC_RETURN_IF_ERROR(WriteFileAtomic(out, merged.dump() + "\n"));
  return ranks;
}

std::string FormatTimelineShares(const std::vector<RankTimeline>& ranks) {
  std::string out;
  char line[200];
  for (const auto& r : ranks) {
    std::snprintf(line, sizeof(line), "rank %d: %lld steps, median %.2f ms/step\n", r.rank,
                  static_cast<long long>(r.steps), r.step_ms_median);
    out += line;
    if (r.dropped > 0) {
      std::snprintf(line, sizeof(line),
                    "  (%lld older events were dropped: the file keeps the newest "
                    "logging.timeline_max_events)\n",
                    static_cast<long long>(r.dropped));
      out += line;
    }
    std::snprintf(line, sizeof(line), "  %-22s %8s %12s %10s\n", "span", "count", "total ms",
                  "of steps");
    out += line;
    for (const auto& s : r.spans) {
      std::snprintf(line, sizeof(line), "  %-22s %8lld %12.2f %9.1f%%\n", s.name.c_str(),
                    static_cast<long long>(s.count), s.total_ms, 100.0 * s.share);
      out += line;
    }
  }
  out +=
      "(spans nest: forward, backward, optimizer and all-reduce wait lie inside a step; all-reduce "
      "runs on its own tracks, overlapping the backward pass; checkpoint, evaluation and data "
      "wait of the first micro-batch may lie outside)\n";
  return out;
}

int TimelineCommand(int argc, char** argv, int first) {
  Flags flags("framecast runs timeline");
  flags.SetUsage("framecast runs timeline RUN_DIR [--out FILE]",
                 "Merges RUN_DIR/timeline/rank<r>.json (logging.timeline: true) into one Chrome "
                 "trace / Perfetto JSON file and prints each span's share of the step per rank.");
  flags.Add("out", "", "merged file (default RUN_DIR/timeline/merged.json)");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1)
    st = Status::InvalidArgument("expected one RUN_DIR");
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nusage: framecast runs timeline RUN_DIR [--out FILE]\n",
                 st.message().c_str());
    return 2;
  }
  std::string run_dir = flags.positional()[0];
  while (run_dir.size() > 1 && run_dir.back() == '/') run_dir.pop_back();
  const std::string out =
      flags.Str("out").empty() ? run_dir + "/timeline/merged.json" : flags.Str("out");
  auto ranks = MergeTimelines(run_dir, out);
  if (!ranks.ok()) {
    std::fprintf(stderr, "error: %s\n", ranks.status().message().c_str());
    return 1;
  }
  std::fputs(FormatTimelineShares(ranks.value()).c_str(), stdout);
  // Ranks 0..max that have no file (a rank that died before its first write, or a copy that
  // lost one): said, not fatal.
  std::string missing;
  for (int r = 0, i = 0; r <= ranks.value().back().rank; ++r) {
    if (ranks.value()[static_cast<size_t>(i)].rank == r) {
      ++i;
      continue;
    }
    missing += (missing.empty() ? "" : ", ") + std::to_string(r);
  }
  if (!missing.empty()) std::printf("note: no timeline file for rank(s) %s\n", missing.c_str());
  std::printf("wrote %s (%zu rank(s); open in https://ui.perfetto.dev or chrome://tracing)\n",
              out.c_str(), ranks.value().size());
  return 0;
}

}  // namespace fc::train
