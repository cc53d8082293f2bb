#include "train/cvg_family.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "ckpt/checkpoint.h"
#include "data/rng.h"
#include "dist/sync_batch_norm.h"
#include "models/cvg/config.h"
#include "models/cvg/loss.h"
#include "models/cvg/pyramid.h"
#include "models/cvg/upscale_generator.h"
#include "nn/init.h"
#include "nn/standing_stats.h"
#include "train/cvg_eval.h"
#include "train/family.h"
#include "train/run.h"
#include "train/schedule.h"
#include "util/timeline.h"
#include "util/torch_status.h"

namespace fc::train {

using framecast::RunConfig;
using framecast::ckpt::Manifest;
using models::cvg::CvgGenerator;
using models::cvg::Geometry;
using models::cvg::LevelGeometry;

namespace {

// D steps per G step (spec 7.2) and the random-draw phases of an iteration.
constexpr int kDSteps = 2;
constexpr int kGPhase = kDSteps;

void SetRequiresGrad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}

at::Generator CpuGenerator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

}  // namespace

std::string CvgReplica::Prefix(int level) const { return "level" + std::to_string(level + 1); }

Result<std::unique_ptr<CvgReplica>> CvgReplica::Create(const RunConfig& config,
                                                       dist::Communicator* comm,
                                                       const CvgReplicaOptions& options) {
  std::unique_ptr<CvgReplica> r(new CvgReplica());
  r->config_ = config;
  r->comm_ = comm;
  r->options_ = options;
  r->like_ = at::TensorOptions().device(options.device).dtype(options.dtype);
  const auto& cvg = config.model().cvg();
  const int world = comm ? comm->size() : 1;
  const int rank = comm ? comm->rank() : 0;
  const auto& d = config.data();
  r->accumulation_ = config.accumulation_steps();
  r->per_rank_batch_ = d.global_batch() / (static_cast<int64_t>(world) * r->accumulation_);
  if (r->per_rank_batch_ < 1 || r->per_rank_batch_ * world * r->accumulation_ != d.global_batch()) {
    return Status::InvalidArgument("data.global_batch=" + std::to_string(d.global_batch()) +
                                   ": not a multiple of " + std::to_string(world) + " rank(s) x " +
                                   std::to_string(r->accumulation_) + " micro-batch(es)");
  }

  r->perf_ = ResolvePerformance(config, options.device);
  ApplyGlobalSwitches(r->perf_, options.device);
  if (r->perf_.cuda_graphs) {
    LogInfoOnce("performance.cuda_graphs: not supported by the cvg family; its step runs eagerly");
  }
  // Same initialisation on every rank (GradientSync also broadcasts rank 0's state).
  torch::manual_seed(config.seed());
  const int n = cvg.levels_size();
  r->cascade_ =
      std::make_unique<models::cvg::Cascade>(cvg, r->like_, config.seed(), options.keyed_noise);
  for (int l = 0; l < n; ++l) {
    FC_ASSIGN_OR_RETURN(auto level, models::cvg::BuildCvgLevel(cvg, l));
    FC_TRY_TORCH({
      level.generator->to(options.device, options.dtype);
      level.discriminators->to(options.device, options.dtype);
      if (r->perf_.channels_last) {
        ToChannelsLast(*level.generator);
        ToChannelsLast(*level.discriminators);
      }
    });
    if (comm != nullptr) dist::AttachSyncBatchNorm(*level.generator, comm);
    framecast::OptimizerConfig og, od;
    for (const auto& o : config.optimizers()) {
      if (o.network() == level.generator_network) og = o;
      if (o.network() == level.discriminator_network) od = o;
    }
    r->opt_g_.push_back(MakeAdam(og, level.generator->parameters()));
    r->opt_d_.push_back(MakeAdam(od, level.discriminators->parameters()));
    r->oc_g_.push_back(og);
    r->oc_d_.push_back(od);
    r->cascade_->AddLevel(std::move(level));
  }
  // Each rank's own random stream from here on.
  torch::manual_seed(data::Mix64(config.seed() ^ data::Mix64(0xc0a9e000ULL + rank)));

  if (!options.with_data) return r;
  // Data: clips of the last level's full length; two micro-batch sequences per step (one per D
  // step), the same global sample sequence for any number of ranks.
  TrainDataOptions to;
  to.clip_frames = d.context_frames() + d.predicted_frames();
  to.world = world;
  to.rank = rank;
  to.accumulation = static_cast<int>(kDSteps * r->accumulation_);
  to.batches_per_step = kDSteps;
  to.loader_threads = options.loader_threads;
  to.device = options.device;
  to.device_prefetch = r->perf_.device_prefetch;
  FC_ASSIGN_OR_RETURN(r->data_, OpenTrainData(config, to));
  r->steps_per_epoch_ = r->data_.steps_per_epoch;
  return r;
}

