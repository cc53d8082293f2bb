#include "train/hvrnn_family.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#ifdef FRAMECAST_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <tuple>

#include "ckpt/checkpoint.h"
#include "data/rng.h"
#include "data/sources.h"
#include "models/hvrnn/config.h"
#include "train/prediction_eval.h"
#include "train/replica_parts.h"
#include "train/run.h"
#include "train/schedule.h"
#include "train/state.h"
#include "util/timeline.h"
#include "util/torch_status.h"

namespace fc::train {

using framecast::RunConfig;
using framecast::ckpt::Manifest;

namespace {

uint64_t Mix(uint64_t x) { return data::Mix64(x + 0x9e3779b97f4a7c15ULL); }  // splitmix64

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<std::unique_ptr<HvrnnReplica>> HvrnnReplica::Create(const RunConfig& config,
                                                           dist::Communicator* comm,
                                                           const HvrnnReplicaOptions& options) {
  std::unique_ptr<HvrnnReplica> r(new HvrnnReplica());
  r->config_ = config;
  r->comm_ = comm;
  r->options_ = options;
  const int world = comm ? comm->size() : 1;
  const int rank = comm ? comm->rank() : 0;
  const auto& d = config.data();
  r->accumulation_ = config.accumulation_steps();
  r->per_rank_batch_ = d.global_batch() / (static_cast<int64_t>(world) * r->accumulation_);
  r->context_ = d.context_frames();
  r->predicted_ = d.predicted_frames();
  if (r->per_rank_batch_ < 1) {
    return Status::InvalidArgument("data.global_batch=" + std::to_string(d.global_batch()) +
                                   ": less than one sample per rank and micro-batch");
  }

  r->perf_ = ResolvePerformance(config, options.device);
  ApplyGlobalSwitches(r->perf_, options.device);
  if (r->perf_.cuda_graphs) {
    std::string why;
#ifndef FRAMECAST_WITH_CUDA
    why = "this build has no CUDA";
#endif
    if (!options.device.is_cuda()) why = "the step runs on the CPU";
    if (world > 1) why = "gradient synchronisation over " + std::to_string(world) + " ranks";
    if (r->accumulation_ > 1) why = "accumulation_steps > 1";
    if (options.keyed_noise) why = "keyed noise is drawn on the CPU";
    if (config.model().hvrnn().checkpoint_activations()) why = "activation checkpointing";
    if (options.dtype != at::kFloat) why = "a non-fp32 replica";
    if (why.empty()) {
      r->use_graph_ = true;
    } else {
      LogInfoOnce("performance.cuda_graphs: not used (" + why + "); the hvrnn step runs eagerly");
    }
  }

  // Same initialisation on every rank (GradientSync also broadcasts rank 0's state).
  torch::manual_seed(config.seed());
  FC_TRY_TORCH(r->model_ = models::hvrnn::Hvrnn(config.model().hvrnn()));
  FC_TRY_TORCH(r->model_->to(options.device, options.dtype));
  if (r->perf_.channels_last) FC_TRY_TORCH(ToChannelsLast(*r->model_));
  // One rank: no gradient synchronisation to do (and none inside a captured graph).
  if (comm != nullptr && !(r->use_graph_ && world == 1)) {
    dist::GradientSyncOptions so = SyncOptionsFor(config.dist());
    FC_ASSIGN_OR_RETURN(r->sync_, dist::GradientSync::Create(*r->model_, comm, so, "hvrnn"));
  }
  r->optimizer_ = MakeAdam(config.optimizers(0), r->model_->parameters());
  // Each rank's own reparameterisation-noise stream from here on.
  torch::manual_seed(Mix(config.seed() ^ Mix(0x5eed0000ULL + static_cast<uint64_t>(rank))));

  if (options.fixed_batch.frames.defined()) return r;
  // Data: the same global sample sequence for any number of ranks.
  TrainDataOptions to;
  to.clip_frames = r->context_ + r->predicted_;
  to.world = world;
  to.rank = rank;
  to.accumulation = static_cast<int>(r->accumulation_);
  to.loader_threads = options.loader_threads;
  to.device = options.device;
  to.device_prefetch = r->perf_.device_prefetch;
  FC_ASSIGN_OR_RETURN(r->data_, OpenTrainData(config, to));
  r->steps_per_epoch_ = r->data_.steps_per_epoch;
  return r;
}

Status HvrnnReplica::Seek(int64_t global_step) {
  data_.Start(global_step);
  return Status::Ok();
}

// ---- CUDA graph of forward + loss + backward --------------------------------------------------

struct HvrnnReplica::Graph {
#ifdef FRAMECAST_WITH_CUDA
  at::cuda::CUDAGraph graph;
#endif
  at::Tensor frames, beta;         // static inputs
  models::hvrnn::TrainOutput out;  // static outputs (out.loss: the captured loss)
};

bool HvrnnReplica::graph_captured() const { return graph_ != nullptr; }

Result<models::hvrnn::TrainOutput> HvrnnReplica::ForwardBackward(
    const at::Tensor& frames, double beta, const models::hvrnn::NoiseFn& noise) {
  models::hvrnn::TrainOutput out;
  if (use_graph_ && graph_ && graph_->frames.sizes() != frames.sizes()) {
    return Status::Internal("cuda_graphs: the micro-batch's shape changed after the capture");
  }
  if (!use_graph_) {
    FC_TRY_TORCH({
      {
        timeline::Span span("forward", "compute");
        AutocastScope autocast(options_.device, perf_.bf16);
        out = model_->forward_train(frames, context_, beta, noise);
      }
      timeline::Span span("backward", "compute");
      (out.loss / static_cast<double>(accumulation_)).backward();
    });
    return out;
  }
#ifdef FRAMECAST_WITH_CUDA
  // One micro-batch per step (accumulation 1): the captured backward writes fresh gradients.
  auto loss_of = [&](const at::Tensor& x, const at::Tensor& beta_t) {
    AutocastScope autocast(options_.device, perf_.bf16);
    models::hvrnn::TrainOutput o = model_->forward_train(x, context_, 0.0, {});
    o.loss = (o.nll_per_sample + beta_t * o.kl_per_sample).mean();
    return o;
  };
  if (!graph_) {
    FC_TRY_TORCH({
      auto g = std::make_shared<Graph>();
      g->frames = frames.clone();
      g->beta = at::full({}, beta, frames.options());
      const c10::DeviceIndex dev = options_.device.index();
      c10::cuda::CUDAStream main = c10::cuda::getCurrentCUDAStream(dev);
      c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, dev);
      at::cuda::CUDAEvent ready;
      ready.record(main);
      ready.block(side);
      {
        c10::cuda::CUDAStreamGuard guard(side);
        // Warm-up (cuDNN autotuning, allocator) on copies of the parameters' values: the
        // parameters, their gradients and the optimizer state are left as they were.
        std::vector<at::Tensor> saved;
        at::Generator gen = at::cuda::detail::getDefaultCUDAGenerator(dev);
        const at::Tensor rng = gen.get_state();  // the warm-up's noise is not the run's
        {
          at::NoGradGuard ng;
          for (auto& p : model_->parameters()) saved.push_back(p.detach().clone());
        }
        for (int i = 0; i < 3; ++i) {
          auto o = loss_of(g->frames, g->beta);
          o.loss.backward();
        }
        {
          at::NoGradGuard ng;
          size_t i = 0;
          for (auto& p : model_->parameters()) p.detach().copy_(saved[i++]);
        }
        gen.set_state(rng);
        // Gradients allocated inside the capture: each replay writes them anew.
        for (auto& p : model_->parameters()) p.mutable_grad() = at::Tensor();
        const bool cache = at::autocast::is_autocast_cache_enabled();
        at::autocast::set_autocast_cache_enabled(false);  // casts inside the graph
        g->graph.capture_begin();
        g->out = loss_of(g->frames, g->beta);
        g->out.loss.backward();
        g->graph.capture_end();
        at::autocast::set_autocast_cache_enabled(cache);
      }
      at::cuda::CUDAEvent captured;
      captured.record(side);
      captured.block(main);
      graph_ = g;
    });
    LogInfoOnce("performance.cuda_graphs: captured the hvrnn forward + loss + backward");
  }
  FC_TRY_TORCH({
    graph_->frames.copy_(frames, /*non_blocking=*/true);
    graph_->beta.fill_(beta);
    graph_->graph.replay();
  });
  return graph_->out;
#else
  return Status::Internal("cuda_graphs in a build without CUDA");
#endif
}

Result<StepReport> HvrnnReplica::Step(int64_t step_in_stage, int64_t global_step) {
  const auto& hc = config_.model().hvrnn();
  const int world = comm_ ? comm_->size() : 1;
  const int rank = comm_ ? comm_->rank() : 0;
  const int64_t steps = config_.stages(0).steps();
  const double lr = LearningRateAt(config_.optimizers(0), step_in_stage, steps, steps_per_epoch_);
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);
  const double beta = models::hvrnn::BetaAt(hc, global_step);

