#include "train/srvp_family.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <tuple>

#include "ckpt/checkpoint.h"
#include "data/rng.h"
#include "dist/sync_batch_norm.h"
#include "train/performance.h"
#include "train/run.h"
#include "train/schedule.h"
#include "train/state.h"
#include "util/timeline.h"
#include "util/torch_status.h"

namespace fc::train {

using framecast::RunConfig;
using framecast::SrvpConfig;
using framecast::ckpt::Manifest;
using models::srvp::Site;

namespace {

uint64_t Mix(uint64_t x) { return data::Mix64(x + 0x9e3779b97f4a7c15ULL); }  // splitmix64

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Every draw from one CPU generator seeded by `key`.
models::srvp::NoiseFn GeneratorNoise(uint64_t key) {
  auto gen = std::make_shared<at::Generator>(at::make_generator<at::CPUGeneratorImpl>(key));
  return [gen](Site, int64_t, at::IntArrayRef shape, const at::TensorOptions& opts) {
    return at::randn(shape, *gen, at::kFloat).to(opts);
  };
}

}  // namespace

models::srvp::NoiseFn SrvpKeyedNoise(uint64_t seed, int64_t first) {
  return [seed, first](Site site, int64_t t, at::IntArrayRef shape, const at::TensorOptions& opts) {
    std::vector<at::Tensor> rows;
    std::vector<int64_t> one(shape.begin() + 1, shape.end());
    for (int64_t i = 0; i < shape[0]; ++i) {
      at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
          Mix(seed ^ Mix(static_cast<uint64_t>(first + i) * 131 +
                         static_cast<uint64_t>(site) * 7919 + static_cast<uint64_t>(t) * 104729)));
      rows.push_back(at::randn(one, gen, at::kDouble));
    }
    return at::stack(rows).to(opts);
  };
}

Result<std::unique_ptr<SrvpReplica>> SrvpReplica::Create(const RunConfig& config,
                                                         dist::Communicator* comm,
                                                         const SrvpReplicaOptions& options) {
  std::unique_ptr<SrvpReplica> r(new SrvpReplica());
  r->config_ = config;
  r->comm_ = comm;
  r->options_ = options;
  const int world = comm ? comm->size() : 1;
  const int rank = comm ? comm->rank() : 0;
  const auto& d = config.data();
  r->accumulation_ = config.accumulation_steps();
  r->per_rank_batch_ = d.global_batch() / (static_cast<int64_t>(world) * r->accumulation_);
  if (r->per_rank_batch_ < 1) {
    return Status::InvalidArgument("data.global_batch=" + std::to_string(d.global_batch()) +
                                   ": less than one sample per rank and micro-batch");
  }
  // Same initialisation on every rank (GradientSync also broadcasts rank 0's state).
  torch::manual_seed(config.seed());
  FC_TRY_TORCH(r->model_ = models::srvp::Srvp(config.model().srvp()));
  // Floating tensors to the replica's dtype; batch norm's step counters stay int64.
  FC_TRY_TORCH({
    torch::NoGradGuard ng;
    for (auto& t : r->model_->parameters()) t.set_data(t.to(options.device, options.dtype));
    for (auto& t : r->model_->buffers()) {
      t.set_data(t.is_floating_point() ? t.to(options.device, options.dtype)
                                       : t.to(options.device));
    }
  });
  if (comm != nullptr) {
    dist::AttachSyncBatchNorm(*r->model_, comm);
    FC_ASSIGN_OR_RETURN(r->sync_, dist::GradientSync::Create(
                                      *r->model_, comm, SyncOptionsFor(config.dist()), "srvp"));
  }
  r->optimizer_ = MakeAdam(config.optimizers(0), r->model_->parameters());
  // Each rank's own noise stream from here on.
  torch::manual_seed(Mix(config.seed() ^ Mix(0x5a5a0000ULL + static_cast<uint64_t>(rank))));
  if (options.fixed_batch.frames.defined()) return r;
  TrainDataOptions to;
  to.clip_frames = d.context_frames() + d.predicted_frames();
  to.world = world;
  to.rank = rank;
  to.accumulation = static_cast<int>(r->accumulation_);
  to.loader_threads = options.loader_threads;
  to.device = options.device;
  to.device_prefetch =
      options.device.is_cuda() ? ResolvePerformance(config, options.device).device_prefetch : 0;
  FC_ASSIGN_OR_RETURN(r->data_, OpenTrainData(config, to));
  return r;
}

