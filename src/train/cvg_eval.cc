#include "train/cvg_eval.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/optim/adam.h>

#include <cstdio>
#include <limits>
#include <thread>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "data/rng.h"
#include "data/sources.h"
#include "eval/best_of_n.h"
#include "eval/frame_classifier.h"
#include "eval/frechet.h"
#include "eval/report.h"
#include "eval/torchscript_features.h"
#include "models/cvg/pyramid.h"
#include "train/commands.h"
#include "train/cvg_family.h"
#include "train/eval_scalars.h"
#include "train/run.h"
#include "util/files.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {
namespace {

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * v);
  return buf;
}

// Frames [N, T, C, H, W] -> [N * T, C, S, S] at the classifier's size (bilinear when it differs).
at::Tensor FramesFor(const at::Tensor& clips, int64_t size) {
  at::Tensor f = clips.reshape({-1, clips.size(2), clips.size(3), clips.size(4)}).to(at::kFloat);
  if (size > 0 && (f.size(2) != size || f.size(3) != size))
    f = at::upsample_bilinear2d(f, {size, size}, /*align_corners=*/false);
  return f.clamp(0, 1);
}

// One row's per-frame classifier outputs, gathered over ranks in global order.
struct Gathered {
  at::Tensor logits, features, labels,
      i3d;  // [frames, K], [frames, F] or undefined, [frames], [clips, F']
  int64_t clips = 0;
};

// The classifier's output widths, probed on one frame (the same on every rank).
struct Widths {
  int64_t classes = 0, features = 0, i3d = 0;
};

Result<Gathered> Classify(eval::TorchScriptClassifier& cls, eval::TorchScriptI3d* i3d,
                          const at::Tensor& clips, const at::Tensor& labels, const Widths& w,
                          dist::Communicator* comm, const std::string& what) {
  Status local;
  const int64_t T = clips.size(1), k = 1 + w.classes + w.features;
  at::Tensor rows = at::zeros({0, k}, at::kDouble), vid = at::zeros({0, w.i3d}, at::kDouble);
  if (clips.size(0) > 0) {
    auto out = cls.Run(FramesFor(clips, cls.image_size()));
    if (!out.ok()) {
      local = out.status();
    } else {
      at::Tensor lab = labels.defined() ? labels.to(at::kCPU, at::kDouble).repeat_interleave(T)
                                        : at::full({out->logits.size(0)}, -1.0, at::kDouble);
      std::vector<at::Tensor> parts = {lab.unsqueeze(1), out->logits};
      if (w.features > 0) parts.push_back(out->features);
      rows = at::cat(parts, 1).contiguous();
      if (rows.size(1) != k) local = Status::Internal(cls.path() + ": output widths changed");
    }
    if (local.ok() && i3d) {
      auto f = i3d->Features(clips.to(at::kFloat).clamp(0, 1));
      if (f.ok())
        vid = f.value().contiguous();
      else
        local = f.status();
      if (local.ok() && vid.size(1) != w.i3d)
        local = Status::Internal(i3d->path() + ": widths changed");
    }
  }
  FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, local, what));
  Gathered g;
  FC_ASSIGN_OR_RETURN(auto counts, eval::AllGatherInt(comm, rows.size(0)));
  FC_ASSIGN_OR_RETURN(at::Tensor all, eval::AllGatherRows(comm, rows, counts, k));
  FC_ASSIGN_OR_RETURN(auto clip_counts, eval::AllGatherInt(comm, clips.size(0)));
  for (int64_t c : clip_counts) g.clips += c;
  g.labels = all.select(1, 0).to(at::kLong);
  g.logits = all.narrow(1, 1, w.classes);
  if (w.features > 0) g.features = all.narrow(1, 1 + w.classes, w.features);
  if (i3d) {
    FC_ASSIGN_OR_RETURN(g.i3d, eval::AllGatherRows(comm, vid, clip_counts, w.i3d));
  }
  return g;
}