  if (sync_) {
    sync_->ZeroGrad();
  } else if (!use_graph_) {
    optimizer_->zero_grad();
  }  // (a captured graph writes the gradients anew on each replay)
  const bool logging_step = IsLoggingStep(config_, 0, step_in_stage + 1);
  double loader_wait_ms = 0, sync_wait_ms = 0;
  // [loss, nll, kl, kl1..klL] summed over micro-batches on the device (float64), read once below.
  at::Tensor sums;
  std::vector<at::Tensor> kl_channel;  // per level [C_l], summed over micro-batches (device)
  size_t levels = 0;
  for (int64_t micro = 0; micro < accumulation_; ++micro) {
    const auto wait_start = std::chrono::steady_clock::now();
    FC_ASSIGN_OR_RETURN(data::Batch batch, data_.Next(options_.fixed_batch, global_step, micro));
    loader_wait_ms += MsSince(wait_start);
    at::Tensor frames;
    FC_TRY_TORCH(frames = batch.frames.to(options_.device, options_.dtype, /*non_blocking=*/true));
    models::hvrnn::NoiseFn noise;
    if (options_.keyed_noise) {
      // Global sample positions of this micro-batch (data/sampler.h).
      const int64_t first =
          global_step * config_.data().global_batch() + (micro * world + rank) * per_rank_batch_;
      const uint64_t seed = config_.seed();
      noise = [first, seed](int64_t level, int64_t t, at::IntArrayRef shape,
                            const at::TensorOptions& opts) {
        std::vector<at::Tensor> per_sample;
        std::vector<int64_t> one(shape.begin() + 1, shape.end());
        for (int64_t i = 0; i < shape[0]; ++i) {
          at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
              Mix(seed ^ Mix(static_cast<uint64_t>(first + i) * 131 + level * 7919 + t)));
          per_sample.push_back(at::randn(one, gen, at::kFloat));
        }
        return at::stack(per_sample).to(opts, /*non_blocking=*/true);
      };
    }
    std::optional<dist::GradientSync::NoSyncGuard> no_sync;
    if (sync_ && micro + 1 < accumulation_) no_sync.emplace(sync_.get());
    FC_ASSIGN_OR_RETURN(models::hvrnn::TrainOutput out, ForwardBackward(frames, beta, noise));
    FC_TRY_TORCH({
      at::NoGradGuard ng;
      std::vector<at::Tensor> parts = {out.loss.detach(), out.nll, out.kl};
      for (const auto& k : out.kl_per_level) parts.push_back(k);
      levels = out.kl_per_level.size();
      at::Tensor v = at::stack(parts).to(at::kDouble) / static_cast<double>(accumulation_);
      sums = sums.defined() ? sums + v : v;
      if (logging_step) {
        kl_channel.resize(out.kl_per_channel.size());
        for (size_t l = 0; l < out.kl_per_channel.size(); ++l) {
          at::Tensor c = out.kl_per_channel[l].detach().to(at::kDouble) / accumulation_;
          kl_channel[l] = kl_channel[l].defined() ? kl_channel[l] + c : c;
        }
      }
    });
  }
  if (sync_) {
    // What the backward pass did not hide of the gradient all-reduce.
    const auto sync_start = std::chrono::steady_clock::now();
    FC_RETURN_IF_ERROR(sync_->Finish());
    sync_wait_ms = MsSince(sync_start);
  }
  double grad_norm = 0;
  if (logging_step) {
    FC_TRY_TORCH(grad_norm = GradientNorm(*model_));
  }
  timeline::Span opt_span("optimizer", "compute");
  FC_TRY_TORCH(optimizer_->step());
  opt_span.End();

  // The step's one read of its scalars (after the optimizer's kernels are queued).
  at::Tensor host;
  FC_TRY_TORCH(host = sums.to(at::kCPU));
  const double* v = host.data_ptr<double>();
  StepReport r;
  r.scalars = {{"loss", v[0]}, {"nll", v[1]}, {"kl", v[2]}, {"beta", beta}, {"lr", lr}};
  for (size_t l = 0; l < levels; ++l)
    r.scalars.emplace_back("kl" + std::to_string(l + 1), v[3 + l]);
  r.details = {
      {"time/loader_wait_ms", loader_wait_ms},
      {"time/grad_sync_wait_ms", sync_wait_ms},
      // data.skip_corrupt: corrupt clips skipped so far (x ranks: the rank average is the
      // run's total).
      {"data/skipped_clips", static_cast<double>(skipped_clips()) * (comm_ ? comm_->size() : 1)}};
  if (logging_step) {
    // The gradient is the same on every rank after the sync: its norm needs no averaging.
    r.scalars.emplace_back("grad_norm", grad_norm);
    for (auto& c : kl_channel) FC_TRY_TORCH(c = c.to(at::kCPU));
    FC_ASSIGN_OR_RETURN(auto active, KlChannelReport(kl_channel, &r.details));
    for (size_t l = 0; l < active.size(); ++l)
      r.scalars.emplace_back("active" + std::to_string(l + 1), static_cast<double>(active[l]));
  }
  return r;
}