Status SrvpReplica::Seek(int, int64_t, int64_t global_step) {
  data_.Start(global_step);
  return Status::Ok();
}

Result<StepReport> SrvpReplica::Step(int stage, int64_t step_in_stage, int64_t global_step) {
  const int world = comm_ ? comm_->size() : 1;
  const int rank = comm_ ? comm_->rank() : 0;
  const int64_t steps = config_.stages(0).steps();
  const double lr =
      LearningRateAt(config_.optimizers(0), step_in_stage, steps, data_.steps_per_epoch);
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);
  if (sync_) {
    sync_->ZeroGrad();
  } else {
    optimizer_->zero_grad();
  }
  const bool logging_step = IsLoggingStep(config_, stage, step_in_stage + 1);
  double loader_wait_ms = 0, sync_wait_ms = 0;
  at::Tensor sums;  // [loss, nll, kl_y, kl_z, residual] over micro-batches, float64
  for (int64_t micro = 0; micro < accumulation_; ++micro) {
    const auto wait_start = std::chrono::steady_clock::now();
    FC_ASSIGN_OR_RETURN(data::Batch batch, data_.Next(options_.fixed_batch, global_step, micro));
    loader_wait_ms += MsSince(wait_start);
    models::srvp::NoiseFn noise;
    if (options_.keyed_noise) {
      const int64_t first =
          global_step * config_.data().global_batch() + (micro * world + rank) * per_rank_batch_;
      noise = SrvpKeyedNoise(config_.seed(), first);
    }
    std::optional<dist::GradientSync::NoSyncGuard> no_sync;
    if (sync_ && micro + 1 < accumulation_) no_sync.emplace(sync_.get());
    FC_TRY_TORCH({
      at::Tensor frames = batch.frames.to(options_.device, options_.dtype, /*non_blocking=*/true);
      timeline::Span fwd("forward", "compute");
      models::srvp::TrainOutput out = model_->forward_train(frames, noise);
      fwd.End();
      timeline::Span bwd("backward", "compute");
      (out.loss / static_cast<double>(accumulation_)).backward();
      bwd.End();
      at::NoGradGuard ng;
      at::Tensor v = at::stack({out.loss.detach(), out.nll, out.kl_y, out.kl_z, out.residual})
                         .to(at::kDouble) /
                     static_cast<double>(accumulation_);
      sums = sums.defined() ? sums + v : v;
    });
  }
  if (sync_) {
    const auto sync_start = std::chrono::steady_clock::now();
    FC_RETURN_IF_ERROR(sync_->Finish());
    sync_wait_ms = MsSince(sync_start);
  }
  double grad_norm = 0;
  if (logging_step) FC_TRY_TORCH(grad_norm = GradientNorm(*model_));
  timeline::Span opt_span("optimizer", "compute");
  FC_TRY_TORCH(optimizer_->step());
  opt_span.End();
  at::Tensor host;
  FC_TRY_TORCH(host = sums.to(at::kCPU));
  const double* v = host.data_ptr<double>();
  StepReport r;
  r.scalars = {{"loss", v[0]}, {"nll", v[1]},      {"kl_y", v[2]},
               {"kl_z", v[3]}, {"residual", v[4]}, {"lr", lr}};
  if (logging_step) r.scalars.emplace_back("grad_norm", grad_norm);
  r.details = {{"time/loader_wait_ms", loader_wait_ms},
               {"time/grad_sync_wait_ms", sync_wait_ms},
               {"data/skipped_clips", static_cast<double>(data_.skipped()) * world}};
  return r;
}