at::Tensor CvgReplica::ToDevice(const at::Tensor& t) const {
  return t.defined() ? t.to(options_.device, /*non_blocking=*/true) : t;
}

std::string CvgReplica::Describe() const {
  std::string s = "CVG cascade of " + std::to_string(num_levels()) + " level(s); per-rank batch " +
                  std::to_string(per_rank_batch_) + " x " + std::to_string(accumulation_) +
                  " micro-batch(es), BN statistics over each micro-batch of all ranks;";
  for (int i = 0; i < num_levels(); ++i) {
    const auto& l = cascade_->level(i);
    char buf[96];
    std::snprintf(buf, sizeof(buf), " level%d G %.2fM D %.2fM", l.level + 1,
                  nn::CountParameters(*l.generator) / 1e6,
                  nn::CountParameters(*l.discriminators) / 1e6);
    s += buf;
  }
  return s;
}

void CvgReplica::FreezeLevels(int levels) { cascade_->Freeze(levels); }

Status CvgReplica::Seek(int stage, int64_t global_step) {
  if (sync_level_ != stage) {
    sync_g_.reset();
    sync_d_.reset();
  }
  FreezeLevels(stage);
  if (sync_level_ != stage) {
    sync_level_ = stage;
    if (comm_ != nullptr) {
      dist::GradientSyncOptions so = SyncOptionsFor(config_.dist());
      FC_ASSIGN_OR_RETURN(sync_g_,
                          dist::GradientSync::Create(*cascade_->level(stage).generator, comm_, so,
                                                     cascade_->level(stage).generator_network));
      FC_ASSIGN_OR_RETURN(
          sync_d_, dist::GradientSync::Create(*cascade_->level(stage).discriminators, comm_, so,
                                              cascade_->level(stage).discriminator_network));
    }
  }
  cascade_->level(stage).generator->train();
  cascade_->level(stage).discriminators->train();
  data_.Start(global_step);
  return Status::Ok();
}

