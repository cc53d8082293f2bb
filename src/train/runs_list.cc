#include "train/runs_list.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "log/metrics_log.h"
#include "train/commands.h"
#include "train/timeline_command.h"
#include "util/files.h"

namespace fc::train {
namespace {

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void Walk(const std::string& dir, int depth, std::vector<std::string>* runs) {
  if (Exists(dir + "/config.pbtxt")) {
    runs->push_back(dir);
    return;
  }
  if (depth == 0) return;
  for (const auto& name : ListDir(dir)) {
    const std::string sub = dir + "/" + name;
    if (IsDir(sub)) Walk(sub, depth - 1, runs);
  }
}

// The last complete line of `path` (reads at most the last 1 MiB).
std::string LastLine(const std::string& path) {
  auto fd = OpenForRead(path);  // a regular file only: a FIFO must not block `runs list`
  if (!fd.ok()) return "";
  FILE* f = ::fdopen(fd.value(), "rb");
  if (f == nullptr) {
    ::close(fd.value());
    return "";
  }
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  const long start = std::max(0L, size - (1L << 20));
  std::fseek(f, start, SEEK_SET);
  std::string tail(static_cast<size_t>(size - start), '\0');
  tail.resize(std::fread(tail.data(), 1, tail.size(), f));
  std::fclose(f);
  const size_t end = tail.rfind('\n');
  if (end == std::string::npos) return "";
  const size_t begin = tail.rfind('\n', end == 0 ? 0 : end - 1);
  if (begin == std::string::npos || begin >= end) return start == 0 ? tail.substr(0, end) : "";
  return tail.substr(begin + 1, end - begin - 1);
}

// The name of the `family` oneof member the config sets (the family's registry name).
std::string FamilyOf(const framecast::RunConfig& c) {
  const auto& model = c.model();
  const auto* oneof = model.GetDescriptor()->FindOneofByName("family");
  const auto* field =
      oneof != nullptr ? model.GetReflection()->GetOneofFieldDescriptor(model, oneof) : nullptr;
  return field != nullptr ? field->name() : "?";
}

}  // namespace

RunSummary SummarizeRun(const std::string& run_dir) {
  RunSummary r;
  r.dir = run_dir;
  r.name = BaseName(run_dir);
  r.family = "?";
  framecast::RunConfig config;
  bool have_config = false;
  if (auto text = ReadSmallFile(run_dir + "/config.pbtxt", 16 << 20); text.ok()) {
    if (auto c = config::ParseRunConfigText(text.value(), run_dir + "/config.pbtxt"); c.ok()) {
      config = c.value();
      have_config = true;
      r.name = config.name();
      r.family = FamilyOf(config);
      r.total_steps = 0;
      for (const auto& s : config.stages()) r.total_steps += s.steps();
    }
  }
  auto stage_steps = [&](const std::string& stage) -> int64_t {
    if (!have_config) return -1;
    for (const auto& s : config.stages())
      if (s.name() == stage) return s.steps();
    return -1;
  };

  const auto steps = ckpt::CommittedSteps(run_dir + "/checkpoints");
  if (!steps.empty()) r.last_checkpoint = BaseName(steps.back().second);

  const std::string line = LastLine(run_dir + "/metrics.jsonl");
  auto kv =
      line.empty()
          ? Result<std::vector<std::pair<std::string, std::string>>>(Status::NotFound("no metrics"))
          : log::ParseFlatJson(line);
  if (kv.ok()) {
    for (const auto& [k, v] : kv.value()) {
      if (k == "step") {
        r.global_step = std::atoll(v.c_str());
      } else if (k == "stage") {
        r.stage = v;
      } else if (k == "stage_step") {
        r.step = std::atoll(v.c_str());
      } else if (k != "time" && !r.has_loss && v != "null") {
        r.has_loss = true;
        r.loss_name = k;
        r.loss = std::strtod(v.c_str(), nullptr);
      }
    }
  } else if (!steps.empty()) {
    if (auto m = ckpt::ReadManifest(steps.back().second); m.ok()) {
      const auto& man = m.value();
      r.global_step = man.global_step();
      r.step = man.step();
      if (man.stage_index() < man.stages_size()) r.stage = man.stages(man.stage_index()).name();
    }
  }
  r.stage_steps = stage_steps(r.stage);
  return r;
}

Result<std::vector<RunSummary>> ListRuns(const std::string& dir) {
  if (!IsDir(dir)) return Status::NotFound(dir + ": not a directory");
  std::vector<std::string> dirs;
  std::string root = dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  Walk(root, 4, &dirs);
  std::sort(dirs.begin(), dirs.end());
  std::vector<RunSummary> runs;
  for (const auto& d : dirs) runs.push_back(SummarizeRun(d));
  return runs;
}

std::string FormatRunsTable(const std::vector<RunSummary>& runs) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "FAMILY", "STAGE", "STEP", "GLOBAL", "LAST LOSS", "LAST CHECKPOINT", "DIR"}};
  auto num = [](int64_t v) { return v < 0 ? std::string("?") : std::to_string(v); };
  for (const auto& r : runs) {
    char loss[64] = "-";
    if (r.has_loss) std::snprintf(loss, sizeof(loss), "%.6g", r.loss);
    rows.push_back({r.name, r.family, r.stage.empty() ? "-" : r.stage,
                    r.step < 0 ? "-" : num(r.step) + "/" + num(r.stage_steps),
                    r.global_step < 0 ? "-" : num(r.global_step) + "/" + num(r.total_steps), loss,
                    r.last_checkpoint.empty() ? "-" : r.last_checkpoint, r.dir});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

int RunsCommand(int argc, char** argv, int first) {
  if (first < argc && std::string(argv[first]) == "timeline")
    return TimelineCommand(argc, argv, first + 1);
  const char* usage = "usage: framecast runs list DIR | timeline RUN_DIR [--out FILE]\n";
  for (int i = first; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(usage, stdout);
      std::fputs(
          "  the run directories under DIR (4 levels deep) and where each stands: name, "
          "family, stage, step, last loss, last checkpoint\n"
          "  timeline RUN_DIR: merge the ranks' timelines (logging.timeline) into one Perfetto "
          "file and print each span's share of the step (`framecast runs timeline --help`)\n",
          stdout);
      return 0;
    }
  }
  if (argc - first != 2 || std::string(argv[first]) != "list") {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  auto runs = ListRuns(argv[first + 1]);
  if (!runs.ok()) {
    std::fprintf(stderr, "error: %s\n", runs.status().message().c_str());
    return 1;
  }
  if (runs.value().empty()) {
    std::printf("no runs under %s\n", argv[first + 1]);
    return 0;
  }
  std::fputs(FormatRunsTable(runs.value()).c_str(), stdout);
  return 0;
}

}  // namespace fc::train