Result<std::vector<ckpt::NamedTensor>> SrvpReplica::ReplicatedState() {
  return ModelAndOptimizerState(*model_, *optimizer_, kSrvpModelPrefix);
}

std::vector<std::string> SrvpReplica::ReplicatedStateNames(const Manifest& m) {
  return ModelAndOptimizerNames(*model_, kSrvpModelPrefix, m);
}

Status SrvpReplica::LoadReplicatedState(const TensorMap& from) {
  return LoadModelAndOptimizer(*model_, *optimizer_, kSrvpModelPrefix, from);
}

Result<std::vector<log::SampleGrid>> SrvpReplica::Samples(int, int clips, uint64_t seed) {
  log::SampleGrid grid;
  grid.columns = 2;
  const bool training = model_->is_training();
  model_->eval();
  auto tiles = PredictionTiles(SrvpPrediction(model_, config_), config_, clips,
                               config_.data().predicted_frames(), seed, options_.device);
  model_->train(training);
  if (!tiles.ok()) return tiles.status();
  grid.tiles = std::move(*tiles);
  return std::vector<log::SampleGrid>{std::move(grid)};
}

Result<std::vector<double>> SrvpReplica::Evaluate(int) {
  const int rank = comm_ ? comm_->rank() : 0, size = comm_ ? comm_->size() : 1;
  if (!eval_clips_.defined()) {
    FC_ASSIGN_OR_RETURN(auto clips, TrainingEvalClips(config_, rank, size, options_.device));
    std::tie(eval_clips_, eval_first_) = clips;
  }
  const bool training = model_->is_training();
  model_->eval();
  auto r = EvaluateDuringTraining(config_, SrvpPrediction(model_, config_), eval_clips_,
                                  eval_first_, comm_);
  model_->train(training);
  return r;
}

std::string SrvpReplica::Describe() const {
  char buf[200];
  std::snprintf(buf, sizeof(buf),
                "per-rank batch %lld x %lld micro-batch(es), %.2fM parameters, %.1f steps/epoch",
                static_cast<long long>(per_rank_batch_), static_cast<long long>(accumulation_),
                models::srvp::CountParameters(*model_) / 1e6, data_.steps_per_epoch);
  return buf;
}

PredictionModel SrvpPrediction(models::srvp::Srvp model, const RunConfig& config,
                               int64_t euler_steps) {
  PredictionModel p;
  p.name = euler_steps > 0 && euler_steps != config.model().srvp().euler_steps()
               ? "srvp (euler steps " + std::to_string(euler_steps) + ")"
               : "srvp";
  const uint64_t seed = config.seed();
  p.predictor = [model, seed, euler_steps](int64_t first_index) {
    return KeyedPredictor(
        [model, euler_steps](const at::Tensor& ctx, int64_t h,
                             uint64_t key) mutable -> Result<at::Tensor> {
          at::Tensor out;
          FC_TRY_TORCH({
            const auto dtype = model->parameters().front().scalar_type();
            out = model->generate(ctx.to(dtype), h, GeneratorNoise(key), euler_steps);
          });
          return out;
        },
        seed, first_index);
  };
  p.elbo = [model, seed](const at::Tensor& local, int64_t first, int64_t batch,
                         dist::Communicator* comm) -> Result<eval::ElboResult> {
    eval::ElboFn fn = [model, seed](const at::Tensor& clips,
                                    int64_t g) mutable -> Result<at::Tensor> {
      at::Tensor out;
      FC_TRY_TORCH({
        torch::NoGradGuard ng;
        const auto dtype = model->parameters().front().scalar_type();
        auto o = model->forward_train(
            clips.to(dtype),
            GeneratorNoise(Mix(seed ^ Mix(0x454c424fULL + static_cast<uint64_t>(g)))));
        out = at::stack({o.nll_per_sample.to(at::kDouble), o.kl_per_sample.to(at::kDouble)}, 1);
      });
      return out;
    };
    // D = 0: SRVP models every frame of the clip, so its ELBO is over all of them.
    FC_ASSIGN_OR_RETURN(auto e, eval::HeldOutElbo("srvp", fn, local, first, 0, batch, comm));
    const double sigma = model->config().obs_scale();
    char note[256];
    std::snprintf(note, sizeof(note),
                  "all %lld frames of each clip (SRVP infers every frame), Gaussian likelihood, "
                  "sigma %g, pixels in [0, 1], constant included; y_1 + z KL; 1 posterior sample, "
                  "content from random frames as in training; batch norm in eval mode",
                  static_cast<long long>(local.size(1)), sigma);
    e.note = note;
    return e;
  };
  p.predict_once = [model, euler_steps](const at::Tensor& ctx, int64_t horizon,
                                        uint64_t seed) mutable -> Result<at::Tensor> {
    at::Tensor pred;
    FC_TRY_TORCH({
      const auto dtype = model->parameters().front().scalar_type();
      pred = model->generate(ctx.to(dtype), horizon, GeneratorNoise(seed), euler_steps,
                             /*every_substep=*/euler_steps > 1);
    });
    return pred;
  };
  return p;
}

