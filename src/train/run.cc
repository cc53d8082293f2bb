#include "train/run.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "config/run_config.h"
#include "data/sources.h"
#include "dist/watchdog.h"
#include "log/run_logger.h"
#include "train/early_stopping.h"
#include "train/faults.h"
#include "train/run_lock.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/timeline.h"

namespace fc::train {

using framecast::RunConfig;

namespace {

// Averages every scalar and detail of `report` over ranks in one all-reduce.
Status AverageOverRanks(dist::Communicator* comm, StepReport* report) {
  std::vector<double*> values;
  for (auto& [name, v] : report->scalars) values.push_back(&v);
  for (auto& [name, v] : report->details) values.push_back(&v);
  const int64_t n = static_cast<int64_t>(values.size());
  if (n == 0) return Status::Ok();
  at::Tensor t = at::empty({n}, at::kDouble);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = *values[i];
  FC_RETURN_IF_ERROR(comm->AllReduce(t, dist::ReduceOp::kAvg)->Wait());
  p = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) *values[i] = p[i];
  return Status::Ok();
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace
using framecast::ckpt::Manifest;

dist::Backend BackendOf(const framecast::DistConfig& d) {
  switch (d.backend()) {
    case framecast::DistConfig::BACKEND_NCCL:
      return dist::Backend::kNccl;
    case framecast::DistConfig::BACKEND_MPI:
      return dist::Backend::kMpi;
    default:
      return dist::Backend::kAuto;
  }
}

Result<std::unique_ptr<dist::World>> StartWorld(const RunConfig& config, int* argc, char*** argv,
                                                int64_t threads) {
  dist::WorldOptions wo;
  if (config.dist().device() == framecast::DistConfig::DEVICE_CUDA)
    wo.device = dist::DeviceKind::kCuda;
  FC_ASSIGN_OR_RETURN(auto world, dist::World::Init(argc, argv, wo));
  const int n = threads > 0 ? static_cast<int>(threads)
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                              world->local_size());
  at::set_num_threads(n);
  return world;
}

Result<RunResult> RunTraining(const RunConfig& config, const dist::World& world,
                              bool keep_final_state) {
  RunResult result;
  FC_RETURN_IF_ERROR(
      world.AgreeOnStatus(config::ValidateForWorld(config, world.size()), "rejected the config"));
  // Communicator set-up has a deadline too (a rank that never arrives must not hang the others);
  // once the communicators exist their watchdogs take over.
  std::unique_ptr<dist::Communicator> comm, ckpt_comm;
  {
    dist::SetupDeadline deadline(StartupDeadline(config), world.rank(), world.host(),
                                 "communicator set-up");
    FC_ASSIGN_OR_RETURN(comm, dist::MakeCommunicator(world, BackendOf(config.dist())));
    FC_ASSIGN_OR_RETURN(ckpt_comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  }
  // faults (train/faults.h): collective deadlines, generous until the first step is done; stop
  // signals only set a flag from here on; the step guard agrees on it and on non-finite values.
  comm->SetDeadline(StartupDeadline(config));
  ckpt_comm->SetDeadline(StartupDeadline(config));
  InstallStopSignalHandlers();
  StepGuard guard(config, world.rank(), world.size());
  auto made = MakeTrainer(config, world, comm.get());
  FC_RETURN_IF_ERROR(
      world.AgreeOnStatus(made.ok() ? Status::Ok() : made.status(), "could not build the trainer"));
  std::unique_ptr<Trainer> trainer = std::move(made.value());
  const std::string family = trainer->family();

  // ---- evaluation during training and early stopping (eval.every_steps, train/early_stopping.h)
  const auto& ec = config.eval();
  const auto& es = ec.early_stopping();
  const int64_t eval_every = ec.every_steps();
  // Per stage: the metrics, and the index of the early-stopping one (-1: none).
  std::vector<std::vector<EvalMetric>> eval_metrics(static_cast<size_t>(config.stages_size()));
  std::vector<int> stop_metric(static_cast<size_t>(config.stages_size()), -1);
  if (eval_every > 0) {
    Status ok;
    for (int s = 0; s < config.stages_size() && ok.ok(); ++s) {
      eval_metrics[s] = trainer->EvalMetrics(s);
      if (eval_metrics[s].empty()) {
        ok = Status::InvalidArgument("eval.every_steps: the " + family +
                                     " family has no evaluation during training");
        break;
      }
      if (es.metric().empty()) continue;
      std::string names;
      for (size_t i = 0; i < eval_metrics[s].size(); ++i) {
        if (eval_metrics[s][i].name == es.metric()) stop_metric[s] = static_cast<int>(i);
        names += (i ? ", " : "") + eval_metrics[s][i].name;
      }
      if (stop_metric[s] < 0) {
        ok = Status::InvalidArgument("eval.early_stopping.metric: '" + es.metric() +
                                     "' is not one of the " + family +
                                     " family's evaluation metrics (" + names + ")");
      }
    }
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(ok, "rejected the evaluation config"));
  }

  // ---- run directory ---------------------------------------------------------------------------
  const std::string run_dir = config::RunDir(config);
  const std::string text = config::ToText(config);
  Status st;
  if (world.rank() == 0) {
    // What framecast writes in the run directory must be its own: a link planted in place of one
    // of these would make it write or delete elsewhere.
    for (const char* entry : {"checkpoints", "logs", "tb", "samples", "eval", "timeline"}) {
      if (IsLink(run_dir + "/" + entry)) {
        st = Status::InvalidArgument(run_dir + "/" + entry +
                                     ": is a symbolic link; refusing to write through it");
        break;
      }
    }
    if (st.ok()) st = MakeDirs(run_dir + "/checkpoints");
    if (st.ok() && config.logging().timeline()) st = MakeDirs(run_dir + "/timeline");
  }
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(st, "could not prepare the run directory"));
  // logging.timeline (util/timeline.h): this rank's spans, written at each checkpoint and at the
  // end; a failed write is a warning, never the end of the run.
  const std::string timeline_path =
      run_dir + "/timeline/rank" + std::to_string(world.rank()) + ".json";
  // Every way out of the run (an error, a non-finite stop) writes what was recorded, then stops.
  struct TimelineOff {
    const std::string& path;
    ~TimelineOff() {
      if (timeline::Enabled()) {
        Status w = timeline::WriteTo(path);
        if (!w.ok()) LogWarning("logging.timeline: " + w.message());
      }
      timeline::Disable();
    }
  } timeline_off{timeline_path};
  if (config.logging().timeline())
    timeline::Enable(world.rank(), config.logging().timeline_max_events());
  auto write_timeline = [&] {
    if (!timeline::Enabled()) return;
    Status w = timeline::WriteTo(timeline_path);
    if (!w.ok()) LogWarning("logging.timeline: " + w.message());
  };
  // One job per run directory (train/run_lock.h): rank 0 holds the lock until the run returns.
  RunLock lock;
  if (world.rank() == 0) {
    auto taken = RunLock::Acquire(run_dir);
    if (taken.ok()) lock = std::move(taken).value();
    st = taken.status();
  }
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(st, "refused the run directory"));
  // log (src/log/run_logger.h): logs/rank<r>.log, tb/, metrics.jsonl, samples/, console.
  auto opened_log = log::RunLogger::Open(config, world, run_dir);
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(opened_log.status(), "could not open the run's logs"));
  std::unique_ptr<log::RunLogger> run_log = std::move(opened_log.value());
  ckpt::Checkpointer checkpointer(run_dir + "/checkpoints", config.checkpoint(),
                                  std::move(ckpt_comm));

  // ---- resume ----------------------------------------------------------------------------------
  const int rank = world.rank();
  auto compatible = [&](const Manifest& m) -> Status {
    if (m.run_name() != config.name()) {
      return Status::InvalidArgument("written by run '" + m.run_name() + "', not '" +
                                     config.name() + "'");
    }
    if (m.model_family() != family) {
      return Status::InvalidArgument("holds a '" + m.model_family() +
                                     "' model, the config trains '" + family + "'");
    }
    return CheckSameModel(m, config);  // faults: a directory written by another model config
  };
  auto wanted = [&](const Manifest& m) {
    auto names = trainer->ReplicatedStateNames(m);
    for (const auto& r : m.tensors()) {
      if (r.name().rfind("rank" + std::to_string(rank) + "/rng/", 0) == 0 ||
          (es.restore_best() && r.name().rfind("best/", 0) == 0))
        names.push_back(r.name());
    }
    return names;
  };
  // A step is loaded into the trainer while it is checked: tensors that verify but do not fit their
  // roles (dtype, shape, missing optimizer state, generator state) make it damage, and the
  // previous step is tried (each load replaces the whole state).
  bool trainer_touched = false;
  auto check = [&](const ckpt::LoadedCheckpoint& lc) -> Status {
    const auto& m = lc.manifest;
    if (m.stage_index() >= config.stages_size() ||
        m.step() > config.stages(m.stage_index()).steps())
      return Status::Corruption(lc.step_dir + ": stage " + std::to_string(m.stage_index()) +
                                " step " + std::to_string(m.step()) +
                                " is outside the config's stages");
    FC_RETURN_IF_ERROR(CheckRngState(rank, lc.tensors).WithContext(lc.step_dir));
    trainer_touched = true;
    return trainer->LoadReplicatedState(lc.tensors).WithContext(lc.step_dir);
  };
  FC_ASSIGN_OR_RETURN(auto resume, checkpointer.FindResume(compatible, wanted, check));
  if (!resume && trainer_touched) {
    // Every step was refused after some were loaded (checkpoint.fresh_start_if_all_damaged): a
    // fresh trainer, not a half-loaded one.
    auto again = MakeTrainer(config, world, comm.get());
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(again.status(), "could not rebuild the trainer"));
    trainer = std::move(again).value();
  }
  // The effective config, written only once the directory is known to be this run's (a directory
  // of another run or model keeps its config.pbtxt).
  if (world.rank() == 0) st = WriteFileAtomic(run_dir + "/config.pbtxt", text);
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(st, "could not write " + run_dir + "/config.pbtxt"));
  int64_t global_step = 0, step = 0;
  int stage = 0;
  int64_t skipped_clips = 0;  // data.skip_corrupt, over all ranks, since this process started
  if (resume) {
    // The trainer holds the step's state (loaded by `check`); the generators follow.
    auto rng = LoadRngState(rank, resume->tensors);
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(rng.status(), "could not load " + resume->step_dir));
    global_step = resume->manifest.global_step();
    stage = resume->manifest.stage_index();
    step = resume->manifest.step();
    result.resumed = true;
    result.resumed_from = resume->step_dir;
    LogInfo("resumed from " + resume->step_dir + " (global step " + std::to_string(global_step) +
            ", written by " + std::to_string(resume->manifest.world_size()) + " rank(s))");
  }
  result.first_global_step = global_step;
  run_log->Banner({family, trainer->Describe(), dist::BackendName(comm->backend()),
                   result.resumed_from, global_step, step, stage,
                   data::DescribeSubstitute(config.data())});  // log: collective

  if (eval_every > 0) {
    const auto t0 = std::chrono::steady_clock::now();
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(trainer->PrepareEval(run_dir),
                                           "could not prepare the evaluation during training"));
    run_log->ExcludeFromTiming(MsSince(t0));
  }
  // Every stage's progress as the manifest records it (restored on resume: early stopping state,
  // stages that ended early).
  std::vector<framecast::ckpt::StageStatus> progress(static_cast<size_t>(config.stages_size()));
  for (int s = 0; s < config.stages_size(); ++s) progress[s].set_name(config.stages(s).name());
  if (resume && resume->manifest.stages_size() == config.stages_size()) {
    for (int s = 0; s < config.stages_size(); ++s) {
      progress[s] = resume->manifest.stages(s);
      progress[s].set_name(config.stages(s).name());
    }
  }
  // restore_best: host copies of the current stage's StepState at its best evaluation, also
  // written into every checkpoint of the stage as "best/<name>".
  const std::string kBest = "best/";
  TensorMap best_state;
  if (resume && es.restore_best()) {
    for (const auto& [name, t] : resume->tensors)
      if (name.rfind(kBest, 0) == 0) best_state[name.substr(kBest.size())] = t;
  }
  auto with_best = [&](std::vector<ckpt::NamedTensor> state) {
    for (const auto& [name, t] : best_state) state.push_back({kBest + name, t});
    return state;
  };

  auto meta_for = [&](int stage_index, int64_t step_in_stage) {
    Manifest m;
    m.set_run_name(config.name());
    m.set_config_text(text);
    m.set_config_digest(config::Digest(text));
    m.set_model_family(family);
    m.set_step(step_in_stage);
    m.set_global_step(global_step);
    m.set_stage_index(stage_index);
    m.set_data_position(global_step * config.data().global_batch());
    for (int s = 0; s < config.stages_size(); ++s) {
      auto* ss = m.add_stages();
      *ss = progress[s];
      if (s < stage_index) {
        if (!ss->stopped_early()) ss->set_steps_done(config.stages(s).steps());
        ss->set_state(framecast::ckpt::StageStatus::DONE);
      } else if (s == stage_index) {
        ss->set_steps_done(step_in_stage);
        ss->set_state(step_in_stage >= config.stages(s).steps() || ss->stopped_early()
                          ? framecast::ckpt::StageStatus::DONE
                          : framecast::ckpt::StageStatus::RUNNING);
      } else {
        ss->set_steps_done(0);
        ss->set_state(framecast::ckpt::StageStatus::PENDING);
      }
    }
    return m;
  };

  // Evaluates the stage after `step_done` steps (every rank): the values go into the step's
  // details ("eval/<metric>") and one log line; with early stopping, records the value, keeps the
  // best state (restore_best) and returns whether the stage ends here.
  auto evaluate = [&](int s, int64_t step_done, bool stage_end, EarlyStopping& stopping,
                      StepReport* report) -> Result<bool> {
    const auto& sc = config.stages(s);
    const auto t0 = std::chrono::steady_clock::now();
    timeline::Span span("evaluation", "eval", step_done);
    FC_ASSIGN_OR_RETURN(auto values, trainer->Evaluate(s));
    span.End();
    run_log->ExcludeFromTiming(MsSince(t0));
    const auto& metrics = eval_metrics[s];
    if (values.size() != metrics.size())
      return Status::Internal("evaluation returned " + std::to_string(values.size()) +
                              " values for " + std::to_string(metrics.size()) + " metrics");
    std::string line = "eval " + sc.name() + " step " + std::to_string(step_done) + "/" +
                       std::to_string(sc.steps()) + ":";
    for (size_t i = 0; i < values.size(); ++i) {
      report->details.emplace_back("eval/" + metrics[i].name, values[i]);
      char buf[96];
      std::snprintf(buf, sizeof(buf), " %s %.6g", metrics[i].name.c_str(), values[i]);
      line += buf;
    }
    bool stop = false;
    if (stop_metric[s] >= 0) {
      const auto verdict = stopping.Record(step_done, values[stop_metric[s]]);
      if (verdict.improved && es.restore_best()) {
        FC_ASSIGN_OR_RETURN(auto now, trainer->StepState(s));
        best_state.clear();
        for (auto& nt : now) best_state[nt.name] = nt.tensor.detach().to(at::kCPU, false, true);
      }
      line += " (" + stopping.Describe() + ")";
      if (verdict.stop && !stage_end) {
        stop = true;
        line += "; early stopping: " + sc.name() + " ends at step " + std::to_string(step_done) +
                " of " + std::to_string(sc.steps());
      }
    }
    if (rank == 0) LogInfo(line);
    return stop;
  };
  // Ends stage `s` after `step_done` steps: restore_best loads the best evaluation's state, then
  // the trainer closes the stage.
  auto close_stage = [&](int s, int64_t step_done) -> Status {
    progress[s].set_steps_done(step_done);
    if (es.restore_best() && progress[s].has_best() && progress[s].best_step() != step_done &&
        !best_state.empty()) {
      FC_RETURN_IF_ERROR(trainer->LoadStepState(s, best_state)
                             .WithContext("restoring the best evaluation's state"));
      if (rank == 0)
        LogInfo(config.stages(s).name() + ": restored the state of step " +
                std::to_string(progress[s].best_step()) + " (best " + es.metric() + ")");
    }
    best_state.clear();
    return trainer->EndStage(s);
  };

  // ---- TRAINING LOOP ---------------------------------------------------------------------------
  for (; stage < config.stages_size(); ++stage, step = 0) {
    const auto& sc = config.stages(stage);
    if (progress[stage].stopped_early()) continue;  // ended early before the resume point
    if (step == 0) best_state.clear();
    if (step < sc.steps()) FC_RETURN_IF_ERROR(trainer->Seek(stage, step, global_step));
    EarlyStopping stopping(
        es, stop_metric[stage] >= 0 && eval_metrics[stage][stop_metric[stage]].higher_is_better,
        &progress[stage]);
    for (; step < sc.steps(); ++step) {
      timeline::Span step_span("step", "step", global_step + 1);
      {
        timeline::Span span("guard", "guard");
        FC_RETURN_IF_ERROR(guard.BeforeStep(*trainer, stage));  // faults: keep the last good state
      }
      FC_ASSIGN_OR_RETURN(StepReport report, trainer->Step(stage, step, global_step));
      ++global_step;
      timeline::Span guard_span("guard", "guard");
      // faults: one all-reduce agrees on stop signals and non-finite values (train/faults.h).
      // Host synchronisation: the trainers read their step's scalars once at the end of Step
      // (docs/performance.md); the guard needs the loss and the parameters' finiteness
      // of every step before the next one starts, so the check stays per step, not per logging
      // step: an undone step must be the last one.
      FC_ASSIGN_OR_RETURN(StepVerdict verdict,
                          guard.AfterStep(comm.get(), *trainer, stage, &report, global_step));
      guard_span.End();
      if (global_step == result.first_global_step + 1) comm->SetDeadline(StepDeadline(config));
      if (verdict.nonfinite) {
        FC_RETURN_IF_ERROR(guard.Restore(*trainer, stage));
        LogWarning("non-finite loss or parameters after global step " +
                   std::to_string(global_step) + " on rank(s) " + verdict.nonfinite_ranks +
                   "; the step is undone");
        if (guard.policy() == framecast::DistConfig::NONFINITE_STOP) {
          --global_step;
          FC_ASSIGN_OR_RETURN(auto good, trainer->ReplicatedState());
          FC_RETURN_IF_ERROR(
              checkpointer.Save(with_best(std::move(good)), RngState(rank), meta_for(stage, step)));
          FC_RETURN_IF_ERROR(checkpointer.Wait());
          LogError("stopped on non-finite values; checkpointed the last good state (global step " +
                   std::to_string(global_step) + ")");
          result.global_step = global_step;
          result.stop = StopReason::kNonFinite;
          run_log->Finish(/*success=*/false);
          return result;
        }
        ++result.skipped_steps;
        LogWarning("skipped global step " + std::to_string(global_step) + " (" +
                   std::to_string(result.skipped_steps) + " skipped so far)");
      }
      step_span.End();
      FC_RETURN_IF_ERROR(AverageOverRanks(comm.get(), &report));
      for (const auto& [name, v] : report.details) {  // data.skip_corrupt: say when it happens
        if (name != "data/skipped_clips") continue;
        const int64_t total = std::llround(v);
        if (total > skipped_clips && rank == 0) {
          LogWarning("data.skip_corrupt: " + std::to_string(total - skipped_clips) +
                     " corrupt clip(s) skipped in global step " + std::to_string(global_step) +
                     ", " + std::to_string(total) +
                     " so far (data/skipped_clips in metrics.jsonl)");
        }
        skipped_clips = std::max(skipped_clips, total);
      }
      result.losses.push_back(report.scalars.empty() ? 0.0 : report.scalars[0].second);
      bool stage_end = step + 1 == sc.steps();
      // Evaluation during training; early stopping may end the stage here.
      const bool evaluated = eval_every > 0 && ((step + 1) % eval_every == 0 || stage_end);
      bool stopped_early = false;
      if (evaluated) {
        FC_ASSIGN_OR_RETURN(stopped_early, evaluate(stage, step + 1, stage_end, stopping, &report));
        stage_end = stage_end || stopped_early;
      }
      if (stage_end) FC_RETURN_IF_ERROR(close_stage(stage, step + 1));
      const bool last_step = stage_end && stage + 1 == config.stages_size();
      const bool stop_now = verdict.stop_signal != 0 && !last_step;  // faults: stop on a signal
      if (checkpointer.ShouldSave(global_step, stage_end) || stop_now) {
        timeline::Span span("checkpoint", "checkpoint", global_step);
        FC_ASSIGN_OR_RETURN(auto state, trainer->ReplicatedState());
        FC_RETURN_IF_ERROR(checkpointer.Save(with_best(std::move(state)), RngState(rank),
                                             meta_for(stage, step + 1)));
        result.max_save_pause_ms = std::max(result.max_save_pause_ms, checkpointer.last_pause_ms());
        span.End();
        write_timeline();
      }
      // log: step line, progress bar, TensorBoard, metrics.jsonl; sample videos when due (rank 0).
      run_log->Step(stage, step + 1, global_step, report.scalars, report.details,
                    stopped_early || evaluated);
      if (run_log->SamplesDue(stage, step + 1, stopped_early))
        run_log->Samples(stage, global_step,
                         trainer->Samples(stage, run_log->sample_clips(), config.seed()));
      result.reports.push_back(std::move(report));
      if (stop_now) {  // faults: checkpointed above; the exit status asks for a requeue
        FC_RETURN_IF_ERROR(checkpointer.Wait());
        write_timeline();
        LogInfo("stopped on signal " + std::to_string(verdict.stop_signal) +
                " after checkpointing global step " + std::to_string(global_step) +
                "; exit status " + std::to_string(kExitRequeue) + " (requeue to resume)");
        result.global_step = global_step;
        result.stop = StopReason::kSignal;
        return result;
      }
      if (stopped_early) break;
    }
  }
  // ---- END TRAINING LOOP -----------------------------------------------------------------------
  FC_RETURN_IF_ERROR(checkpointer.Wait());
  write_timeline();
  result.global_step = global_step;
  run_log->Finish(/*success=*/true);
  if (keep_final_state) {
    FC_ASSIGN_OR_RETURN(auto state, trainer->ReplicatedState());
    for (auto& nt : state)
      result.final_state[nt.name] = nt.tensor.detach().to(at::kCPU, false, true);
  }
  if (result.losses.empty())
    LogInfo("run " + config.name() + " is already complete; nothing to train");
  return result;
}

}  // namespace fc::train
