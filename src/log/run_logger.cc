#include "log/run_logger.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/run_config.h"
#include "log/banner.h"
#include "log/console.h"
#include "media/png.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/torch_status.h"

#ifdef FRAMECAST_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace fc::log {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

Result<std::unique_ptr<RunLogger>> RunLogger::Open(const framecast::RunConfig& config,
                                                   const dist::World& world,
                                                   const std::string& run_dir) {
  std::unique_ptr<RunLogger> l(new RunLogger());
  l->config_ = config;
  l->world_ = &world;
  l->run_dir_ = run_dir;
  l->rank_ = world.rank();
  l->cuda_ = world.device_kind() == dist::DeviceKind::kCuda;
  l->device_ = world.device_index();
  const auto& lc = config.logging();
  l->sample_clips_ = lc.sample_clips() > 0 ? lc.sample_clips() : 4;
  l->sample_fps_ = lc.sample_fps() > 0 ? lc.sample_fps() : 4;

  FC_RETURN_IF_ERROR(MakeDirs(run_dir + "/logs"));
  const std::string log_path = run_dir + "/logs/rank" + std::to_string(world.rank()) + ".log";
  FC_RETURN_IF_ERROR(OpenLogFile(log_path));
  // Ranks other than 0 print no info lines on the console; their file starts with their place.
  if (l->rank_ != 0) LogInfo("run " + config.name() + " in " + run_dir + ": " + world.Describe());
  if (l->rank_ == 0) {
    FC_ASSIGN_OR_RETURN(l->events_, EventWriter::Open(run_dir + "/tb"));
    FC_ASSIGN_OR_RETURN(l->metrics_, MetricsLog::Open(run_dir + "/metrics.jsonl"));
    const bool tty = isatty(STDOUT_FILENO) == 1;
    switch (lc.progress_bar()) {
      case framecast::LoggingConfig::PROGRESS_ON:
        l->progress_bar_ = tty;
        break;
      case framecast::LoggingConfig::PROGRESS_OFF:
        l->progress_bar_ = false;
        break;
      default:
        l->progress_bar_ = tty && world.launcher() != "mpirun";
    }
  }
  l->window_start_ = l->last_bar_ = Clock::now();
  return l;
}

RunLogger::~RunLogger() { Close(); }

void RunLogger::Close() {
  if (closed_) return;
  closed_ = true;
  if (progress_bar_) SetStatusLine("");
  if (events_) {
    if (Status st = events_->Flush(); !st.ok()) Warn("tb", st);
  }
  events_.reset();
  metrics_.reset();
  CloseLogFile();
}

void RunLogger::Warn(const std::string& sink, const Status& st) {
  LogWarning("run log: " + st.message() + "; no more " + sink + " output for this run");
  if (sink == "tb") events_.reset();
  if (sink == "metrics.jsonl") metrics_.reset();
}

std::string RunLogger::Tag(int stage, const std::string& name) const {
  if (config_.stages_size() <= 1) return name;
  return config_.stages(stage).name() + "/" + name;
}

void RunLogger::Banner(const RunStart& start) {
  const std::vector<RankPlace> places = GatherPlaces(*world_);
  if (rank_ != 0) return;
  const auto& w = *world_;
  LogInfo(FormatVersions(CurrentVersions()));
  LogInfo("world: " + FormatLayout(places) + ", device " + (cuda_ ? "cuda" : "cpu") + ", backend " +
          start.backend + ", launcher " + w.launcher());
  LogInfo("run " + config_.name() + " (" + start.family + ") in " + run_dir_ + ": " +
          start.description);
  std::string stages;
  int64_t total = 0;
  for (const auto& s : config_.stages()) {
    stages += " " + s.name() + " " + std::to_string(s.steps());
    total += s.steps();
  }
  LogInfo("config digest " + config::Digest(config::ToText(config_)) + "; " +
          std::to_string(config_.stages_size()) + " stage(s), " + std::to_string(total) +
          " step(s):" + stages + "; logs in " + run_dir_ + "/{logs,tb,metrics.jsonl,samples}");
  if (!start.data_note.empty()) LogInfo(start.data_note);
  if (start.resumed_from.empty()) {
    LogInfo("resume: fresh start");
  } else {
    const std::string stage =
        start.stage < config_.stages_size() ? config_.stages(start.stage).name() : "(done)";
    LogInfo("resume: " + start.resumed_from + " (global step " + std::to_string(start.global_step) +
            ", stage " + stage + " step " + std::to_string(start.step) + ")");
  }
  // TensorBoard: the effective config (Text tab) and the hyperparameters (HParams tab).
  if (events_) {
    const std::string text = config::ToText(config_);
    Status st = events_->AddText("config", start.global_step, "```\n" + text + "```\n");
    using HP = EventWriter::HParam;
    std::vector<HP> hp;
    auto num = [&](const std::string& n, double v) { hp.push_back({n, HP::kNumber, v}); };
    auto str = [&](const std::string& n, const std::string& v) {
      hp.push_back({n, HP::kString, 0, v});
    };
    str("family", start.family);
    str("name", config_.name());
    num("ranks", w.size());
    num("data.global_batch", config_.data().global_batch());
    num("accumulation_steps", config_.accumulation_steps());
    num("seed", static_cast<double>(config_.seed()));
    num("total_steps", static_cast<double>(total));
    num("stages", config_.stages_size());
    if (config_.optimizers_size() > 0) {
      const auto& o = config_.optimizers(0);
      str("optimizer", o.has_adam() ? "adam" : "sgd");
      num("lr", o.lr());
      num("weight_decay", o.weight_decay());
    }
    str("performance.precision",
        framecast::PerformanceConfig::Precision_Name(config_.performance().precision()));
    str("config_digest", config::Digest(text));
    if (st.ok()) st = events_->AddHparamsStart(hp, config_.name());
    if (st.ok()) st = events_->Flush();
    if (!st.ok()) Warn("tb", st);
  }
  window_start_ = last_bar_ = Clock::now();
  window_steps_ = 0;
  window_excluded_ms_ = 0;
}