// The metrics of one row; `real` (null for the real row itself) gives FID / FVD's reference.
Result<eval::GenerationRow> Score(const std::string& name, const Gathered& g, const Gathered* real,
                                  int64_t splits, bool conditional) {
  eval::GenerationRow r;
  r.name = name;
  r.clips = g.clips;
  r.frames = g.logits.size(0);
  FC_ASSIGN_OR_RETURN(r.inception, eval::InceptionScore(g.logits, std::min(splits, r.frames)));
  if (conditional) {
    FC_ASSIGN_OR_RETURN(r.accuracy, eval::ClassAccuracy(g.logits, g.labels));
    r.accuracy_available = true;
  }
  if (real && g.features.defined() && real->features.defined()) {
    FC_ASSIGN_OR_RETURN(r.fid, eval::FrechetDistance(g.features, real->features));
    r.fid_available = true;
  }
  if (real && g.i3d.defined() && real->i3d.defined() && g.i3d.size(0) >= 2) {
    FC_ASSIGN_OR_RETURN(r.fvd, eval::FrechetDistance(g.i3d, real->i3d));
    r.fvd_available = true;
  }
  return r;
}

// Class-conditional samples of the cascade's first `levels` levels for the clips of `share`: in
// batches of `batch`, clip i asks for class i % classes, noise keyed by (seed, batch start).
// levels[j]: the output after levels 1..j+1 as float [n, T_j, C, H_j, W_j] in [0, 1] ([0, 1, 1,
// 1, 1] for an empty share); labels [n] int64, undefined for an unconditional cascade. No
// collectives.
struct Drawn {
  std::vector<at::Tensor> levels;
  at::Tensor labels;
};
Result<Drawn> DrawSamples(CvgReplica& r, int levels, const eval::Share& share, int64_t batch,
                          uint64_t seed) {
  const int64_t classes = r.num_classes();
  std::vector<std::vector<at::Tensor>> out(static_cast<size_t>(levels));
  std::vector<at::Tensor> ys;
  for (int64_t b0 = share.begin; b0 < share.end; b0 += batch) {
    const int64_t b = std::min(batch, share.end - b0);
    at::Tensor y;
    if (classes > 0) y = at::arange(b0, b0 + b, at::kLong).remainder(classes);
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        data::Mix64(seed ^ data::Mix64(0x43564745ULL + static_cast<uint64_t>(b0))));
    FC_ASSIGN_OR_RETURN(auto outs, r.SampleCascade(levels, y, b, gen));
    for (int j = 0; j < levels; ++j) {
      at::Tensor x;
      FC_TRY_TORCH(x = models::cvg::FromModelRange(outs[j]).clamp(0, 1).to(at::kFloat));
      out[j].push_back(x);
    }
    if (y.defined()) ys.push_back(y);
  }
  Drawn d;
  for (int j = 0; j < levels; ++j)
    d.levels.push_back(out[j].empty() ? at::zeros({0, 1, 1, 1, 1}) : at::cat(out[j]));
  if (classes > 0) d.labels = ys.empty() ? at::zeros({0}, at::kLong) : at::cat(ys);
  return d;
}

// This rank's share of the real test clips as float [n, T, C, H, W] in [0, 1], and their labels.
Result<data::ClipBatch> RealClips(const data::ClipSource& test, const eval::Share& share,
                                  int64_t len) {
  FC_ASSIGN_OR_RETURN(auto read, data::ReadClips(test, share.begin, share.end, len));
  FC_TRY_TORCH(read.frames = read.frames.to(at::kFloat) / 255.0);
  return read;
}