Result<StepReport> CvgReplica::Step(int stage, int64_t step_in_stage, int64_t global_step) {
  const bool fixed = !data_.loader && options_.fixed_batch.frames.defined();
  if (!data_.loader && !fixed) return Status::InvalidArgument("CVG replica built without data");
  if (sync_level_ != stage) return Status::InvalidArgument("CVG Step before Seek");
  const int l = stage;
  auto& level = cascade_->level(l);
  auto& G = *level.generator;
  auto& D = *level.discriminators;
  const int world = comm_ ? comm_->size() : 1;
  const int rank = comm_ ? comm_->rank() : 0;
  const int64_t steps = config_.stages(stage).steps();
  const double lr_g = LearningRateAt(oc_g_[l], step_in_stage, steps, steps_per_epoch_);
  const double lr_d = LearningRateAt(oc_d_[l], step_in_stage, steps, steps_per_epoch_);
  for (auto& g : opt_g_[l]->param_groups()) g.options().set_lr(lr_g);
  for (auto& g : opt_d_[l]->param_groups()) g.options().set_lr(lr_d);
  const bool conditional = config_.model().cvg().num_classes() > 0;
  const double a = static_cast<double>(accumulation_);
  // Global position of this rank's first sample of micro-batch `micro` (data/sampler.h layout).
  auto first_sample = [&](int64_t micro) { return (micro * world + rank) * per_rank_batch_; };

  const bool logging_step = IsLoggingStep(config_, stage, step_in_stage + 1);
  double grad_norm_d = 0, grad_norm_g = 0;
  double loader_wait_ms = 0, sync_wait_ms = 0;
  // [loss_d, d_real, d_fake, loss_g] accumulated on the device (float64), read once at the end.
  at::Tensor sums = at::zeros({4}, at::TensorOptions().device(options_.device).dtype(at::kDouble));
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  // ---- 2 discriminator steps ----
  SetRequiresGrad(D, true);
  for (int k = 0; k < kDSteps; ++k) {
    if (sync_d_) {
      sync_d_->ZeroGrad();
    } else {
      opt_d_[l]->zero_grad();
    }
    for (int64_t micro = 0; micro < accumulation_; ++micro) {
      const int64_t want_micro = k * accumulation_ + micro;
      const auto wait_start = Clock::now();
      FC_ASSIGN_OR_RETURN(data::Batch batch,
                          data_.Next(options_.fixed_batch, global_step, want_micro));
      loader_wait_ms += ms_since(wait_start);
      // Loader labels are CPU tensors (no device wait); a fixed batch's are checked once.
      if (conditional && batch.labels.defined() && batch.labels.numel() > 0 &&
          (batch.labels.is_cpu() || !labels_checked_)) {
        labels_checked_ = true;
        if (batch.labels.min().item<int64_t>() < 0) {
          return Status::InvalidArgument(
              "data: the cascade is class-conditional (model.cvg."
              "num_classes) but the clips have no labels");
        }
      }
      models::cvg::CascadeDraws d =
          cascade_->Draw(l, per_rank_batch_, k, first_sample(want_micro), global_step);
      std::optional<dist::GradientSync::NoSyncGuard> no_sync;
      if (sync_d_ && micro + 1 < accumulation_) no_sync.emplace(sync_d_.get());
      FC_TRY_TORCH({
        at::Tensor frames = batch.frames.to(options_.device, options_.dtype, true);
        models::cvg::DiscriminatorBatch real, fake;
        real.clip = cascade_->RealView(l, frames, d, &real.low_res);
        real.labels = conditional ? ToDevice(batch.labels) : at::Tensor();
        real.frame_idx = ToDevice(d.real_frames);
        fake.labels = conditional ? ToDevice(d.labels) : at::Tensor();
        fake.frame_idx = ToDevice(d.fake_frames);
        at::Tensor s_real, s_fake, loss;
        {
          timeline::Span span("D forward", "compute");
          AutocastScope autocast(options_.device, perf_.bf16);
          {
            torch::NoGradGuard ng;
            fake.clip = cascade_->Fake(l, d, &fake.low_res);
          }
          s_real = D.forward(real);
          s_fake = D.forward(fake);
          loss = models::cvg::HingeDiscriminatorLoss(s_real, s_fake);
        }
        timeline::Span bwd("D backward", "compute");
        (loss / a).backward();
        bwd.End();
        at::NoGradGuard ng;
        at::Tensor v =
            at::stack({loss.detach().to(at::kDouble), s_real.detach().to(at::kDouble).mean(),
                       s_fake.detach().to(at::kDouble).mean()});
        sums.narrow(0, 0, 3).add_(v, 1.0 / (a * kDSteps));
      });
    }
    if (sync_d_) {
      const auto sync_start = Clock::now();
      FC_RETURN_IF_ERROR(sync_d_->Finish());
      sync_wait_ms += ms_since(sync_start);
    }
    // The second D step's gradient (the same on every rank after the sync).
    if (logging_step && k + 1 == kDSteps) FC_TRY_TORCH(grad_norm_d = GradientNorm(D));
    timeline::Span opt_span("D optimizer", "compute");
    FC_TRY_TORCH(opt_d_[l]->step());
  }

  // ---- 1 generator step: no gradient for D ----
  SetRequiresGrad(D, false);
  if (sync_g_) {
    sync_g_->ZeroGrad();
  } else {
    opt_g_[l]->zero_grad();
  }
  for (int64_t micro = 0; micro < accumulation_; ++micro) {
    models::cvg::CascadeDraws d =
        cascade_->Draw(l, per_rank_batch_, kGPhase, first_sample(micro), global_step);
    std::optional<dist::GradientSync::NoSyncGuard> no_sync;
    if (sync_g_ && micro + 1 < accumulation_) no_sync.emplace(sync_g_.get());
    FC_TRY_TORCH({
      models::cvg::DiscriminatorBatch fake;
      fake.labels = conditional ? ToDevice(d.labels) : at::Tensor();
      fake.frame_idx = ToDevice(d.fake_frames);
      at::Tensor loss;
      {
        timeline::Span span("G forward", "compute");
        AutocastScope autocast(options_.device, perf_.bf16);
        fake.clip = cascade_->Fake(l, d, &fake.low_res);
        loss = models::cvg::HingeGeneratorLoss(D.forward(fake));
      }
      timeline::Span bwd("G backward", "compute");
      (loss / a).backward();
      bwd.End();
      at::NoGradGuard ng;
      sums.narrow(0, 3, 1).add_(loss.detach().to(at::kDouble).reshape({1}), 1.0 / a);
    });
  }
  if (sync_g_) {
    const auto sync_start = Clock::now();
    FC_RETURN_IF_ERROR(sync_g_->Finish());
    sync_wait_ms += ms_since(sync_start);
  }
  if (logging_step) FC_TRY_TORCH(grad_norm_g = GradientNorm(G));
  timeline::Span opt_span("G optimizer", "compute");
  FC_TRY_TORCH(opt_g_[l]->step());
  opt_span.End();
  SetRequiresGrad(D, true);

  // The iteration's one read of its scalars.
  at::Tensor host;
  FC_TRY_TORCH(host = sums.to(at::kCPU));
  const double* v = host.data_ptr<double>();
  StepReport r;
  r.scalars = {{"loss_d", v[0]}, {"loss_g", v[3]}, {"d_real", v[1]},
               {"d_fake", v[2]}, {"lr_g", lr_g},   {"lr_d", lr_d}};
  if (logging_step) {
    r.scalars.emplace_back("grad_norm_d", grad_norm_d);
    r.scalars.emplace_back("grad_norm_g", grad_norm_g);
  }
  r.details = {
      {"time/loader_wait_ms", loader_wait_ms},
      {"time/grad_sync_wait_ms", sync_wait_ms},
      // data.skip_corrupt: corrupt clips skipped so far (x ranks: the rank average is the
      // run's total).
      {"data/skipped_clips", static_cast<double>(data_.skipped()) * (comm_ ? comm_->size() : 1)}};
  return r;
}