Result<std::vector<int64_t>> HvrnnReplica::KlChannelReport(
    const std::vector<at::Tensor>& kl_channel, Scalars* details) {
  // One all-reduce of every level's per-channel KL, so that the active-channel count is taken on
  // the global batch's average, the same on every rank.
  std::vector<int64_t> sizes, active;
  for (const auto& t : kl_channel) sizes.push_back(t.numel());
  if (sizes.empty()) return active;
  at::Tensor all = at::cat(kl_channel);
  if (comm_ && comm_->size() > 1) {
    at::Tensor on_device = all.to(options_.device, at::kDouble);
    FC_RETURN_IF_ERROR(comm_->AllReduce(on_device, dist::ReduceOp::kAvg)->Wait());
    all = on_device.to(at::kCPU);
  }
  const double* v = all.data_ptr<double>();
  int64_t offset = 0;
  char tag[64];
  for (size_t l = 0; l < sizes.size(); ++l) {
    int64_t n_active = 0;
    for (int64_t c = 0; c < sizes[l]; ++c) {
      const double kl = v[offset + c];
      if (kl > kActiveChannelKl) ++n_active;
      std::snprintf(tag, sizeof(tag), "kl_channel/level%zu/%03lld", l + 1,
                    static_cast<long long>(c));
      details->emplace_back(tag, kl);
    }
    active.push_back(n_active);
    offset += sizes[l];
  }
  return active;
}