// The run's frame classifier: eval.classifier_torchscript, or RUN_DIR/classifier.pt, which rank 0
// first trains (TrainFrameClassifier, `steps` Adam steps) when it does not exist. Collective.
Result<std::unique_ptr<eval::TorchScriptClassifier>> RunClassifier(
    const framecast::RunConfig& c, const std::string& run_dir, int64_t steps, at::Device device,
    dist::Communicator* comm, std::string* path, std::string* note) {
  *path = c.eval().classifier_torchscript();
  if (path->empty()) {
    *path = run_dir + "/classifier.pt";
    Status made;
    if (comm->rank() == 0 && !Exists(*path)) {
      LogInfo("no eval.classifier_torchscript: training framecast's frame classifier into " +
              *path + " (once per run directory)");
      made = MakeDirs(run_dir);
      ClassifierTrainOptions co;
      co.steps = steps;
      if (made.ok()) made = TrainFrameClassifier(c, *path, co).status();
    }
    FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, made, "could not train the frame classifier"));
  }
  Result<std::unique_ptr<eval::TorchScriptClassifier>> cls =
      eval::TorchScriptClassifier::Load(*path, device);
  FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, cls.ok() ? Status::Ok() : cls.status(),
                                         "could not load the frame classifier"));
  *note = cls.value()->test_accuracy() >= 0 ? "framecast's classifier, held-out frame accuracy " +
                                                  Percent(cls.value()->test_accuracy())
                                            : "user-supplied";
  return std::move(cls.value());
}

// The classifier's (and I3D's) output widths, probed on the first test clip; the class count must
// be the cascade's.
Result<Widths> ProbeWidths(eval::TorchScriptClassifier& cls, eval::TorchScriptI3d* i3d,
                           const data::ClipSource& test, int64_t classes) {
  Widths w;
  FC_ASSIGN_OR_RETURN(auto probe_clip, test.Get(0, 0));
  at::Tensor f = probe_clip.frames.narrow(0, 0, 1).to(at::kFloat) / 255.0;
  FC_ASSIGN_OR_RETURN(auto probe, cls.Run(FramesFor(f.unsqueeze(0), cls.image_size())));
  w.classes = probe.logits.size(1);
  w.features = probe.features.defined() ? probe.features.size(1) : 0;
  if (classes > 0 && w.classes != classes) {
    return Status::InvalidArgument(cls.path() + ": gives " + std::to_string(w.classes) +
                                   " classes, the config's cascade has " + std::to_string(classes));
  }
  if (i3d) {
    at::Tensor two = (probe_clip.frames.to(at::kFloat) / 255.0).unsqueeze(0);
    FC_ASSIGN_OR_RETURN(auto v, i3d->Features(two));
    w.i3d = v.size(1);
  }
  return w;
}

}  // namespace