CvgGenerator& CvgReplica::inference_generator(int level) {
  return cascade_->inference_generator(level);
}

Result<std::vector<at::Tensor>> CvgReplica::SampleCascade(int levels, const at::Tensor& labels,
                                                          int64_t batch, at::Generator gen) {
  std::vector<at::Tensor> out;
  FC_TRY_TORCH(out = cascade_->Sample(levels, labels, batch, gen));
  return out;
}

Result<std::vector<log::SampleGrid>> CvgReplica::Samples(int stage, int clips, uint64_t seed) {
  at::Generator gen = CpuGenerator(seed);
  at::Tensor labels;
  if (num_classes() > 0) labels = at::arange(clips, at::kLong).remainder(num_classes());
  FC_ASSIGN_OR_RETURN(auto outs, SampleCascade(stage + 1, labels, clips, gen));
  std::vector<log::SampleGrid> grids;
  for (size_t j = 0; j < outs.size(); ++j) {
    log::SampleGrid grid;
    grid.name = Prefix(static_cast<int>(j));
    grid.columns = clips;
    at::Tensor x = models::cvg::FromModelRange(outs[j]).clamp(0, 1).to(at::kFloat).cpu();
    for (int64_t i = 0; i < x.size(0); ++i) grid.tiles.push_back(x[i]);
    grids.push_back(std::move(grid));
  }
  return grids;
}

Status CvgReplica::BuildUnrolled(int level) {
  std::shared_ptr<CvgGenerator> u;
  FC_TRY_TORCH({
    u = cascade_->MakeUnrolled(level);
    if (comm_ != nullptr) dist::AttachSyncBatchNorm(*u, comm_);
  });
  cascade_->SetUnrolled(level, std::move(u));
  return Status::Ok();
}