Result<models::srvp::Srvp> LoadSrvp(const RunConfig& config, const std::string& step_dir,
                                    const Manifest& manifest) {
  torch::manual_seed(config.seed());
  models::srvp::Srvp model{nullptr};
  FC_TRY_TORCH(model = models::srvp::Srvp(config.model().srvp()));
  FC_RETURN_IF_ERROR(LoadModuleFromStep(*model, kSrvpModelPrefix, step_dir, manifest));
  model->eval();
  return model;
}

namespace {

class SrvpFamilyImpl : public Family {
 public:
  std::string name() const override { return "srvp"; }
  framecast::ModelConfig::FamilyCase config_case() const override {
    return framecast::ModelConfig::kSrvp;
  }
  void ApplyDefaults(RunConfig* c) const override {
    auto* s = c->mutable_model()->mutable_srvp();
    models::srvp::ApplySrvpDefaults(s);
    if (s->content_frames() == 0) s->set_content_frames(std::max(1, c->data().context_frames()));
  }
  Status ValidateModel(const RunConfig& c) const override {
    return models::srvp::ValidateSrvp(c.model().srvp());
  }
  Status Validate(const RunConfig& c) const override {
    const auto& s = c.model().srvp();
    const auto& d = c.data();
    FC_RETURN_IF_ERROR(ValidatePredictionRun(c, "srvp", s.image_channels(), s.image_size()));
    if (s.content_frames() > d.context_frames())
      return Status::InvalidArgument(
          "model.srvp.content_frames=" + std::to_string(s.content_frames()) +
          ": more than data.context_frames (" + std::to_string(d.context_frames()) +
          "); generation reads the content and y_1 from the conditioning frames");
    return Status::Ok();
  }
  bool has_step_size() const override { return true; }
  std::string bench_peer() const override { return "srvp_step.py"; }
  // SrvpReplica::Step: the ELBO over every frame with the residual penalty, backward, Adam.
  Result<BenchTrainer> MakeBenchTrainer(const RunConfig& c, int, at::Device device,
                                        int64_t batch) const override {
    SrvpReplicaOptions opts;
    opts.device = device;
    const auto& s = c.model().srvp();
    FC_TRY_TORCH(opts.fixed_batch.frames =
                     at::rand({batch, c.data().context_frames() + c.data().predicted_frames(),
                               s.image_channels(), s.image_size(), s.image_size()},
                              at::TensorOptions().device(device)));
    FC_ASSIGN_OR_RETURN(auto replica, SrvpReplica::Create(c, nullptr, opts));
    FC_RETURN_IF_ERROR(replica->Seek(0, 0, 0));
    BenchTrainer b;
    b.params = models::srvp::CountParameters(*replica->model());
    b.trainer = std::move(replica);
    return b;
  }
  Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                               dist::Communicator* comm) const override {
    SrvpReplicaOptions o;
    o.device = TorchDevice(world);
    o.keyed_noise = config.dist().keyed_noise();
    FC_ASSIGN_OR_RETURN(auto replica, SrvpReplica::Create(config, comm, o));
    return std::unique_ptr<Trainer>(std::move(replica));
  }
  Result<std::string> Summary(const RunConfig& config) const override {
    std::string text;
    FC_TRY_TORCH({
      models::srvp::Srvp m(config.model().srvp());
      text = models::srvp::ParameterSummary(*m);
    });
    return text;
  }
  Status Eval(const RunConfig& config, const EvalRequest& request,
              dist::World& world) const override {
    FC_RETURN_IF_ERROR(CheckEulerSteps(config, request.euler_steps, request.config_path));
    FC_ASSIGN_OR_RETURN(models::srvp::Srvp model,
                        LoadSrvp(config, request.step_dir, request.manifest));
    const at::Device device = TorchDevice(world);
    FC_TRY_TORCH(model->to(device));
    return RunPredictionEval(config, request, world,
                             SrvpPrediction(model, config, request.euler_steps), device);
  }
  // Held-out sequences 0..num-1: the ground truth next to the context followed by a prediction of
  // data.eval_predicted_frames frames; with --euler-steps k every sub-step is a frame (k times the
  // frame rate; the ground truth's frames are repeated to match).
  Result<SampleResult> Sample(const RunConfig& config, const Manifest& manifest,
                              const SampleRequest& r) const override {
    FC_RETURN_IF_ERROR(CheckEulerSteps(config, r.euler_steps, r.run_dir));
    FC_ASSIGN_OR_RETURN(models::srvp::Srvp model, LoadSrvp(config, r.step_dir, manifest));
    const int64_t context = config.data().context_frames();
    const int64_t horizon = config.data().eval_predicted_frames();
    const int64_t k = r.euler_steps > 1 ? r.euler_steps : 1;
    SampleResult out;
    FC_ASSIGN_OR_RETURN(out.tiles, PredictionTiles(SrvpPrediction(model, config, r.euler_steps),
                                                   config, r.num, horizon, r.seed, at::kCPU));
    if (out.tiles.empty())
      return Status::InvalidArgument(r.run_dir + ": data: the held-out set has no sequences");
    if (k > 1) {
      // Context and ground truth at the data's frame rate: each frame held k times.
      FC_TRY_TORCH({
        for (size_t i = 0; i < out.tiles.size(); ++i) {
          at::Tensor& t = out.tiles[i];
          if (i % 2 == 0) {
            t = t.repeat_interleave(k, 0);
          } else {
            t = at::cat({t.narrow(0, 0, context).repeat_interleave(k, 0),
                         t.narrow(0, context, t.size(0) - context)});
          }
        }
      });
    }
    out.tiles_per_sample = 2;
    const auto& t = out.tiles[0];
    out.what = std::to_string(out.tiles.size() / 2) + " held-out sequence(s) of " +
               std::to_string(context) + " context + " + std::to_string(horizon) +
               " predicted frames at " + std::to_string(t.size(2)) + "x" +
               std::to_string(t.size(3)) + " from " + r.step_dir +
               (k > 1 ? ", " + std::to_string(k) + " Euler steps per frame shown as " +
                            std::to_string(k) + "x the frame rate"
                      : std::string()) +
               " (left: ground truth, right: context then prediction)";
    return out;
  }

 private:
  static Status CheckEulerSteps(const RunConfig& c, int64_t steps, const std::string& where) {
    if (steps == 0) return Status::Ok();
    if (steps < 1 || steps > 64)
      return Status::InvalidArgument(where + ": --euler-steps=" + std::to_string(steps) +
                                     ": must be in [1, 64]");
    if (c.model().srvp().dynamics() != SrvpConfig::RESIDUAL &&
        steps != c.model().srvp().euler_steps())
      return Status::InvalidArgument(where +
                                     ": --euler-steps: model.srvp.dynamics is not RESIDUAL "
                                     "(only the residual update has a step size)");
    return Status::Ok();
  }
};

}  // namespace

const Family& SrvpFamily() {
  static const SrvpFamilyImpl family;
  return family;
}

}  // namespace fc::train
