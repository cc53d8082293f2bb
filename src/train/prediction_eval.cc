#include "train/prediction_eval.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>

#include "data/rng.h"
#include "data/sources.h"
#include "eval/report.h"
#include "media/gif.h"
#include "train/eval_scalars.h"
#include "train/run.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {
namespace {
constexpr int64_t kBlurFitClips = 64;  // training clips the blur baseline's widths are fitted on
}  // namespace

Status ValidatePredictionRun(const framecast::RunConfig& c, const std::string& family,
                             int image_channels, int image_size) {
  const auto& d = c.data();
  if (d.has_procedural_blobs())
    return Status::InvalidArgument("data: the " + family +
                                   " family needs video clips (moving_mnist or clips)");
  if (d.context_frames() < 1)
    return Status::InvalidArgument("data.context_frames: the " + family + " family needs >= 1");
  if (d.predicted_frames() < 1)
    return Status::InvalidArgument("data.predicted_frames: the " + family + " family needs >= 1");
  if (c.optimizers_size() != 1 || !c.optimizers(0).has_adam())
    return Status::InvalidArgument("optimizers: the " + family +
                                   " family takes one adam optimizer");
  if (c.stages_size() != 1)
    return Status::InvalidArgument("stages: the " + family + " family trains exactly one stage");
  if (d.has_moving_mnist()) {
    if (image_channels != 1)
      return Status::InvalidArgument("model." + family +
                                     ".image_channels: Moving MNIST clips have 1 channel");
    if (d.moving_mnist().image_size() != image_size)
      return Status::InvalidArgument(
          "model." + family + ".image_size=" + std::to_string(image_size) +
          ": data.moving_mnist.image_size is " + std::to_string(d.moving_mnist().image_size()));
  }
  return Status::Ok();
}

eval::PredictFn KeyedPredictor(KeyedGenerate generate, uint64_t seed, int64_t first_index) {
  struct Cursor {
    int64_t next, current;
  };
  auto mix = [](uint64_t x) { return data::Mix64(x + 0x9e3779b97f4a7c15ULL); };  // splitmix64
  auto cursor = std::make_shared<Cursor>(Cursor{first_index, first_index});
  return [generate, seed, cursor, mix](const at::Tensor& ctx, int64_t h,
                                       int64_t sample) -> Result<at::Tensor> {
    if (sample == 0) {
      cursor->current = cursor->next;
      cursor->next += ctx.size(0);
    }
    const auto g = static_cast<uint64_t>(cursor->current);
    return generate(ctx, h, mix(seed ^ mix(static_cast<uint64_t>(sample) * 1000003 + g)));
  };
}

Status RunPredictionEval(const framecast::RunConfig& c, const EvalRequest& a, dist::World& world,
                         const PredictionModel& model, at::Device device) {
  FC_ASSIGN_OR_RETURN(auto comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  const int rank = world.rank();
  const auto& d = c.data();
  const int64_t context = d.context_frames(), horizon = d.eval_predicted_frames();

  // ---- this rank's share of the held-out set -------------------------------------------------
  FC_ASSIGN_OR_RETURN(auto source, data::MakeTestSource(d, context + horizon));
  int64_t n = std::min<int64_t>(source->size(), a.sequences > 0 ? a.sequences : d.eval_sequences());
  const eval::Share share = eval::ShareOf(n, rank, world.size());
  FC_ASSIGN_OR_RETURN(auto read,
                      data::ReadClips(*source, share.begin, share.end, context + horizon));
  at::Tensor local;
  FC_TRY_TORCH(local = read.frames.to(device));

  eval::EvalOptions o;
  o.context = context;
  o.horizon = horizon;
  o.samples = a.samples > 0 ? a.samples : c.eval().samples();
  o.batch = a.batch;
  o.i3d_path = c.eval().i3d_torchscript();
  o.lpips_path = c.eval().lpips_torchscript();
  o.fvd_draws = c.eval().fvd_draws();
  o.seed = c.seed();

  eval::EvalReport report;
  FC_ASSIGN_OR_RETURN(
      auto ours, eval::Evaluate(model.name, model.predictor(share.begin), local, o, comm.get()));
  report.methods.push_back(std::move(ours));
  if (a.baselines) {
    eval::EvalOptions ob = o;
    ob.samples = 1;
    FC_ASSIGN_OR_RETURN(auto copy, eval::Evaluate("copy-last-frame", eval::CopyLastFramePredictor(),
                                                  local, ob, comm.get()));
    report.methods.push_back(std::move(copy));
    FC_ASSIGN_OR_RETURN(
        auto mean, eval::Evaluate("mean-frame", eval::MeanFramePredictor(), local, ob, comm.get()));
    report.methods.push_back(std::move(mean));
    // Blur of the last frame, its width per predicted frame fitted on training clips (the same
    // clips on every rank, so every rank fits the same widths).
    FC_ASSIGN_OR_RETURN(auto train_source, data::MakeTrainSource(d, context + horizon));
    std::vector<at::Tensor> fit;
    for (int64_t i = 0; i < std::min<int64_t>(kBlurFitClips, train_source->size()); ++i) {
      FC_ASSIGN_OR_RETURN(auto clip, train_source->Get(i, 0));
      fit.push_back(clip.frames);
    }
    if (fit.empty()) return Status::InvalidArgument(a.config_path + ": data: no training clips");
    FC_ASSIGN_OR_RETURN(auto widths, eval::FitBlurWidths(at::stack(fit).to(device), context,
                                                         horizon, eval::DefaultBlurCandidates()));
    std::string shown;
    for (double w : widths) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%g", w);
      shown += (shown.empty() ? "" : ",") + std::string(buf);
    }
    if (rank == 0) {
      LogInfo("blur-last-frame widths per predicted frame (px, fitted on " +
              std::to_string(fit.size()) + " training clips): " + shown);
    }
    FC_ASSIGN_OR_RETURN(
        auto blur, eval::Evaluate("blur-last-frame", eval::BlurLastFramePredictor(widths), local,
                                  ob, comm.get()));
    report.methods.push_back(std::move(blur));
  }
  {
    FC_ASSIGN_OR_RETURN(auto e, model.elbo(local, share.begin, a.batch, comm.get()));
    report.elbos.push_back(std::move(e));
  }
  report.protocol = eval::ProtocolOf(o, n, source->Describe(),
                                     d.has_moving_mnist() ? d.moving_mnist().test_seed() : 0);

  Status st;
  if (rank == 0) {
    std::fputs(eval::FormatTable(report).c_str(), stdout);
    std::fflush(stdout);
    st = eval::WriteReport(report, a.out_dir);
    if (const std::string run = RunDirOfStep(a.step_dir); st.ok() && !run.empty()) {
      if (Status tb = WriteEvalScalars(run, a.manifest.global_step(), report); !tb.ok())
        LogWarning("eval scalars for TensorBoard not written: " + tb.message());
    }
    if (st.ok() && !a.gif.empty() && local.size(0) > 0) {
      // Per sequence: [context + ground truth | context + one prediction], side by side.
      Result<std::vector<at::Tensor>> tiles =
          PredictionTiles(model, c, a.gif_sequences, horizon, c.seed(), device);
      st = tiles.ok() ? media::WriteGif(a.gif, media::TileClips(*tiles, 2), 4) : tiles.status();
    }
    if (st.ok()) {
      LogInfo("eval of " + a.step_dir + " written to " + a.out_dir +
              (a.gif.empty() ? "" : ", samples in " + a.gif));
    }
  }
  return world.AgreeOnStatus(st, "could not write the evaluation");
}