Result<double> TrainFrameClassifier(const framecast::RunConfig& c, const std::string& out,
                                    const ClassifierTrainOptions& o) {
  const auto& d = c.data();
  const int64_t len = std::max<int64_t>(1, d.context_frames() + d.predicted_frames());
  FC_ASSIGN_OR_RETURN(auto train, data::MakeTrainSource(d, len));
  FC_ASSIGN_OR_RETURN(auto test, data::MakeTestSource(d, len));
  FC_ASSIGN_OR_RETURN(auto first, train->Get(0, 0));
  if (first.label < 0) {
    return Status::InvalidArgument(
        "data: the training clips carry no class labels (a labelled source is needed to train "
        "the frame classifier, e.g. data.moving_mnist.train_labels)");
  }
  const int64_t classes =
      c.model().has_cvg() && c.model().cvg().num_classes() > 0 ? c.model().cvg().num_classes() : 10;
  eval::ClassifierShape shape{train->channels(), train->image_size(), classes, o.width};
  torch::manual_seed(c.seed());
  FC_ASSIGN_OR_RETURN(auto m, eval::MakeFrameClassifier(shape));
  std::vector<at::Tensor> params;
  for (const auto& p : m->parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(o.lr));
  // The cascade's coarser level resolutions: a level's samples reach the classifier bilinearly
  // upsampled from them (FramesFor), so the classifier also learns frames viewed that way (one
  // clip in 1 + |views| each; area-downsampled as PyramidDown views the level's real clips).
  std::vector<int64_t> views;
  if (c.model().has_cvg() && o.coarse_views) {
    for (const auto& lv : c.model().cvg().levels())
      if (lv.resolution() < train->image_size()) views.push_back(lv.resolution());
  }
  auto view_at = [&](const at::Tensor& f01, int64_t r) {
    if (r <= 0) return f01;
    at::Tensor low = at::adaptive_avg_pool2d(f01, {r, r});
    return at::upsample_bilinear2d(low, {f01.size(2), f01.size(3)}, false).clamp(0, 1);
  };
  auto batch_of = [&](data::ClipSource& src, int64_t begin, int64_t n, int64_t key, bool train_set,
                      int64_t test_view = 0) -> Result<std::pair<at::Tensor, at::Tensor>> {
    std::vector<at::Tensor> frames, labels;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t idx = train_set ? static_cast<int64_t>(data::Mix64(key * 1000003 + i) %
                                                           static_cast<uint64_t>(src.size()))
                                    : begin + i;
      FC_ASSIGN_OR_RETURN(auto clip, src.Get(idx, key));
      if (clip.label < 0 || clip.label >= classes) {
        return Status::InvalidArgument("data: clip " + std::to_string(idx) + " has label " +
                                       std::to_string(clip.label) + ", expected [0, " +
                                       std::to_string(classes) + ")");
      }
      at::Tensor f = clip.frames;
      if (train_set &&
          o.frames_per_clip < f.size(0)) {  // a few frames per clip: more items per step
        const int64_t stride = f.size(0) / o.frames_per_clip;
        const int64_t offset =
            static_cast<int64_t>(data::Mix64(key * 7919 + i) % static_cast<uint64_t>(stride));
        f = f.slice(0, offset, offset + stride * o.frames_per_clip, stride);
      }
      at::Tensor f01 = f.to(at::kFloat) / 255.0;
      if (train_set && !views.empty()) {
        const auto pick = data::Mix64(key * 104729 + i) % (views.size() + 1);
        if (pick > 0) f01 = view_at(f01, views[pick - 1]);
      } else if (!train_set) {
        f01 = view_at(f01, test_view);
      }
      frames.push_back(f01);
      labels.push_back(at::full({f.size(0)}, clip.label, at::kLong));
    }
    return std::make_pair(at::cat(frames), at::cat(labels));
  };
  double loss_avg = 0;
  for (int64_t step = 1; step <= o.steps; ++step) {
    FC_ASSIGN_OR_RETURN(auto b, batch_of(*train, 0, o.clips, step, true));
    Status st = TryTorch([&] {
      adam.zero_grad();
      auto outs = m->forward({b.first}).toTuple();
      at::Tensor loss = at::cross_entropy_loss(outs->elements()[0].toTensor(), b.second);
      loss.backward();
      adam.step();
      loss_avg = step == 1 ? loss.item<double>() : 0.95 * loss_avg + 0.05 * loss.item<double>();
    });
    if (!st.ok()) return st;
    if (step % 100 == 0 || step == o.steps) {
      char line[128];
      std::snprintf(line, sizeof(line), "train-classifier: step %lld/%lld loss %.4f",
                    static_cast<long long>(step), static_cast<long long>(o.steps), loss_avg);
      LogInfo(line);
    }
  }
  // Held-out accuracy at full resolution (recorded in the archive), then at each coarse view.
  auto cls = eval::TorchScriptClassifier::Wrap(*m, "framecast frame classifier");
  const int64_t n = std::min(o.test_clips, test->size());
  int64_t total = 0;
  auto accuracy_at = [&](int64_t view) -> Result<double> {
    int64_t hits = 0;
    total = 0;
    for (int64_t b0 = 0; b0 < n; b0 += 32) {
      FC_ASSIGN_OR_RETURN(auto b,
                          batch_of(*test, b0, std::min<int64_t>(32, n - b0), 0, false, view));
      FC_ASSIGN_OR_RETURN(auto outs, cls->Run(b.first));
      hits += outs.logits.argmax(1).eq(b.second).sum().item<int64_t>();
      total += b.second.size(0);
    }
    return total ? static_cast<double>(hits) / static_cast<double>(total) : 0.0;
  };
  for (int64_t r : views) {
    FC_ASSIGN_OR_RETURN(double a, accuracy_at(r));
    LogInfo("train-classifier: held-out frame accuracy " + Percent(a) + " on frames viewed at " +
            std::to_string(r) + "px");
  }
  FC_ASSIGN_OR_RETURN(const double acc, accuracy_at(0));
  const std::string tmp = out + ".tmp";
  Status st = TryTorch([&] {
    m->register_attribute("test_accuracy", c10::FloatType::get(), acc);
    m->save(tmp);
  });
  if (!st.ok()) return Status::Internal(out + ": could not save the classifier: " + st.message());
  if (std::rename(tmp.c_str(), out.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::Internal(out + ": could not rename " + tmp + " into place");
  }
  LogInfo("train-classifier: held-out frame accuracy " + Percent(acc) + " on " + std::to_string(n) +
          " test clips (" + std::to_string(total) + " frames); saved " + out);
  return acc;
}