Result<std::vector<ckpt::NamedTensor>> HvrnnReplica::ReplicatedState() {
  return ModelAndOptimizerState(*model_, *optimizer_, kHvrnnModelPrefix);
}

std::vector<std::string> HvrnnReplica::ReplicatedStateNames(const Manifest& m) {
  return ModelAndOptimizerNames(*model_, kHvrnnModelPrefix, m);
}

Status HvrnnReplica::LoadReplicatedState(const TensorMap& from) {
  return LoadModelAndOptimizer(*model_, *optimizer_, kHvrnnModelPrefix, from);
}

Result<log::SampleGrid> HvrnnReplica::SamplePreview(int clips, uint64_t seed) {
  log::SampleGrid grid;
  grid.columns = 2;
  FC_ASSIGN_OR_RETURN(grid.tiles, PredictionTiles(HvrnnPrediction(model_, config_), config_, clips,
                                                  predicted_, seed, options_.device));
  return grid;
}

namespace {

models::hvrnn::NoiseFn GeneratorNoise(uint64_t key) {
  auto gen = std::make_shared<at::Generator>(at::make_generator<at::CPUGeneratorImpl>(key));
  return [gen](int64_t, int64_t, at::IntArrayRef shape, const at::TensorOptions& opts) {
    return at::randn(shape, *gen, at::kFloat).to(opts);
  };
}

}  // namespace