Status CvgReplica::EndStage(int stage) {
  const auto& cvg = config_.model().cvg();
  sync_g_.reset();
  sync_d_.reset();
  sync_level_ = -1;
  FreezeLevels(stage + 1);
  const LevelGeometry geo = Geometry(cvg, stage);
  if (stage == 0 || geo.frames <= geo.train_frames) return Status::Ok();
  // Unrolled at inference: standing statistics at the full length (spec 1.8), over the whole
  // cascade at full length, synchronised over ranks.
  FC_RETURN_IF_ERROR(BuildUnrolled(stage));
  CvgGenerator& u = *cascade_->unrolled(stage);
  const int passes = cvg.levels(stage).standing_stat_passes();
  const int64_t b = per_rank_batch_;
  return TryTorch([&] {
    nn::AccumulateStandingStats(u, passes, [&] {
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      at::Tensor y;
      if (cvg.num_classes() > 0) y = at::randint(cvg.num_classes(), {b}, gen, at::kLong);
      auto inputs = SampleCascade(stage, y, b, gen);
      TORCH_CHECK(inputs.ok(), inputs.status().message());
      u.Generate(at::randn({b, u.z_dim()}, gen, at::kFloat).to(like_),
                 y.defined() ? y.to(options_.device) : y, inputs.value().back());
    });
    models::cvg::FreezeGenerator(u);
  });
}

Result<std::vector<ckpt::NamedTensor>> CvgReplica::LevelState(int l) {
  if (l < 0 || l >= num_levels())
    return Status::InvalidArgument("no CVG level " + std::to_string(l + 1));
  const std::string p = Prefix(l);
  auto state = ModuleState(*cascade_->level(l).generator, "model/" + p + "/G");
  auto d = ModuleState(*cascade_->level(l).discriminators, "model/" + p + "/D");
  state.insert(state.end(), d.begin(), d.end());
  if (cascade_->unrolled(l)) {
    auto u = ModuleState(*cascade_->unrolled(l), "model/" + p + "/G_unrolled");
    state.insert(state.end(), u.begin(), u.end());
  }
  FC_ASSIGN_OR_RETURN(
      auto og, OptimizerState(*opt_g_[l], *cascade_->level(l).generator, "optim/" + p + "/G"));
  FC_ASSIGN_OR_RETURN(
      auto od, OptimizerState(*opt_d_[l], *cascade_->level(l).discriminators, "optim/" + p + "/D"));
  state.insert(state.end(), og.begin(), og.end());
  state.insert(state.end(), od.begin(), od.end());
  return state;
}

Result<std::vector<ckpt::NamedTensor>> CvgReplica::ReplicatedState() {
  std::vector<ckpt::NamedTensor> state;
  for (int l = 0; l < num_levels(); ++l) {
    FC_ASSIGN_OR_RETURN(auto level, LevelState(l));
    state.insert(state.end(), level.begin(), level.end());
  }
  return state;
}

std::vector<std::string> CvgReplica::ReplicatedStateNames(const Manifest& m) {
  std::vector<std::string> names;
  for (int l = 0; l < num_levels(); ++l) {
    const std::string p = Prefix(l);
    for (const auto& nt : ModuleState(*cascade_->level(l).generator, "model/" + p + "/G"))
      names.push_back(nt.name);
    for (const auto& nt : ModuleState(*cascade_->level(l).discriminators, "model/" + p + "/D"))
      names.push_back(nt.name);
    for (auto& n : NamesUnder(m, "model/" + p + "/G_unrolled/")) names.push_back(n);
  }
  for (auto& n : NamesUnder(m, "optim/")) names.push_back(n);
  return names;
}

Status CvgReplica::LoadLevelState(int l, const TensorMap& from) {
  if (l < 0 || l >= num_levels())
    return Status::InvalidArgument("no CVG level " + std::to_string(l + 1));
  const std::string p = Prefix(l);
  FC_RETURN_IF_ERROR(LoadModuleState(*cascade_->level(l).generator, "model/" + p + "/G", from));
  FC_RETURN_IF_ERROR(
      LoadModuleState(*cascade_->level(l).discriminators, "model/" + p + "/D", from));
  const std::string up = "model/" + p + "/G_unrolled/";
  auto it = from.lower_bound(up);
  const bool has_unrolled = it != from.end() && it->first.rfind(up, 0) == 0;
  if (has_unrolled) {
    if (!cascade_->unrolled(l)) FC_RETURN_IF_ERROR(BuildUnrolled(l));
    FC_RETURN_IF_ERROR(LoadModuleState(*cascade_->unrolled(l), "model/" + p + "/G_unrolled", from));
    models::cvg::FreezeGenerator(*cascade_->unrolled(l));
  } else {
    cascade_->SetUnrolled(l, nullptr);
  }
  FC_RETURN_IF_ERROR(
      LoadOptimizerState(*opt_g_[l], *cascade_->level(l).generator, "optim/" + p + "/G", from));
  return LoadOptimizerState(*opt_d_[l], *cascade_->level(l).discriminators, "optim/" + p + "/D",
                            from);
}