Status RunCvgEval(const framecast::RunConfig& c, const EvalRequest& a, dist::World& world) {
  FC_ASSIGN_OR_RETURN(auto comm, dist::MakeCommunicator(world, dist::Backend::kMpi));
  const int rank = world.rank();
  const auto& d = c.data();
  const at::Device device = TorchDevice(world);
  // ---- the cascade ---------------------------------------------------------------------------
  const auto& manifest = a.manifest;  // read and checked by `framecast eval`
  const int done = FinishedLevels(manifest, c);
  if (done == 0) return Status::InvalidArgument(a.step_dir + ": level 1 has not finished training");
  FC_ASSIGN_OR_RETURN(auto tensors, ckpt::ReadTensors(a.step_dir, manifest, {}));
  CvgReplicaOptions ro;
  ro.with_data = false;
  ro.device = device;
  torch::manual_seed(c.seed());
  FC_ASSIGN_OR_RETURN(auto untrained, CvgReplica::Create(c, nullptr, ro));
  untrained->FreezeLevels(done);
  FC_ASSIGN_OR_RETURN(auto replica, CvgReplica::Create(c, nullptr, ro));
  FC_RETURN_IF_ERROR(replica->LoadReplicatedState(tensors).WithContext(a.step_dir));
  replica->FreezeLevels(done);
  const int64_t classes = replica->num_classes();

  // ---- the classifier (trained first when the run has none) ----------------------------------
  std::string cls_path, cls_note;
  FC_ASSIGN_OR_RETURN(auto cls, RunClassifier(c, config::RunDir(c), a.classifier_steps, device,
                                              comm.get(), &cls_path, &cls_note));
  std::unique_ptr<eval::TorchScriptI3d> i3d;
  if (!c.eval().i3d_torchscript().empty()) {
    FC_ASSIGN_OR_RETURN(i3d, eval::TorchScriptI3d::Load(c.eval().i3d_torchscript(), device));
  }

  // ---- real clips and samples, this rank's share ---------------------------------------------
  int64_t len = 0;  // frames of a full-length sample (one probe sample, the same on every rank)
  {
    at::Tensor y = classes > 0 ? at::zeros({1}, at::kLong) : at::Tensor();
    FC_ASSIGN_OR_RETURN(
        auto outs, replica->SampleCascade(done, y, 1, at::make_generator<at::CPUGeneratorImpl>(1)));
    len = outs.back().size(1);
  }
  FC_ASSIGN_OR_RETURN(auto test, data::MakeTestSource(d, std::max<int64_t>(len, 1)));
  const int64_t n =
      std::min<int64_t>(test->size(), a.sequences > 0 ? a.sequences : d.eval_sequences());
  const eval::Share share = eval::ShareOf(n, rank, world.size());
  FC_ASSIGN_OR_RETURN(auto real_read, RealClips(*test, share, len));
  const at::Tensor real = real_read.frames, real_y = real_read.labels;
  FC_ASSIGN_OR_RETURN(Widths w, ProbeWidths(*cls, i3d.get(), *test, classes));
  FC_ASSIGN_OR_RETURN(auto drawn, DrawSamples(*replica, done, share, a.batch, c.seed()));
  const std::vector<at::Tensor>& fake = drawn.levels;
  const at::Tensor fake_y = drawn.labels;
  Drawn base_drawn;
  if (a.baselines) {
    FC_ASSIGN_OR_RETURN(base_drawn, DrawSamples(*untrained, done, share, a.batch, c.seed()));
  }
  const std::vector<at::Tensor>& base = base_drawn.levels;
  const at::Tensor untrained_y = base_drawn.labels;
  FC_ASSIGN_OR_RETURN(
      auto g_real, Classify(*cls, i3d.get(), real.to(device), classes > 0 ? real_y : at::Tensor(),
                            w, comm.get(), "classify real clips"));
  eval::GenerationReport report;
  const int64_t splits = 10;
  const bool conditional = classes > 0;
  // Rows: the cascade after each finished level (earlier levels' frames are resized to the
  // classifier's input; FVD only for the full cascade, the real clips' length), the real clips,
  // then the untrained generator the same way.
  auto level_name = [&](const std::string& who, int j) {
    const auto& lv = c.model().cvg().levels(j);
    return who + (j == 0 ? " level 1" : " levels 1.." + std::to_string(j + 1)) + " (" +
           std::to_string(lv.resolution()) + "px)";
  };
  int64_t sample_frames = 0;
  for (int j = 0; j < done; ++j) {
    const bool last = j + 1 == done;
    FC_ASSIGN_OR_RETURN(auto g, Classify(*cls, last ? i3d.get() : nullptr, fake[j], fake_y, w,
                                         comm.get(), "classify samples"));
    FC_ASSIGN_OR_RETURN(auto row, Score(level_name("cvg", j), g, &g_real, splits, conditional));
    report.rows.push_back(row);
    if (last) sample_frames = g.logits.size(0);
  }
  FC_ASSIGN_OR_RETURN(auto row_real, Score("real clips", g_real, nullptr, splits, conditional));
  report.rows.push_back(row_real);
  // The real clips viewed at each coarser finished level (PyramidDown to its frame skip and
  // resolution, as that level trains on them): the best a level can score with this classifier.
  const auto& cvg = c.model().cvg();
  const auto& last_level = cvg.levels(cvg.levels_size() - 1);
  for (int j = 0; j < done; ++j) {
    const auto& lv = cvg.levels(j);
    if (lv.resolution() == last_level.resolution() && lv.frame_skip() == last_level.frame_skip())
      continue;
    at::Tensor view;
    FC_TRY_TORCH(view = models::cvg::PyramidDown(real, lv.frame_skip() / last_level.frame_skip(),
                                                 lv.resolution()));
    FC_ASSIGN_OR_RETURN(
        auto g, Classify(*cls, nullptr, view.to(device), classes > 0 ? real_y : at::Tensor(), w,
                         comm.get(), "classify real clips at a level's resolution"));
    FC_ASSIGN_OR_RETURN(auto row, Score("real clips at level " + std::to_string(j + 1) + " (" +
                                            std::to_string(lv.resolution()) + "px)",
                                        g, &g_real, splits, conditional));
    report.rows.push_back(row);
  }
  for (size_t j = 0; j < base.size(); ++j) {
    const bool last = static_cast<int>(j) + 1 == done;
    FC_ASSIGN_OR_RETURN(auto g, Classify(*cls, last ? i3d.get() : nullptr, base[j], untrained_y, w,
                                         comm.get(), "classify untrained samples"));
    FC_ASSIGN_OR_RETURN(auto row, Score(level_name("untrained", static_cast<int>(j)), g, &g_real,
                                        splits, conditional));
    report.rows.push_back(row);
  }
  report.dataset = test->Describe();
  report.classifier = cls_path;
  report.classifier_note = cls_note;
  report.i3d_path = c.eval().i3d_torchscript();
  report.levels = "levels 1.." + std::to_string(done) + " of " +
                  std::to_string(c.model().cvg().levels_size()) + ", " + std::to_string(len) +
                  " frames";
  report.splits = std::min<int64_t>(splits, sample_frames);
  report.classes = classes;
  report.seed = c.seed();
  Status st;
  if (rank == 0) {
    std::fputs(eval::FormatGenerationTable(report).c_str(), stdout);
    std::fflush(stdout);
    st = eval::WriteGenerationReport(report, a.out_dir);
    if (const std::string run = RunDirOfStep(a.step_dir); st.ok() && !run.empty()) {
      if (Status tb = WriteEvalScalars(run, manifest.global_step(), report); !tb.ok())
        LogWarning("eval scalars for TensorBoard not written: " + tb.message());
    }
    if (st.ok()) LogInfo("eval of " + a.step_dir + " written to " + a.out_dir);
  }
  return world.AgreeOnStatus(st, "could not write the evaluation");
}