std::vector<EvalMetric> PredictionEvalMetrics() {
  return {{"psnr", true}, {"ssim", true}, {"nelbo", false}, {"nelbo_bpd", false}};
}

Result<std::pair<at::Tensor, int64_t>> TrainingEvalClips(const framecast::RunConfig& config,
                                                         int rank, int size, at::Device device) {
  const auto& d = config.data();
  const int64_t frames = d.context_frames() + d.eval_predicted_frames();
  FC_ASSIGN_OR_RETURN(auto source, data::MakeTestSource(d, frames));
  const int64_t n = std::min<int64_t>(source->size(), config.eval().sequences_during_training());
  const eval::Share share = eval::ShareOf(n, rank, size);
  FC_ASSIGN_OR_RETURN(auto read, data::ReadClips(*source, share.begin, share.end, frames));
  at::Tensor clips;
  FC_TRY_TORCH(clips = read.frames.to(device));
  return std::make_pair(clips, share.begin);
}

Result<std::vector<double>> EvaluateDuringTraining(const framecast::RunConfig& config,
                                                   const PredictionModel& model,
                                                   const at::Tensor& local, int64_t first_index,
                                                   dist::Communicator* comm) {
  eval::EvalOptions o;
  o.context = config.data().context_frames();
  o.horizon = config.data().eval_predicted_frames();
  o.samples = config.eval().samples_during_training();
  o.batch = 16;
  o.seed = config.seed();
  FC_ASSIGN_OR_RETURN(auto best,
                      eval::Evaluate(model.name, model.predictor(first_index), local, o, comm));
  FC_ASSIGN_OR_RETURN(auto elbo, model.elbo(local, first_index, o.batch, comm));
  return std::vector<double>{best.psnr.mean, best.ssim.mean, elbo.neg_elbo, elbo.bits_per_dim};
}

Result<std::vector<at::Tensor>> PredictionTiles(const PredictionModel& model,
                                                const framecast::RunConfig& config, int64_t clips,
                                                int64_t horizon, uint64_t seed, at::Device device) {
  const int64_t context = config.data().context_frames();
  FC_ASSIGN_OR_RETURN(auto source, data::MakeTestSource(config.data(), context + horizon));
  const int64_t k = std::min<int64_t>(clips, source->size());
  std::vector<at::Tensor> tiles;
  if (k <= 0) return tiles;
  FC_ASSIGN_OR_RETURN(auto read, data::ReadClips(*source, 0, k, context + horizon));
  at::Tensor x;
  FC_TRY_TORCH(x = read.frames.to(device, at::kFloat) / 255.0);
  FC_ASSIGN_OR_RETURN(at::Tensor pred, model.predict_once(x.narrow(1, 0, context), horizon, seed));
  FC_TRY_TORCH({
    at::Tensor shown = at::cat({x.narrow(1, 0, context), pred.to(x.dtype())}, 1).cpu();
    at::Tensor gt = x.cpu();
    for (int64_t i = 0; i < k; ++i) {
      tiles.push_back(gt[i]);
      tiles.push_back(shown[i]);
    }
  });
  return tiles;
}

}  // namespace fc::train