eval::PredictFn HvrnnPredictor(models::hvrnn::Hvrnn model, uint64_t seed, int64_t first_index) {
  return KeyedPredictor(
      [model](const at::Tensor& ctx, int64_t h, uint64_t key) mutable -> Result<at::Tensor> {
        at::Tensor out;
        FC_TRY_TORCH({
          torch::NoGradGuard ng;
          out = model->generate(ctx, h, GeneratorNoise(key));
        });
        return out;
      },
      seed, first_index);
}

Result<eval::ElboResult> HvrnnHeldOutElbo(models::hvrnn::Hvrnn model, const RunConfig& c,
                                          const at::Tensor& local, int64_t first_index,
                                          int64_t batch, dist::Communicator* comm) {
  const auto& hc = c.model().hvrnn();
  const int64_t context = c.data().context_frames();
  const bool gaussian = hc.likelihood() == framecast::HvrnnConfig::GAUSSIAN;
  const double sigma = hc.gaussian_sigma();
  const int64_t dims = (local.size(1) - context) * local.size(2) * local.size(3) * local.size(4);
  // The training loss drops the Gaussian's normalising constant, 0.5 log(2 pi sigma^2) per
  // dimension; the ELBO reported here includes it.
  const double constant = gaussian ? 0.5 * std::log(2 * M_PI * sigma * sigma) : 0.0;
  const uint64_t seed = c.seed();
  eval::ElboFn elbo = [model, seed, context, constant, dims](
                          const at::Tensor& clips, int64_t g) mutable -> Result<at::Tensor> {
    at::Tensor out;
    FC_TRY_TORCH({
      torch::NoGradGuard ng;
      auto noise = GeneratorNoise(Mix(seed ^ Mix(0x454c424fULL + static_cast<uint64_t>(g))));
      auto o =
          model->forward_train(clips.to(model->parameters()[0].scalar_type()), context, 1.0, noise);
      out = at::stack({o.nll_per_sample.to(at::kDouble) + constant * static_cast<double>(dims),
                       o.kl_per_sample.to(at::kDouble)},
                      1);
    });
    return out;
  };
  FC_ASSIGN_OR_RETURN(auto e,
                      eval::HeldOutElbo("hvrnn", elbo, local, first_index, context, batch, comm));
  char note[256];
  if (gaussian) {
    std::snprintf(note, sizeof(note),
                  "Gaussian likelihood, sigma %g, pixels in [0, 1], its constant included "
                  "(%.1f nats/video; the training loss omits it); 1 posterior sample",
                  sigma, constant * static_cast<double>(dims));
  } else {
    std::snprintf(note, sizeof(note), "Bernoulli likelihood, pixels in [0, 1]; 1 posterior sample");
  }
  e.note = note;
  return e;
}

std::vector<EvalMetric> HvrnnReplica::EvalMetrics() { return PredictionEvalMetrics(); }