int TrainClassifierCommand(int argc, char** argv, int first) {
  Flags flags("framecast eval train-classifier");
  flags.SetUsage("framecast eval train-classifier CONFIG --out FILE.pt [flags]",
                 "Trains the frame classifier the cvg evaluation scores samples with (IS, FID, "
                 "class accuracy) on the config's training clips and saves it as TorchScript.");
  flags.AddList("set", "override one config field");
  flags.Add("out", "", "TorchScript file to write (required)");
  flags.Add("steps", "1500", "Adam steps");
  flags.Add("clips", "32", "clips per step (4 frames of each are examples)");
  flags.Add("threads", "0", "intra-op threads (0: all cores)");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1)
    st = Status::InvalidArgument("expected one CONFIG");
  if (st.ok() && flags.Str("out").empty()) st = Status::InvalidArgument("--out FILE is required");
  ClassifierTrainOptions o;
  auto steps = flags.Int("steps"), clips = flags.Int("clips"), threads = flags.Int("threads");
  for (auto* v : {&steps, &clips, &threads})
    if (st.ok() && !v->ok()) st = v->status();
  if (st.ok() && (steps.value() < 1 || steps.value() > 1000000 || clips.value() < 1 ||
                  clips.value() > 4096 || threads.value() < 0))
    st = Status::InvalidArgument(
        "--steps must be in [1, 1e6], --clips in [1, 4096], --threads >= 0");
  if (!st.ok()) {
    std::fprintf(stderr,
                 "error: %s\nusage: framecast eval train-classifier CONFIG --out FILE.pt "
                 "[--steps N]\nflags:\n%s",
                 st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  o.steps = steps.value();
  o.clips = clips.value();
  auto cfg = config::LoadRunConfig(flags.positional()[0], flags.List("set"));
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  const std::string out = flags.Str("out");
  const std::string dir = DirName(out);
  if (!dir.empty() && dir != "." && !Exists(dir)) {
    LogError(out + ": directory " + dir + " does not exist");
    return 1;
  }
  const int64_t n = threads.value() > 0 ? threads.value()
                                        : std::max<int64_t>(1, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(n));
  auto acc = TrainFrameClassifier(cfg.value(), out, o);
  if (!acc.ok()) {
    LogError(acc.status().ToString());
    return 1;
  }
  return 0;
}

struct CvgTrainingEval::Impl {
  framecast::RunConfig config;
  dist::Communicator* comm = nullptr;
  at::Device device = at::kCPU;
  std::unique_ptr<eval::TorchScriptClassifier> cls;
  std::unique_ptr<eval::TorchScriptI3d> i3d;
  Widths widths;
  eval::Share share;
  bool have_real = false;
  Gathered real;
};

CvgTrainingEval::CvgTrainingEval(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CvgTrainingEval::~CvgTrainingEval() = default;

std::vector<EvalMetric> CvgTrainingEval::Metrics(const framecast::RunConfig& c) {
  std::vector<EvalMetric> m = {{"fid", false}, {"inception_score", true}};
  if (c.model().cvg().num_classes() > 0) m.push_back({"accuracy", true});
  if (!c.eval().i3d_torchscript().empty()) m.push_back({"fvd", false});
  return m;
}

Result<std::unique_ptr<CvgTrainingEval>> CvgTrainingEval::Create(const framecast::RunConfig& c,
                                                                 const std::string& run_dir,
                                                                 at::Device device,
                                                                 dist::Communicator* comm) {
  auto impl = std::make_unique<Impl>();
  impl->config = c;
  impl->comm = comm;
  impl->device = device;
  std::string path, note;
  FC_ASSIGN_OR_RETURN(impl->cls, RunClassifier(c, run_dir, ClassifierTrainOptions{}.steps, device,
                                               comm, &path, &note));
  Status st;
  if (!c.eval().i3d_torchscript().empty()) {
    auto i3d = eval::TorchScriptI3d::Load(c.eval().i3d_torchscript(), device);
    if (i3d.ok())
      impl->i3d = std::move(i3d.value());
    else
      st = i3d.status();
  }
  Result<std::shared_ptr<const data::ClipSource>> test = Status::Aborted("not opened");
  if (st.ok()) {
    auto t =
        data::MakeTestSource(c.data(), c.data().context_frames() + c.data().predicted_frames());
    if (t.ok())
      test = std::shared_ptr<const data::ClipSource>(std::move(t.value()));
    else
      st = t.status();
  }
  if (st.ok()) {
    auto w = ProbeWidths(*impl->cls, impl->i3d.get(), *test.value(), c.model().cvg().num_classes());
    if (w.ok())
      impl->widths = w.value();
    else
      st = w.status();
  }
  if (st.ok() && impl->widths.features == 0 && c.eval().early_stopping().metric() == "fid")
    st = Status::InvalidArgument(path + ": gives no features, so no FID for eval.early_stopping");
  FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, st, "could not prepare the cascade's evaluation"));
  LogInfo("evaluation during training: " + std::to_string(c.eval().sequences_during_training()) +
          " clips per evaluation, classifier " + path + " (" + note + ")");
  return std::unique_ptr<CvgTrainingEval>(new CvgTrainingEval(std::move(impl)));
}

