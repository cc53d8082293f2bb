#include "train/run.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "ckpt/files.h"
#include "config/run_config.h"
#include "util/logging.h"

namespace fc::train {

using framecast::RunConfig;
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

DemoOptions DemoOptionsFor(const RunConfig& c, int world_size) {
  DemoOptions o;
  o.per_rank_batch =
      c.data().global_batch() / (static_cast<int64_t>(world_size) * c.accumulation_steps());
  o.accumulation = c.accumulation_steps();
  o.image_size = c.data().procedural_blobs().image_size();
  o.width = c.model().demo().width();
  o.sync_bn = c.model().demo().sync_bn();
  o.seed = c.seed();
  const auto& opt = c.optimizers(0);
  o.lr = opt.lr();
  o.weight_decay = opt.weight_decay();
  if (opt.has_adam()) {
    o.optimizer = DemoOptions::Optimizer::kAdam;
    o.beta1 = opt.adam().beta1();
    o.beta2 = opt.adam().beta2();
    o.eps = opt.adam().eps();
  } else {
    o.optimizer = DemoOptions::Optimizer::kSgd;
    o.momentum = opt.sgd().momentum();
  }
  o.sync.first_bucket_bytes = c.dist().first_bucket_mib() > 0
                                  ? static_cast<int64_t>(c.dist().first_bucket_mib() * (1 << 20))
                                  : int64_t{1} << 20;
  o.sync.bucket_bytes = c.dist().bucket_mib() > 0
                            ? static_cast<int64_t>(c.dist().bucket_mib() * (1 << 20))
                            : int64_t{25} << 20;
  return o;
}

Result<std::vector<ckpt::NamedTensor>> ReplicatedState(DemoTrainer& t) {
  auto state = ModuleState(*t.net(), "model/demo");
  FC_ASSIGN_OR_RETURN(auto opt, OptimizerState(t.optimizer(), *t.net(), "optim/model"));
  state.insert(state.end(), opt.begin(), opt.end());
  return state;
}

std::vector<std::string> ReplicatedStateNames(DemoTrainer& t, const Manifest& m) {
  std::vector<std::string> names;
  for (const auto& nt : ModuleState(*t.net(), "model/demo")) names.push_back(nt.name);
  for (const auto& r : m.tensors()) {
    if (r.name().rfind("optim/model/", 0) == 0) names.push_back(r.name());
  }
  return names;
}

Status LoadReplicatedState(DemoTrainer& t, const TensorMap& from) {
  FC_RETURN_IF_ERROR(LoadModuleState(*t.net(), "model/demo", from));
  return LoadOptimizerState(t.optimizer(), *t.net(), "optim/model", from);
}

double LearningRateAt(const framecast::OptimizerConfig& o, int64_t step, int64_t steps) {
  const double lr = o.lr();
  const int64_t warm = o.schedule().warmup_steps();
  const double warm_factor = warm > 0 ? std::min(1.0, static_cast<double>(step + 1) / warm) : 1.0;
  switch (o.schedule().kind()) {
    case framecast::LrSchedule::LINEAR_WARMUP:
      return lr * warm_factor;
    case framecast::LrSchedule::COSINE: {
      if (step < warm) return lr * warm_factor;
      const double p = static_cast<double>(step - warm) / std::max<int64_t>(1, steps - warm);
      return lr * 0.5 * (1 + std::cos(M_PI * std::min(1.0, p)));
    }
    default:
      return lr;
  }
}

Result<RunResult> RunTraining(const RunConfig& config, const dist::World& world,
                              bool keep_final_state) {
  RunResult result;
  FC_RETURN_IF_ERROR(
      world.AgreeOnStatus(config::ValidateForWorld(config, world.size()), "rejected the config"));
  FC_ASSIGN_OR_RETURN(auto comm, dist::MakeCommunicator(world, BackendOf(config.dist())));
  FC_ASSIGN_OR_RETURN(auto ckpt_comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  DemoOptions o = DemoOptionsFor(config, world.size());
  if (world.device_kind() == dist::DeviceKind::kCuda)
    o.device = at::Device(at::kCUDA, world.device_index());
  FC_ASSIGN_OR_RETURN(auto trainer, DemoTrainer::Create(comm.get(), o));

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

  // ---- resume
  // ------------------------------------------------------------------------------------
  const int rank = world.rank();
  auto compatible = [&](const Manifest& m) -> Status {
    if (m.run_name() != config.name()) {
      return Status::InvalidArgument("written by run '" + m.run_name() + "', not '" +
                                     config.name() + "'");
    }
    if (m.model_family() != "demo") {
      return Status::InvalidArgument("holds a '" + m.model_family() +
                                     "' model, the config trains 'demo'");
    }
    return Status::Ok();
  };
  auto wanted = [&](const Manifest& m) {
    auto names = ReplicatedStateNames(*trainer, m);
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
    FC_RETURN_IF_ERROR(world.AgreeOnStatus(LoadReplicatedState(*trainer, resume->tensors),
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
  LogInfo("run " + config.name() + " in " + run_dir + ": " + std::to_string(world.size()) +
          " rank(s), backend " + dist::BackendName(comm->backend()) + ", per-rank batch " +
          std::to_string(o.per_rank_batch) + " x " + std::to_string(o.accumulation) +
          " micro-batch(es), config digest " + config::Digest(text));

  auto meta_for = [&](int stage_index, int64_t step_in_stage) {
    Manifest m;
    m.set_run_name(config.name());
    m.set_config_text(text);
    m.set_config_digest(config::Digest(text));
    m.set_model_family("demo");
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
    for (; step < sc.steps(); ++step) {
      auto t0 = std::chrono::steady_clock::now();
      const double lr = LearningRateAt(config.optimizers(0), step, sc.steps());
      trainer->SetLearningRate(lr);
      FC_ASSIGN_OR_RETURN(double loss, trainer->Step(global_step));
      ++global_step;
      at::Tensor l = at::full({1}, loss, at::kDouble);
      FC_RETURN_IF_ERROR(comm->AllReduce(l, dist::ReduceOp::kAvg)->Wait());
      result.losses.push_back(l.item<double>());
      const bool stage_end = step + 1 == sc.steps();
      if (checkpointer.ShouldSave(global_step, stage_end)) {
        FC_ASSIGN_OR_RETURN(auto state, ReplicatedState(*trainer));
        FC_RETURN_IF_ERROR(checkpointer.Save(state, RngState(rank), meta_for(stage, step + 1)));
        result.max_save_pause_ms = std::max(result.max_save_pause_ms, checkpointer.last_pause_ms());
      }
      if ((step + 1) % config.logging().every_steps() == 0 || stage_end) {
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        char line[256];
        std::snprintf(line, sizeof(line),
                      "stage %s step %lld/%lld (global %lld) loss %.9g lr %.4g %.1f ms/step",
                      sc.name().c_str(), static_cast<long long>(step + 1),
                      static_cast<long long>(sc.steps()), static_cast<long long>(global_step),
                      l.item<double>(), lr, ms);
        LogInfo(line);
      }
    }
  }
  // ---- END TRAINING LOOP -----------------------------------------------------------------------
  FC_RETURN_IF_ERROR(checkpointer.Wait());
  result.global_step = global_step;
  if (keep_final_state) {
    FC_ASSIGN_OR_RETURN(auto state, ReplicatedState(*trainer));
    for (auto& nt : state)
      result.final_state[nt.name] = nt.tensor.detach().to(at::kCPU, false, true);
  }
  if (result.losses.empty())
    LogInfo("run " + config.name() + " is already complete; nothing to train");
  return result;
}

}  // namespace fc::train