Result<std::vector<double>> HvrnnReplica::EvaluateHeldOut() {
  const int rank = comm_ ? comm_->rank() : 0, size = comm_ ? comm_->size() : 1;
  if (!eval_clips_.defined()) {
    FC_ASSIGN_OR_RETURN(auto clips, TrainingEvalClips(config_, rank, size, options_.device));
    std::tie(eval_clips_, eval_first_) = clips;
  }
  const bool training = model_->is_training();
  model_->eval();
  auto r = EvaluateDuringTraining(config_, HvrnnPrediction(model_, config_), eval_clips_,
                                  eval_first_, comm_);
  model_->train(training);
  return r;
}

PredictionModel HvrnnPrediction(models::hvrnn::Hvrnn model, const RunConfig& config) {
  PredictionModel p;
  p.name = "hvrnn";
  const uint64_t seed = config.seed();
  p.predictor = [model, seed](int64_t first) { return HvrnnPredictor(model, seed, first); };
  p.elbo = [model, config](const at::Tensor& local, int64_t first, int64_t batch,
                           dist::Communicator* comm) {
    return HvrnnHeldOutElbo(model, config, local, first, batch, comm);
  };
  p.predict_once = [model](const at::Tensor& ctx, int64_t horizon,
                           uint64_t seed) mutable -> Result<at::Tensor> {
    at::Tensor pred;
    FC_TRY_TORCH({
      torch::NoGradGuard no_grad;
      const auto dtype = model->parameters().front().scalar_type();
      // Own CPU generator: the model's training noise stream is not consumed.
      const bool training = model->is_training();
      model->eval();
      pred = model->generate(ctx.to(dtype), horizon, GeneratorNoise(seed));
      model->train(training);
    });
    return pred;
  };
  return p;
}

std::string HvrnnReplica::Describe() const {
  int64_t params = 0;
  for (const auto& p : model_->parameters()) params += p.numel();
  char buf[200];
  std::snprintf(buf, sizeof(buf),
                "per-rank batch %lld x %lld micro-batch(es), %.2fM parameters, %.1f steps/epoch",
                static_cast<long long>(per_rank_batch_), static_cast<long long>(accumulation_),
                params / 1e6, steps_per_epoch_);
  return buf;
}

Result<std::vector<log::SampleGrid>> HvrnnReplica::Samples(int, int clips, uint64_t seed) {
  FC_ASSIGN_OR_RETURN(auto grid, SamplePreview(clips, seed));
  return std::vector<log::SampleGrid>{std::move(grid)};
}

Result<models::hvrnn::Hvrnn> LoadHvrnn(const RunConfig& config, const std::string& step_dir,
                                       const Manifest& manifest) {
  torch::manual_seed(config.seed());
  models::hvrnn::Hvrnn model{nullptr};
  FC_TRY_TORCH(model = models::hvrnn::Hvrnn(config.model().hvrnn()));
  FC_RETURN_IF_ERROR(LoadModuleFromStep(*model, kHvrnnModelPrefix, step_dir, manifest));
  return model;
}

