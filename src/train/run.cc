#include "train/run.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "ckpt/files.h"
#include "config/run_config.h"
#include "util/logging.h"

namespace fc::train {

using framecast::RunConfig;

namespace {

// Averages every scalar of `report` over ranks in one all-reduce.
Status AverageOverRanks(dist::Communicator* comm, StepReport* report) {
  const int64_t n = static_cast<int64_t>(report->scalars.size());
  if (n == 0) return Status::Ok();
  at::Tensor v = at::empty({n}, at::kDouble);
  for (int64_t i = 0; i < n; ++i) v[i] = report->scalars[i].second;
  FC_RETURN_IF_ERROR(comm->AllReduce(v, dist::ReduceOp::kAvg)->Wait());
  for (int64_t i = 0; i < n; ++i) report->scalars[i].second = v[i].item<double>();
  return Status::Ok();
}

// "stage main step 5/100 (global 5) loss 0.25 kl 3.1 lr 0.0001 12.3 ms/step"
std::string StepLine(const std::string& stage, int64_t step, int64_t steps, int64_t global_step,
                     const StepReport& r, double ms) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "stage %s step %lld/%lld (global %lld)", stage.c_str(),
                static_cast<long long>(step), static_cast<long long>(steps),
                static_cast<long long>(global_step));
  std::string line = buf;
  for (const auto& [name, value] : r.scalars) {
    std::snprintf(buf, sizeof(buf), " %s %.9g", name.c_str(), value);
    line += buf;
  }
  std::snprintf(buf, sizeof(buf), " %.1f ms/step", ms);
  return line + buf;
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

Result<RunResult> RunTraining(const RunConfig& config, const dist::World& world,
                              bool keep_final_state) {
  RunResult result;
  FC_RETURN_IF_ERROR(
      world.AgreeOnStatus(config::ValidateForWorld(config, world.size()), "rejected the config"));
  FC_ASSIGN_OR_RETURN(auto comm, dist::MakeCommunicator(world, BackendOf(config.dist())));
  FC_ASSIGN_OR_RETURN(auto ckpt_comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  auto made = MakeTrainer(config, world, comm.get());
  FC_RETURN_IF_ERROR(
      world.AgreeOnStatus(made.ok() ? Status::Ok() : made.status(), "could not build the trainer"));
  std::unique_ptr<Trainer> trainer = std::move(made.value());
  const std::string family = trainer->family();

  // ---- run directory ---------------------------------------------------------------------------
  const std::string run_dir = config::RunDir(config);
  const std::string text = config::ToText(config);
  Status st;
  if (world.rank() == 0) {
    st = ckpt::MakeDirs(run_dir + "/checkpoints");
    if (st.ok()) st = ckpt::WriteFileAtomic(run_dir + "/config.pbtxt", text);
  }
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(st, "could not prepare the run directory"));
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
    return Status::Ok();
  };
  auto wanted = [&](const Manifest& m) {
    auto names = trainer->ReplicatedStateNames(m);
    for (const auto& r : m.tensors()) {
      if (r.name().rfind("rank" + std::to_string(rank) + "/rng/", 0) == 0)
        names.push_back(r.name());
    }
    return names;
  };
  FC_ASSIGN_OR_RETURN(auto resume, checkpointer.FindResume(compatible, wanted));
  int64_t global_step = 0, step = 0;
  int stage = 0;
  if (resume) {
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(trainer->LoadReplicatedState(resume->tensors),
                                           "could not load " + resume->step_dir));
    LoadRngState(rank, resume->tensors);
    global_step = resume->manifest.global_step();
    stage = resume->manifest.stage_index();
    step = resume->manifest.step();
    result.resumed = true;
    result.resumed_from = resume->step_dir;
    LogInfo("resumed from " + resume->step_dir + " (global step " + std::to_string(global_step) +
            ", written by " + std::to_string(resume->manifest.world_size()) + " rank(s))");
  }
  result.first_global_step = global_step;
  LogInfo("run " + config.name() + " (" + family + ") in " + run_dir + ": " +
          std::to_string(world.size()) + " rank(s), backend " + dist::BackendName(comm->backend()) +
          ", " + trainer->Describe() + ", config digest " + config::Digest(text));

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
      ss->set_name(config.stages(s).name());
      ss->set_steps_done(s < stage_index    ? config.stages(s).steps()
                         : s == stage_index ? step_in_stage
                                            : 0);
      ss->set_state(s < stage_index ||
                            (s == stage_index && step_in_stage >= config.stages(s).steps())
                        ? framecast::ckpt::StageStatus::DONE
                    : s == stage_index ? framecast::ckpt::StageStatus::RUNNING
                                       : framecast::ckpt::StageStatus::PENDING);
    }
    return m;
  };

  // ---- TRAINING LOOP ---------------------------------------------------------------------------
  for (; stage < config.stages_size(); ++stage, step = 0) {
    const auto& sc = config.stages(stage);
    if (step < sc.steps()) FC_RETURN_IF_ERROR(trainer->Seek(stage, step, global_step));
    for (; step < sc.steps(); ++step) {
      auto t0 = std::chrono::steady_clock::now();
      FC_ASSIGN_OR_RETURN(StepReport report, trainer->Step(stage, step, global_step));
      ++global_step;
      FC_RETURN_IF_ERROR(AverageOverRanks(comm.get(), &report));
      result.losses.push_back(report.scalars.empty() ? 0.0 : report.scalars[0].second);
      const bool stage_end = step + 1 == sc.steps();
      if (stage_end) FC_RETURN_IF_ERROR(trainer->EndStage(stage));
      if (checkpointer.ShouldSave(global_step, stage_end)) {
        FC_ASSIGN_OR_RETURN(auto state, trainer->ReplicatedState());
        FC_RETURN_IF_ERROR(checkpointer.Save(state, RngState(rank), meta_for(stage, step + 1)));
        result.max_save_pause_ms = std::max(result.max_save_pause_ms, checkpointer.last_pause_ms());
      }
      if ((step + 1) % config.logging().every_steps() == 0 || stage_end) {
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        LogInfo(StepLine(sc.name(), step + 1, sc.steps(), global_step, report, ms));
      }
      result.reports.push_back(std::move(report));
    }
  }
  // ---- END TRAINING LOOP -----------------------------------------------------------------------
  FC_RETURN_IF_ERROR(checkpointer.Wait());
  result.global_step = global_step;
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