void RunLogger::Finish(bool success) {
  if (rank_ != 0 || closed_ || !events_) return;
  if (Status st = events_->AddHparamsEnd(success); !st.ok()) Warn("tb", st);
}

void RunLogger::Step(int stage, int64_t step_done, int64_t global_step, const Scalars& scalars,
                     const Scalars& details, bool force) {
  if (rank_ != 0 || closed_) return;
  const auto now = Clock::now();
  ++window_steps_;
  const auto& sc = config_.stages(stage);
  const bool log_now =
      step_done % config_.logging().every_steps() == 0 || step_done == sc.steps() || force;
  const bool bar_now = progress_bar_ && (log_now || Ms(now - last_bar_) >= 100);
  if (!log_now && !bar_now) return;

  StepStats s;
  s.stage = sc.name();
  s.step = step_done;
  s.steps = sc.steps();
  s.global_step = global_step;
  s.ms_per_step = std::max(0.0, Ms(now - window_start_) - window_excluded_ms_) / window_steps_;
  if (s.ms_per_step > 0) s.clips_per_s = config_.data().global_batch() * 1000.0 / s.ms_per_step;
  int64_t remaining = sc.steps() - step_done;
  for (int i = stage + 1; i < config_.stages_size(); ++i) remaining += config_.stages(i).steps();
  s.eta_seconds = remaining * s.ms_per_step / 1000.0;

  if (log_now) {
    s.scalars = scalars;
    LogInfo(FormatStepLine(s));
    Scalars perf = {{"ms_per_step", s.ms_per_step}, {"clips_per_s", s.clips_per_s}};
#ifdef FRAMECAST_WITH_CUDA
    if (cuda_ && device_ >= 0) {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_);
      const auto& a =
          stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
      perf.emplace_back("gpu_mem_allocated_mib", a.current / 1048576.0);
      perf.emplace_back("gpu_mem_peak_mib", a.peak / 1048576.0);
    }
#endif
    if (events_) {
      Scalars tagged;
      for (const auto& [name, v] : scalars) tagged.emplace_back(Tag(stage, name), v);
      for (const auto& [name, v] : details) tagged.emplace_back(Tag(stage, name), v);
      for (const auto& [name, v] : perf) tagged.emplace_back(Tag(stage, "perf/" + name), v);
      if (Status st = events_->AddScalars(global_step, tagged); !st.ok()) Warn("tb", st);
    }
    if (metrics_) {
      Scalars all = scalars;
      all.insert(all.end(), details.begin(), details.end());
      all.insert(all.end(), perf.begin(), perf.end());
      if (Status st = metrics_->Write(global_step, sc.name(), step_done, all); !st.ok())
        Warn("metrics.jsonl", st);
    }
    window_start_ = now;
    window_steps_ = 0;
    window_excluded_ms_ = 0;
  }
  if (progress_bar_) {
    s.scalars.clear();
    SetStatusLine(FormatProgressBar(s));
    last_bar_ = now;
  }
}

bool RunLogger::SamplesDue(int stage, int64_t step_done, bool stage_end) const {
  if (rank_ != 0 || closed_) return false;
  const int64_t every = config_.logging().sample_every_steps();
  return stage_end || step_done == config_.stages(stage).steps() ||
         (every > 0 && step_done % every == 0);
}

void RunLogger::Samples(int stage, int64_t global_step,
                        const Result<std::vector<SampleGrid>>& grids) {
  if (rank_ != 0 || closed_) return;
  const auto t0 = Clock::now();
  if (!grids.ok()) {
    LogWarning("run log: samples at global step " + std::to_string(global_step) + ": " +
               grids.status().message());
  } else {
    char step[32];
    std::snprintf(step, sizeof(step), "step%08lld", static_cast<long long>(global_step));
    for (const auto& g : grids.value()) {
      const std::string stem =
          config_.stages(stage).name() + (g.name.empty() ? "" : "-" + g.name) + "-" + step;
      Status st = WriteSampleVideos(run_dir_ + "/samples", stem, g, sample_fps_);
      if (st.ok() && events_) {
        at::Tensor still;
        st = TryTorch([&] { still = Filmstrip(g); });
        Result<std::string> png = st.ok() ? media::EncodePng(still) : Result<std::string>(st);
        st = png.status();
        if (st.ok()) {
          st = events_->AddImage(Tag(stage, g.name.empty() ? "samples" : "samples/" + g.name),
                                 global_step, png.value(), static_cast<int>(still.size(0)),
                                 static_cast<int>(still.size(1)), static_cast<int>(still.size(2)));
        }
      }
      if (!st.ok()) {
        LogWarning("run log: samples " + stem + ": " + st.message());
      } else {
        LogInfo("samples written to " + run_dir_ + "/samples/" + stem + ".{gif,mp4}");
      }
    }
  }
  window_excluded_ms_ += Ms(Clock::now() - t0);
}

}  // namespace fc::log