namespace {

class HvrnnFamilyImpl : public Family {
 public:
  std::string name() const override { return "hvrnn"; }
  framecast::ModelConfig::FamilyCase config_case() const override {
    return framecast::ModelConfig::kHvrnn;
  }
  void ApplyDefaults(RunConfig* c) const override {
    auto* h = c->mutable_model()->mutable_hvrnn();
    (void)models::hvrnn::ApplyHvrnnDefaults(h);
    if (h->context_init() == framecast::HvrnnConfig::CONCAT && h->context_frames() == 0)
      h->set_context_frames(c->data().context_frames());
  }
  Status ValidateModel(const RunConfig& c) const override {
    return models::hvrnn::ValidateHvrnn(c.model().hvrnn());
  }
  Status Validate(const RunConfig& c) const override {
    const auto& h = c.model().hvrnn();
    FC_RETURN_IF_ERROR(ValidatePredictionRun(c, "hvrnn", h.image_channels(), h.image_size()));
    if (h.context_init() == framecast::HvrnnConfig::CONCAT &&
        h.context_frames() != c.data().context_frames())
      return Status::InvalidArgument(
          "model.hvrnn.context_frames=" + std::to_string(h.context_frames()) +
          ": context_init CONCAT needs data.context_frames (" +
          std::to_string(c.data().context_frames()) + ")");
    if (c.performance().cuda_graphs() && h.checkpoint_activations())
      return Status::InvalidArgument(
          "performance.cuda_graphs: not with model.hvrnn.checkpoint_activations (its recompute "
          "is not captured)");
    return Status::Ok();
  }
  PerformanceSupport performance() const override { return {true, true, true}; }
  std::string bench_peer() const override { return "hvrnn_step.py"; }
  // HvrnnReplica::Step: teacher-forced ELBO incl. KL, backward, Adam.
  Result<BenchTrainer> MakeBenchTrainer(const RunConfig& c, int, at::Device device,
                                        int64_t batch) const override {
    HvrnnReplicaOptions opts;
    opts.device = device;
    const auto& h = c.model().hvrnn();
    FC_TRY_TORCH(opts.fixed_batch.frames =
                     at::rand({batch, c.data().context_frames() + c.data().predicted_frames(),
                               h.image_channels(), h.image_size(), h.image_size()},
                              at::TensorOptions().device(device)));
    FC_ASSIGN_OR_RETURN(auto replica, HvrnnReplica::Create(c, nullptr, opts));
    FC_RETURN_IF_ERROR(replica->Seek(0));
    BenchTrainer b;
    b.params = models::hvrnn::CountParameters(*replica->model());
    b.trainer = std::move(replica);
    return b;
  }
  Result<std::unique_ptr<Trainer>> MakeTrainer(const RunConfig& config, const dist::World& world,
                                               dist::Communicator* comm) const override {
    HvrnnReplicaOptions o;
    o.device = TorchDevice(world);
    o.keyed_noise = config.dist().keyed_noise();
    FC_ASSIGN_OR_RETURN(auto replica, HvrnnReplica::Create(config, comm, o));
    return std::unique_ptr<Trainer>(std::move(replica));
  }
  Result<std::string> Summary(const RunConfig& config) const override {
    std::string text;
    FC_TRY_TORCH({
      models::hvrnn::Hvrnn m(config.model().hvrnn());
      text = models::hvrnn::ParameterSummary(*m);
    });
    return text;
  }
  Status Eval(const RunConfig& config, const EvalRequest& request,
              dist::World& world) const override {
    FC_ASSIGN_OR_RETURN(models::hvrnn::Hvrnn model,
                        LoadHvrnn(config, request.step_dir, request.manifest));
    const at::Device device = TorchDevice(world);
    FC_TRY_TORCH(model->to(device));
    model->eval();
    return RunPredictionEval(config, request, world, HvrnnPrediction(model, config), device);
  }
  // Held-out sequences 0..num-1: the ground truth next to the context followed by one prediction
  // of data.eval_predicted_frames frames.
  Result<SampleResult> Sample(const RunConfig& config, const Manifest& manifest,
                              const SampleRequest& r) const override {
    FC_ASSIGN_OR_RETURN(models::hvrnn::Hvrnn model, LoadHvrnn(config, r.step_dir, manifest));
    const int64_t context = config.data().context_frames();
    const int64_t horizon = config.data().eval_predicted_frames();
    SampleResult out;
    FC_ASSIGN_OR_RETURN(out.tiles, PredictionTiles(HvrnnPrediction(model, config), config, r.num,
                                                   horizon, r.seed, at::kCPU));
    if (out.tiles.empty())
      return Status::InvalidArgument(r.run_dir + ": data: the held-out set has no sequences");
    out.tiles_per_sample = 2;
    const auto& t = out.tiles[0];
    out.what = std::to_string(out.tiles.size() / 2) + " held-out sequence(s) of " +
               std::to_string(context) + " context + " + std::to_string(horizon) +
               " predicted frames at " + std::to_string(t.size(2)) + "x" +
               std::to_string(t.size(3)) + " from " + r.step_dir +
               " (left: ground truth, right: context then prediction)";
    return out;
  }
};

}  // namespace

const Family& HvrnnFamily() {
  static const HvrnnFamilyImpl family;
  return family;
}

}  // namespace fc::train