Result<std::vector<double>> CvgTrainingEval::Evaluate(CvgReplica& r, int stage) {
  Impl& m = *impl_;
  const auto& c = m.config;
  const int64_t classes = r.num_classes(), batch = 16;
  const int rank = m.comm->rank(), size = m.comm->size();
  if (!m.have_real) {  // the real clips' outputs, once
    const int64_t len = c.data().context_frames() + c.data().predicted_frames();
    FC_ASSIGN_OR_RETURN(auto test, data::MakeTestSource(c.data(), len));
    const int64_t n = std::min<int64_t>(test->size(), c.eval().sequences_during_training());
    m.share = eval::ShareOf(n, rank, size);
    FC_ASSIGN_OR_RETURN(auto read, RealClips(*test, m.share, len));
    const at::Tensor real = read.frames, y = read.labels;
    FC_ASSIGN_OR_RETURN(
        m.real, Classify(*m.cls, m.i3d.get(), real.to(m.device), classes > 0 ? y : at::Tensor(),
                         m.widths, m.comm, "classify real clips"));
    m.have_real = true;
  }
  // Samples of levels 1..stage+1, drawn as `framecast eval` draws them.
  auto drawn = DrawSamples(r, stage + 1, m.share, batch, c.seed());
  FC_RETURN_IF_ERROR(dist::AgreeOnStatus(m.comm, drawn.ok() ? Status::Ok() : drawn.status(),
                                         "draw evaluation samples"));
  const at::Tensor fake = drawn.value().levels.back(), fake_y = drawn.value().labels;
  const bool full = stage + 1 == c.model().cvg().levels_size();
  FC_ASSIGN_OR_RETURN(auto g, Classify(*m.cls, full ? m.i3d.get() : nullptr, fake, fake_y, m.widths,
                                       m.comm, "classify evaluation samples"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  FC_ASSIGN_OR_RETURN(auto row, Score("cvg", g, &m.real, 10, classes > 0));
  std::vector<double> values = {row.fid_available ? row.fid : nan, row.inception.mean};
  if (classes > 0) values.push_back(row.accuracy);
  if (m.i3d) values.push_back(row.fvd_available ? row.fvd : nan);
  return values;
}

}  // namespace fc::train
