// What a training run shows the people watching it: the per-rank log file, the start-up banner,
// step lines and the progress bar, TensorBoard event files, metrics.jsonl and sample videos. The
// run loop (train/run.cc) makes a handful of calls; everything else is here.
//
// Run directory (RUN_DIR = config::RunDir):
//   logs/rank<r>.log   every rank: each line it logs (util/logging.h OpenLogFile), appended
//   tb/                rank 0: one TensorBoard event file per invocation (log/event_writer.h)
//   metrics.jsonl      rank 0: the logged scalars as JSON lines (log/metrics_log.h)
//   samples/           rank 0: <stage>[-<grid>]-step<NNNNNNNN>.{gif,mp4} (global step)
//
// Tags: the trainer's scalars by name ("loss", "kl1", ...) and the loop's "perf/ms_per_step",
// "perf/clips_per_s", and on CUDA "perf/gpu_mem_allocated_mib", "perf/gpu_mem_peak_mib"; sample
// stills as "samples" (or "samples/<grid>"). A run of several stages (a cascade) prefixes every tag
// with "<stage name>/". TensorBoard steps are global steps.
//
// Failures: Open's errors are returned (the caller agrees on them across ranks); later write
// failures are logged as one warning per sink, which then stops, and never stop the training.
// Thread-safety: none; the main thread of each rank. Only GatherPlaces (in Banner) communicates.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/world.h"
#include "log/event_writer.h"
#include "log/metrics_log.h"
#include "log/samples.h"
#include "proto/config.pb.h"

namespace fc::log {

// Where the run starts, for the banner.
struct RunStart {
  std::string family, description, backend;
  std::string resumed_from;  // step directory; empty: a fresh start
  int64_t global_step = 0, step = 0;
  int stage = 0;
  std::string data_note;  // a line on the dataset (data::DescribeSubstitute); empty: none
};

class RunLogger {
 public:
  // `world` must outlive the logger. Every rank: creates RUN_DIR/logs and opens logs/rank<r>.log.
  // Rank 0 also: tb/ and its event file, metrics.jsonl. Errors name the path.
  static Result<std::unique_ptr<RunLogger>> Open(const framecast::RunConfig& config,
                                                 const dist::World& world,
                                                 const std::string& run_dir);
  ~RunLogger();
  RunLogger(const RunLogger&) = delete;
  RunLogger& operator=(const RunLogger&) = delete;

  // Collective over the world (gathers hosts and GPUs). Rank 0 prints the banner.
  void Banner(const RunStart& start);
  // Every rank, after each step (`step_done` steps of `stage` done; scalars averaged over ranks).
  // Rank 0, every logging.every_steps and at the stage's end: the step line, TensorBoard scalars,
  // a metrics.jsonl line; on a terminal, the progress bar after every step. `details` go to
  // TensorBoard and metrics.jsonl only, not to the step line.
  // `force`: log this step although it is not a logging step (the loop forces a step with
  // evaluation results, and one where early stopping ends the stage).
  void Step(int stage, int64_t step_done, int64_t global_step, const Scalars& scalars,
            const Scalars& details = {}, bool force = false);
  // True on rank 0 only, every logging.sample_every_steps and at the stage's last step.
  bool SamplesDue(int stage, int64_t step_done, bool stage_end = false) const;
  int sample_clips() const { return sample_clips_; }
  // Rank 0: each grid's GIF and MP4 into samples/ and its filmstrip PNG into TensorBoard. An error
  // (or no grid: the family makes no samples) is a warning, or nothing.
  void Samples(int stage, int64_t global_step, const Result<std::vector<SampleGrid>>& grids);
  // Time the loop spent outside training since the last step (the evaluation during training),
  // left out of ms_per_step like the time writing samples.
  void ExcludeFromTiming(double ms) { window_excluded_ms_ += ms; }
  // Flushes every file, clears the progress bar, closes the rank log file. Idempotent.
  // The end of the run for TensorBoard's HParams tab (rank 0): completed, or failed.
  void Finish(bool success);
  void Close();

  bool progress_bar() const { return progress_bar_; }

 private:
  RunLogger() = default;
  std::string Tag(int stage, const std::string& name) const;
  void Warn(const std::string& sink, const Status& st);

  framecast::RunConfig config_;
  const dist::World* world_ = nullptr;  // outlives the logger
  std::string run_dir_;
  int rank_ = 0;
  bool cuda_ = false;
  int device_ = -1;
  bool progress_bar_ = false, closed_ = false;
  int sample_clips_ = 4, sample_fps_ = 4;
  std::unique_ptr<EventWriter> events_;
  std::unique_ptr<MetricsLog> metrics_;
  // Timing window since the last step line (steady clock), less time spent writing samples.
  std::chrono::steady_clock::time_point window_start_, last_bar_;
  int64_t window_steps_ = 0;
  double window_excluded_ms_ = 0;
};

}  // namespace fc::log
