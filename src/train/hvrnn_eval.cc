// `framecast eval` of an HVRNN (HvrnnFamily().Eval): best-of-N evaluation of the predictions on
// the config's held-out set, next to the copy-last-frame, mean-frame and blur-last-frame baselines,
// then the held-out negative ELBO.
//
// Ranks split the test sequences (eval/best_of_n.h); each rank draws all N samples of its
// sequences. Sample s of a batch of sequences starting at global index g uses noise seeded by
// (run seed, s, g), so a rerun on the same number of ranks reproduces the numbers exactly.
// Rank 0 prints the table and writes report.json, curves.csv, curves_<metric>.png and table.txt,
// and a GIF of context + prediction next to the ground truth.
// The held-out negative ELBO (eval/likelihood.h): nats per video over the predicted frames, one
// posterior sample per sequence (noise seeded by (run seed, g)), beta 1.
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "data/sources.h"
#include "dist/world.h"
#include "eval/best_of_n.h"
#include "eval/likelihood.h"
#include "eval/report.h"
#include "media/gif.h"
#include "models/hvrnn/hvrnn.h"
#include "train/eval_scalars.h"
#include "train/family.h"
#include "train/hvrnn_family.h"
#include "train/run.h"
#include "train/state.h"
#include "util/files.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {
namespace {
constexpr int64_t kBlurFitClips = 64;  // training clips the blur baseline's widths are fitted on
}  // namespace

Status RunHvrnnEval(const framecast::RunConfig& c, const EvalRequest& a, dist::World& world) {
  FC_ASSIGN_OR_RETURN(auto comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  const int rank = world.rank();
  const auto& d = c.data();
  const int64_t context = d.context_frames(), horizon = d.eval_predicted_frames();
  const at::Device device = TorchDevice(world);

  // ---- model from the checkpoint -------------------------------------------------------------
  const auto& manifest = a.manifest;  // read and checked by `framecast eval`
  FC_ASSIGN_OR_RETURN(models::hvrnn::Hvrnn model, LoadHvrnn(c, a.step_dir, manifest));
  FC_TRY_TORCH(model->to(device));
  model->eval();

  // ---- this rank's share of the held-out set -------------------------------------------------
  FC_ASSIGN_OR_RETURN(auto source, data::MakeTestSource(d, context + horizon));
  int64_t n = std::min<int64_t>(source->size(), a.sequences > 0 ? a.sequences : d.eval_sequences());
  const eval::Share share = eval::ShareOf(n, rank, world.size());
  FC_ASSIGN_OR_RETURN(auto read,
                      data::ReadClips(*source, share.begin, share.end, context + horizon));
  at::Tensor local = read.frames;
  local = local.to(device);

  eval::EvalOptions o;
  o.context = context;
  o.horizon = horizon;
  o.samples = a.samples > 0 ? a.samples : c.eval().samples();
  o.batch = a.batch;
  o.i3d_path = c.eval().i3d_torchscript();
  o.lpips_path = c.eval().lpips_torchscript();
  o.fvd_draws = c.eval().fvd_draws();
  o.seed = c.seed();

  // Sample s of the batch whose first sequence has global index g: noise keyed by (seed, s, g).
  const uint64_t seed = c.seed();
  eval::PredictFn predict = HvrnnPredictor(model, seed, share.begin);

  eval::EvalReport report;
  FC_ASSIGN_OR_RETURN(auto ours, eval::Evaluate("hvrnn", predict, local, o, comm.get()));
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
    FC_ASSIGN_OR_RETURN(auto e,
                        HvrnnHeldOutElbo(model, c, local, share.begin, a.batch, comm.get()));
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
      if (Status tb = WriteEvalScalars(run, manifest.global_step(), report); !tb.ok())
        LogWarning("eval scalars for TensorBoard not written: " + tb.message());
    }
    if (st.ok() && !a.gif.empty() && local.size(0) > 0) {
      // Per sequence: [context + ground truth | context + one prediction], side by side.
      st = TryTorch([&] {
        torch::NoGradGuard ng;
        const int64_t k = std::min<int64_t>(a.gif_sequences, local.size(0));
        at::Tensor clip = local.narrow(0, 0, k).to(at::kFloat) / 255.0;
        torch::manual_seed(seed);
        at::Tensor pred = model->generate(clip.narrow(1, 0, context), horizon);
        at::Tensor shown = at::cat({clip.narrow(1, 0, context), pred}, 1);
        std::vector<at::Tensor> tiles;
        for (int64_t i = 0; i < k; ++i) {
          tiles.push_back(clip[i].cpu());
          tiles.push_back(shown[i].cpu());
        }
        Status w = media::WriteGif(a.gif, media::TileClips(tiles, 2), 4);
        if (!w.ok()) throw std::runtime_error(w.message());
      });
    }
    if (st.ok()) {
      LogInfo("eval of " + a.step_dir + " written to " + a.out_dir +
              (a.gif.empty() ? "" : ", samples in " + a.gif));
    }
  }
  return world.AgreeOnStatus(st, "could not write the evaluation");
}

}  // namespace fc::train