Status CvgReplica::LoadReplicatedState(const TensorMap& from) {
  for (int l = 0; l < num_levels(); ++l) FC_RETURN_IF_ERROR(LoadLevelState(l, from));
  return Status::Ok();
}

int FinishedLevels(const framecast::ckpt::Manifest& manifest, const framecast::RunConfig& config) {
  int done = 0;
  while (done < manifest.stages_size() &&
         manifest.stages(done).state() == framecast::ckpt::StageStatus::DONE)
    ++done;
  return std::min(done, config.model().cvg().levels_size());
}

CvgReplica::~CvgReplica() = default;

std::vector<EvalMetric> CvgReplica::EvalMetrics(int) const {
  return CvgTrainingEval::Metrics(config_);
}

Status CvgReplica::PrepareEval(const std::string& run_dir) {
  FC_ASSIGN_OR_RETURN(eval_, CvgTrainingEval::Create(config_, run_dir, options_.device, comm_));
  return Status::Ok();
}

Result<std::vector<double>> CvgReplica::Evaluate(int stage) {
  if (!eval_) return Status::Internal("CvgReplica::Evaluate before PrepareEval");
  return eval_->Evaluate(*this, stage);
}

namespace {

const char* const kFashionNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

class CvgFamilyImpl : public Family {
 public:
  std::string name() const override { return "cvg"; }
  framecast::ModelConfig::FamilyCase config_case() const override {
    return framecast::ModelConfig::kCvg;
  }
  void ApplyDefaults(RunConfig* c) const override { (void)models::cvg::ApplyCvgRunDefaults(c); }
  Status ValidateModel(const RunConfig& c) const override {
    framecast::CvgConfig defaulted = c.model().cvg();
    FC_RETURN_IF_ERROR(models::cvg::ApplyCvgDefaults(&defaulted));
    return models::cvg::ValidateCvg(defaulted);
  }
  Status Validate(const RunConfig& c) const override {
    FC_RETURN_IF_ERROR(models::cvg::ValidateCvgRun(c));
    return models::cvg::ValidateCvgData(c);
  }
  PerformanceSupport performance() const override { return {true, true, false}; }
  std::string bench_peer() const override { return "cvg_step.py"; }
  bool bench_per_iteration() const override { return true; }
  int64_t bench_default_batch(const RunConfig&) const override { return 8; }
  // One iteration of each level (or level `level`): 2 D steps + 1 G step, the levels before it
  // frozen and generating its input; clips of the last level's length and resolution.
  Result<std::vector<BenchStage>> BenchStages(const RunConfig& c, int level,
                                              int64_t batch) const override {
    const auto& cc = c.model().cvg();
    const int n = cc.levels_size();
    if (level < 0) level = 1;  // the default: level 1
    if (level > n)
      return Status::InvalidArgument("--level " + std::to_string(level) + ": the config has " +
                                     std::to_string(n) + " level(s) (1.." + std::to_string(n) +
                                     " or all)");
    std::vector<BenchStage> out;
    const auto& last = cc.levels(n - 1);
    for (int l = 0; l < n; ++l) {
      if (level != 0 && level != l + 1) continue;
      const auto geo = models::cvg::Geometry(cc, l);
      char what[320];
      std::snprintf(what, sizeof(what),
                    "cvg iteration (2 D steps + 1 G step), level %d of %d: %lld clips per rank of "
                    "%d frames at %dx%dx%d; the level trains %lld frames at %lldx%lld",
                    l + 1, n, static_cast<long long>(batch),
                    c.data().context_frames() + c.data().predicted_frames(), last.resolution(),
                    last.resolution(), cc.image_channels(),
                    static_cast<long long>(geo.train_frames),
                    static_cast<long long>(geo.resolution), static_cast<long long>(geo.resolution));
      out.push_back({l, " --level " + std::to_string(l + 1), what});
    }
    return out;
  }
  Result<BenchTrainer> MakeBenchTrainer(const RunConfig& c, int level, at::Device device,
                                        int64_t batch) const override {
    const auto& cc = c.model().cvg();
    const auto& last = cc.levels(cc.levels_size() - 1);
    CvgReplicaOptions opts;
    opts.device = device;
    opts.with_data = false;
    FC_TRY_TORCH({
      const auto f = at::TensorOptions().device(device);
      opts.fixed_batch.frames =
          at::rand({batch, c.data().context_frames() + c.data().predicted_frames(),
                    cc.image_channels(), last.resolution(), last.resolution()},
                   f);
      if (cc.num_classes() > 0)
        opts.fixed_batch.labels = at::randint(cc.num_classes(), {batch}, f.dtype(at::kLong));
    });
    FC_ASSIGN_OR_RETURN(auto replica, CvgReplica::Create(c, nullptr, opts));
    FC_RETURN_IF_ERROR(replica->Seek(level, 0));
    BenchTrainer b;
    b.params = nn::CountParameters(*replica->level(level).generator);
    b.params_second = nn::CountParameters(*replica->level(level).discriminators);
    b.trainer = std::move(replica);
    return b;
  }
  Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                               dist::Communicator* comm) const override {
    CvgReplicaOptions o;
    o.device = TorchDevice(world);
    o.keyed_noise = config.dist().keyed_noise();
    FC_ASSIGN_OR_RETURN(auto replica, CvgReplica::Create(config, comm, o));
    return std::unique_ptr<Trainer>(std::move(replica));
  }
  Result<std::string> Summary(const RunConfig& config) const override {
    framecast::CvgConfig defaulted = config.model().cvg();
    FC_RETURN_IF_ERROR(models::cvg::ApplyCvgDefaults(&defaulted));
    std::string text;
    FC_TRY_TORCH(text = models::cvg::ParameterSummary(defaulted));
    return text;
  }
  Status Eval(const RunConfig& config, const EvalRequest& request,
              dist::World& world) const override {
    return RunCvgEval(config, request, world);
  }
  // The whole trained cascade (finished levels only) at full length; class-conditional runs draw
  // class i % num_classes for sample i.
  Result<SampleResult> Sample(const RunConfig& config, const Manifest& manifest,
                              const SampleRequest& r) const override {
    const int done = FinishedLevels(manifest, config);
    if (done == 0)
      return Status::InvalidArgument(r.step_dir + ": level 1 has not finished training yet");
    FC_ASSIGN_OR_RETURN(auto tensors, ckpt::ReadTensors(r.step_dir, manifest, {}));
    CvgReplicaOptions o;
    o.with_data = false;
    FC_ASSIGN_OR_RETURN(auto replica, CvgReplica::Create(config, nullptr, o));
    FC_RETURN_IF_ERROR(replica->LoadReplicatedState(tensors).WithContext(r.step_dir));
    replica->FreezeLevels(done);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(r.seed);
    at::Tensor labels;
    const int64_t classes = replica->num_classes();
    if (classes > 0) labels = at::arange(r.num, at::kLong).remainder(classes);
    FC_ASSIGN_OR_RETURN(auto outs, replica->SampleCascade(done, labels, r.num, gen));
    SampleResult out;
    FC_TRY_TORCH({
      at::Tensor x = models::cvg::FromModelRange(outs.back()).clamp(0, 1).to(at::kFloat).cpu();
      for (int64_t i = 0; i < x.size(0); ++i) out.tiles.push_back(x[i]);
      out.what = std::to_string(x.size(0)) + " clip(s) of " + std::to_string(x.size(1)) +
                 " frames at " + std::to_string(x.size(3)) + "x" + std::to_string(x.size(4)) +
                 " from " + r.step_dir + " (levels 1.." + std::to_string(done) + ")";
    });
    const bool fashion =
        config.data().has_moving_mnist() &&
        config.data().moving_mnist().train_labels().find("fashion") != std::string::npos &&
        classes == 10;
    for (int64_t i = 0; classes > 0 && i < r.num; ++i) {
      const int64_t c = labels[i].item<int64_t>();
      out.lines.push_back("sample " + std::to_string(i) + ": class " + std::to_string(c) +
                          (fashion ? std::string(" ") + kFashionNames[c] : std::string()));
    }
    return out;
  }
};

}  // namespace

const Family& CvgFamily() {
  static const CvgFamilyImpl family;
  return family;
}

}  // namespace fc::train
