#include "eval/best_of_n.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>

#include "eval/frechet.h"
#include "eval/metrics.h"
#include "eval/torchscript_features.h"

namespace fc::eval {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The sample used as "fake" for global sequence `seq` in FVD draw `draw`.
int64_t DrawSample(uint64_t seed, int draw, int64_t seq, int64_t samples) {
  uint64_t h = SplitMix64(SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(draw) + 1)) +
                          static_cast<uint64_t>(seq));
  return static_cast<int64_t>(h % static_cast<uint64_t>(samples));
}

std::string ShapeString(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

at::Tensor ToUnitFloat(const at::Tensor& x) {
  if (x.scalar_type() == at::kByte) return x.to(at::kFloat) / 255.0;
  return x;
}

Status Agree(dist::Communicator* comm, const Status& local, const std::string& what) {
  if (comm == nullptr) return local;
  return dist::AgreeOnStatus(comm, local, what);
}

Status ValidateInputs(const std::string& name, const at::Tensor& clips, const EvalOptions& o) {
  const std::string where = "evaluate " + name + ": ";
  if (o.context < 1) return Status::InvalidArgument(where + "context must be >= 1");
  if (o.horizon < 1) return Status::InvalidArgument(where + "horizon must be >= 1");
  if (o.samples < 1) return Status::InvalidArgument(where + "samples must be >= 1");
  if (o.batch < 1) return Status::InvalidArgument(where + "batch must be >= 1");
  if (o.fvd_draws < 1) return Status::InvalidArgument(where + "fvd_draws must be >= 1");
  if (o.fvd_frames < 0) return Status::InvalidArgument(where + "fvd_frames must be >= 0");
  if (!o.i3d_path.empty() && o.fvd_frames > 0 && o.fvd_frames <= o.context) {
    return Status::InvalidArgument(where + "fvd_frames (" + std::to_string(o.fvd_frames) +
                                   ") must exceed context (" + std::to_string(o.context) + ")");
  }
  if (!clips.defined() || clips.dim() != 5) {
    return Status::InvalidArgument(where + "test clips must be [n, T, C, H, W], got " +
                                   (clips.defined() ? ShapeString(clips) : std::string("none")));
  }
  if (clips.size(1) < o.context + o.horizon) {
    return Status::InvalidArgument(where + "test clips have " + std::to_string(clips.size(1)) +
                                   " frames, context + horizon needs " +
                                   std::to_string(o.context + o.horizon));
  }
  if (clips.scalar_type() != at::kByte && !at::isFloatingType(clips.scalar_type())) {
    return Status::InvalidArgument(where + "test clips must be uint8 or floating point");
  }
  return Status::Ok();
}

// Per-rank intermediate results of the sampling loop.
struct LocalTables {
  at::Tensor psnr, ssim, lpips;           // [n_local, N, horizon] float64 (lpips undefined if n/a)
  at::Tensor real_features;               // [n_local, F] (undefined if no I3D)
  std::vector<at::Tensor> fake_features;  // per draw: [n_local, F]
};

}  // namespace

// Every rank's value of `v`, in rank order.
Result<std::vector<int64_t>> AllGatherInt(dist::Communicator* comm, int64_t v) {
  if (comm == nullptr) return std::vector<int64_t>{v};
  at::Tensor in = at::full({1}, v, at::kLong);
  at::Tensor out = at::zeros({comm->size()}, at::kLong);
  FC_RETURN_IF_ERROR(comm->AllGather(in, out)->Wait());
  return std::vector<int64_t>(out.data_ptr<int64_t>(), out.data_ptr<int64_t>() + comm->size());
}

// Concatenates every rank's rows [counts[r], k] in rank order. Rows are padded to the largest
// share for the collective and the padding is dropped again here, so nothing is counted twice.
Result<at::Tensor> AllGatherRows(dist::Communicator* comm, const at::Tensor& local,
                                 const std::vector<int64_t>& counts, int64_t k) {
  if (comm == nullptr) return local;
  const int64_t max_rows = *std::max_element(counts.begin(), counts.end());
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  if (max_rows == 0 || k == 0) return at::zeros({total, k}, at::kDouble);
  at::Tensor padded = at::zeros({max_rows, k}, at::kDouble);
  if (local.size(0) > 0) padded.slice(0, 0, local.size(0)).copy_(local);
  at::Tensor flat = padded.reshape({-1});
  at::Tensor out = at::zeros({comm->size() * max_rows * k}, at::kDouble);
  FC_RETURN_IF_ERROR(comm->AllGather(flat, out)->Wait());
  out = out.reshape({comm->size(), max_rows, k});
  std::vector<at::Tensor> parts;
  for (int r = 0; r < comm->size(); ++r) parts.push_back(out[r].slice(0, 0, counts[r]));
  return at::cat(parts, 0);
}


Share ShareOf(int64_t n, int rank, int size) {
  const int64_t base = n / size, extra = n % size;
  Share s;
  s.begin = rank * base + std::min<int64_t>(rank, extra);
  s.end = s.begin + base + (rank < extra ? 1 : 0);
  return s;
}

Selection SelectBest(const at::Tensor& per_sample, Direction direction) {
  at::Tensor p = per_sample.to(at::kCPU, at::kDouble).contiguous();
  const int64_t n = p.size(0), ns = p.size(1), h = p.size(2);
  Selection sel;
  sel.index = at::zeros({n}, at::kLong);
  sel.score = at::zeros({n}, at::kDouble);
  sel.curves = at::zeros({n, h}, at::kDouble);
  auto pa = p.accessor<double, 3>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    double best_score = 0;
    for (int64_t s = 0; s < ns; ++s) {
      double sum = 0;
      for (int64_t t = 0; t < h; ++t) sum += pa[i][s][t];
      const double score = sum / static_cast<double>(h);
      const bool better =
          direction == Direction::kHigherIsBetter ? score > best_score : score < best_score;
      if (s == 0 || better) {
        best = s;
        best_score = score;
      }
    }
    sel.index[i] = best;
    sel.score[i] = best_score;
    sel.curves[i].copy_(p[i][best]);
  }
  return sel;
}

MetricSummary Summarize(const std::string& name, Direction direction, const at::Tensor& curves,
                        const at::Tensor& index) {
  MetricSummary m;
  m.name = name;
  m.direction = direction;
  m.available = true;
  at::Tensor c = curves.to(at::kCPU, at::kDouble).contiguous();
  at::Tensor idx = index.to(at::kCPU, at::kLong).contiguous();
  const int64_t n = c.size(0), h = c.size(1);
  auto ca = c.accessor<double, 2>();
  m.per_frame.assign(h, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t t = 0; t < h; ++t) {
      sum += ca[i][t];
      m.per_frame[t] += ca[i][t];
    }
    m.per_sequence.push_back(sum / static_cast<double>(h));
    m.best_sample.push_back(idx.data_ptr<int64_t>()[i]);
  }
  if (n == 0) return m;
  for (double& v : m.per_frame) v /= static_cast<double>(n);
  double sum = 0;
  for (double v : m.per_sequence) sum += v;
  m.mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double v : m.per_sequence) ss += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(ss / static_cast<double>(n));
  m.ci95 = 1.96 * m.std / std::sqrt(static_cast<double>(n));
  return m;
}

Result<MethodResult> Evaluate(const std::string& method_name, const PredictFn& predict,
                              const at::Tensor& local_clips, const EvalOptions& options,
                              dist::Communicator* comm) {
  const std::string what = "evaluate " + method_name;
  FC_RETURN_IF_ERROR(Agree(comm, ValidateInputs(method_name, local_clips, options), what));
  const int rank = comm ? comm->rank() : 0;
  const int64_t n_local = local_clips.size(0);
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> counts, AllGatherInt(comm, n_local));
  int64_t offset = 0, total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (static_cast<int>(r) < rank) offset += counts[r];
    total += counts[r];
  }
  if (total == 0) return Status::InvalidArgument(what + ": no test sequences on any rank");

  const int64_t d = options.context, h = options.horizon, ns = options.samples;
  const int64_t clip_len = d + h;
  const int64_t fvd_len =
      options.fvd_frames > 0 ? std::min(options.fvd_frames, clip_len) : clip_len;
  const c10::Device device = local_clips.device();
  const bool want_lpips = !options.lpips_path.empty();
  const bool want_fvd = !options.i3d_path.empty();

  // ---- local phase: sample, score every (sequence, sample, frame), extract FVD features -------
  LocalTables tab;
  auto local_phase = [&]() -> Status {
    at::NoGradGuard no_grad;
    std::unique_ptr<TorchScriptLpips> lpips;
    std::unique_ptr<TorchScriptI3d> i3d;
    if (want_lpips) {
      FC_ASSIGN_OR_RETURN(lpips, TorchScriptLpips::Load(options.lpips_path, device));
    }
    if (want_fvd) {
      FC_ASSIGN_OR_RETURN(i3d, TorchScriptI3d::Load(options.i3d_path, device));
    }
    tab.psnr = at::zeros({n_local, ns, h}, at::kDouble);
    tab.ssim = at::zeros({n_local, ns, h}, at::kDouble);
    if (want_lpips) tab.lpips = at::zeros({n_local, ns, h}, at::kDouble);
    std::vector<std::vector<at::Tensor>> fake(options.fvd_draws, std::vector<at::Tensor>(n_local));
    std::vector<at::Tensor> real;
    for (int64_t i0 = 0; i0 < n_local; i0 += options.batch) {
      const int64_t i1 = std::min(n_local, i0 + options.batch), b = i1 - i0;
      at::Tensor clips = ToUnitFloat(local_clips.slice(0, i0, i1).slice(1, 0, clip_len));
      at::Tensor ctx = clips.slice(1, 0, d).contiguous();
      at::Tensor target = clips.slice(1, d, clip_len);
      if (want_fvd) {
        FC_ASSIGN_OR_RETURN(at::Tensor f, i3d->Features(clips.slice(1, 0, fvd_len)));
        real.push_back(f);
      }
      for (int64_t s = 0; s < ns; ++s) {
        Result<at::Tensor> pr = Status::Internal("unset");
        try {
          pr = predict(ctx, h, s);
        } catch (const c10::Error& e) {
          std::string m = e.what_without_backtrace();
          return Status::Internal(what + ": predict threw: " + m.substr(0, m.find('\n')));
        } catch (const std::exception& e) {
          return Status::Internal(what + ": predict threw: " + e.what());
        }
        if (!pr.ok())
          return pr.status().WithContext(what + ": predict sample " + std::to_string(s));
        at::Tensor pred = pr.value();
        if (!pred.defined() || pred.sizes() != target.sizes() ||
            !at::isFloatingType(pred.scalar_type())) {
          return Status::InvalidArgument(what + ": predict returned " +
                                         (pred.defined() ? ShapeString(pred) : "none") +
                                         ", expected a floating " + ShapeString(target));
        }
        pred = pred.to(device);
        FC_ASSIGN_OR_RETURN(at::Tensor p, Psnr(pred, target));
        FC_ASSIGN_OR_RETURN(at::Tensor q, Ssim(pred, target));
        tab.psnr.slice(0, i0, i1).select(1, s).copy_(p.to(at::kCPU));
        tab.ssim.slice(0, i0, i1).select(1, s).copy_(q.to(at::kCPU));
        if (want_lpips) {
          auto flat = [&](const at::Tensor& x) {
            return x.reshape({b * h, x.size(2), x.size(3), x.size(4)});
          };
          FC_ASSIGN_OR_RETURN(at::Tensor l, lpips->Distance(flat(pred), flat(target)));
          tab.lpips.slice(0, i0, i1).select(1, s).copy_(l.reshape({b, h}));
        }
        if (want_fvd) {
          // The (draw, sequence) pairs whose random sample is this one, featurised together.
          std::vector<std::pair<int, int64_t>> picks;
          std::vector<at::Tensor> videos;
          for (int k = 0; k < options.fvd_draws; ++k) {
            for (int64_t i = i0; i < i1; ++i) {
              if (DrawSample(options.seed, k, offset + i, ns) != s) continue;
              picks.emplace_back(k, i);
              at::Tensor video = at::cat({ctx[i - i0], pred[i - i0].to(ctx.scalar_type())}, 0);
              videos.push_back(video.slice(0, 0, fvd_len));
            }
          }
          if (!videos.empty()) {
            FC_ASSIGN_OR_RETURN(at::Tensor f, i3d->Features(at::stack(videos, 0)));
            for (size_t j = 0; j < picks.size(); ++j) fake[picks[j].first][picks[j].second] = f[j];
          }
        }
      }
    }
    if (want_fvd && n_local > 0) {
      tab.real_features = at::cat(real, 0);
      for (int k = 0; k < options.fvd_draws; ++k)
        tab.fake_features.push_back(at::stack(fake[k], 0));
    }
    return Status::Ok();
  };
  Status local;
  try {
    local = local_phase();
  } catch (const std::exception& e) {  // a LibTorch op on unexpected input
    std::string m = e.what();
    local = Status::Internal(what + ": " + m.substr(0, m.find('\n')));
  }
  FC_RETURN_IF_ERROR(Agree(comm, local, what));

  // ---- local selection, then one gather of the per-sequence rows -----------------------------
  const int64_t f_local = tab.real_features.defined() ? tab.real_features.size(1) : 0;
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> dims, AllGatherInt(comm, f_local));
  const int64_t fdim = *std::max_element(dims.begin(), dims.end());
  for (size_t r = 0; r < dims.size(); ++r) {
    if (counts[r] > 0 && dims[r] != fdim) {
      return Status::Internal(what + ": I3D feature sizes differ across ranks");
    }
  }
  Selection sp = SelectBest(tab.psnr, Direction::kHigherIsBetter);
  Selection ss = SelectBest(tab.ssim, Direction::kHigherIsBetter);
  Selection sl = want_lpips ? SelectBest(tab.lpips, Direction::kLowerIsBetter)
                            : Selection{at::zeros({n_local}, at::kLong), at::Tensor(),
                                        at::zeros({n_local, h}, at::kDouble)};
  const int64_t draws = want_fvd ? options.fvd_draws : 0;
  std::vector<at::Tensor> cols{sp.curves,
                               ss.curves,
                               sl.curves,
                               sp.index.to(at::kDouble).unsqueeze(1),
                               ss.index.to(at::kDouble).unsqueeze(1),
                               sl.index.to(at::kDouble).unsqueeze(1)};
  if (want_fvd && n_local > 0) {
    cols.push_back(tab.real_features);
    for (auto& f : tab.fake_features) cols.push_back(f.to(at::kDouble));
  }
  at::Tensor rows = at::cat(cols, 1);
  const int64_t k = 3 * h + 3 + fdim * (1 + draws);
  if (n_local == 0) rows = at::zeros({0, k}, at::kDouble);
  FC_ASSIGN_OR_RETURN(at::Tensor all, AllGatherRows(comm, rows, counts, k));

  // ---- statistics over the full test set (identical on every rank) --------------------------
  MethodResult res;
  res.name = method_name;
  res.sequences = total;
  res.samples = ns;
  res.horizon = h;
  auto curve = [&](int64_t j) { return all.slice(1, j * h, (j + 1) * h); };
  auto index = [&](int64_t j) { return all.select(1, 3 * h + j).to(at::kLong); };
  res.psnr = Summarize("psnr", Direction::kHigherIsBetter, curve(0), index(0));
  res.ssim = Summarize("ssim", Direction::kHigherIsBetter, curve(1), index(1));
  if (want_lpips) {
    res.lpips = Summarize("lpips", Direction::kLowerIsBetter, curve(2), index(2));
  } else {
    res.lpips.name = "lpips";
    res.lpips.direction = Direction::kLowerIsBetter;
    res.lpips.note = "no LPIPS TorchScript given";
  }
  res.fvd.frames = fvd_len;
  if (!want_fvd) {
    res.fvd.note = "no I3D TorchScript given";
  } else if (total < 2) {
    res.fvd.note = "FVD needs at least 2 sequences";
  } else {
    const int64_t base = 3 * h + 3;
    at::Tensor real = all.slice(1, base, base + fdim);
    FC_ASSIGN_OR_RETURN(GaussianStats real_stats, FeatureStats(real));
    for (int64_t j = 0; j < draws; ++j) {
      at::Tensor fake = all.slice(1, base + (j + 1) * fdim, base + (j + 2) * fdim);
      FC_ASSIGN_OR_RETURN(GaussianStats fake_stats, FeatureStats(fake));
      FC_ASSIGN_OR_RETURN(double fd, FrechetDistance(real_stats, fake_stats));
      res.fvd.draws.push_back(fd);
    }
    double sum = 0, ss2 = 0;
    for (double v : res.fvd.draws) sum += v;
    res.fvd.mean = sum / static_cast<double>(draws);
    for (double v : res.fvd.draws) ss2 += (v - res.fvd.mean) * (v - res.fvd.mean);
    res.fvd.std = std::sqrt(ss2 / static_cast<double>(draws));
    res.fvd.available = true;
    res.fvd.clips = total;
    res.fvd.feature_dim = fdim;
    res.fvd.note = "I3D " + options.i3d_path;
  }
  return res;
}

PredictFn CopyLastFramePredictor() {
  return [](const at::Tensor& context, int64_t horizon, int64_t) -> Result<at::Tensor> {
    if (context.dim() != 5 || context.size(1) < 1) {
      return Status::InvalidArgument("copy-last: context must be [b, D >= 1, C, H, W]");
    }
    at::Tensor last = context.select(1, context.size(1) - 1).unsqueeze(1);
    return last.expand({-1, horizon, -1, -1, -1}).contiguous();
  };
}

PredictFn MeanFramePredictor() {
  return [](const at::Tensor& context, int64_t horizon, int64_t) -> Result<at::Tensor> {
    if (context.dim() != 5 || context.size(1) < 1) {
      return Status::InvalidArgument("mean-frame: context must be [b, D >= 1, C, H, W]");
    }
    at::Tensor mean = context.to(at::kFloat).mean(1, /*keepdim=*/true);
    return mean.expand({-1, horizon, -1, -1, -1}).contiguous();
  };
}

namespace {

// frames [n, C, H, W] float -> blurred with sigma (0: unchanged).
at::Tensor GaussianBlur(const at::Tensor& frames, double sigma) {
  if (sigma <= 0) return frames;
  const int64_t r = static_cast<int64_t>(std::ceil(3 * sigma));
  at::Tensor k = GaussianKernel1d(2 * r + 1, sigma).to(frames.options());
  const int64_t n = frames.size(0), c = frames.size(1), h = frames.size(2), w = frames.size(3);
  at::Tensor y = frames.reshape({n * c, 1, h, w});
  y = at::replication_pad2d(y, {r, r, r, r});
  y = at::conv2d(y, k.view({1, 1, 1, 2 * r + 1}));
  y = at::conv2d(y, k.view({1, 1, 2 * r + 1, 1}));
  return y.reshape({n, c, h, w});
}

double SigmaAt(const std::vector<double>& s, int64_t t) {
  return s[static_cast<size_t>(std::min<int64_t>(t, static_cast<int64_t>(s.size()) - 1))];
}

}  // namespace

std::vector<double> DefaultBlurCandidates() { return {0, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16}; }

PredictFn BlurLastFramePredictor(std::vector<double> sigma) {
  return [sigma](const at::Tensor& context, int64_t horizon, int64_t) -> Result<at::Tensor> {
    if (context.dim() != 5 || context.size(1) < 1) {
      return Status::InvalidArgument("blur-last-frame: context must be [b, D >= 1, C, H, W]");
    }
    if (sigma.empty()) return Status::InvalidArgument("blur-last-frame: no blur widths");
    at::Tensor last = context.select(1, context.size(1) - 1).to(at::kFloat);
    std::vector<at::Tensor> frames;
    for (int64_t t = 0; t < horizon; ++t) frames.push_back(GaussianBlur(last, SigmaAt(sigma, t)));
    if (frames.empty()) return at::empty({context.size(0), 0, last.size(1), last.size(2),
                                          last.size(3)}, last.options());
    return at::stack(frames, 1);
  };
}

Result<std::vector<double>> FitBlurWidths(const at::Tensor& clips, int64_t context,
                                          int64_t horizon, const std::vector<double>& candidates) {
  if (candidates.empty()) return Status::InvalidArgument("FitBlurWidths: no candidate widths");
  for (double c : candidates) {
    if (!(c >= 0 && c <= 64)) return Status::InvalidArgument("FitBlurWidths: width out of [0, 64]");
  }
  if (clips.dim() != 5 || clips.size(0) < 1 || context < 1 || horizon < 1 ||
      clips.size(1) < context + horizon) {
    return Status::InvalidArgument("FitBlurWidths: clips must be [n >= 1, T >= context + horizon, "
                                   "C, H, W] with context, horizon >= 1");
  }
  at::NoGradGuard ng;
  at::Tensor x = clips.scalar_type() == at::kByte ? clips.to(at::kFloat) / 255.0
                                                  : clips.to(at::kFloat);
  at::Tensor context_frames = x.narrow(1, 0, context), target = x.narrow(1, context, horizon);
  std::vector<double> best(static_cast<size_t>(horizon), candidates[0]);
  std::vector<double> best_psnr(static_cast<size_t>(horizon), -1e300);
  for (double c : candidates) {
    FC_ASSIGN_OR_RETURN(at::Tensor pred, BlurLastFramePredictor({c})(context_frames, horizon, 0));
    FC_ASSIGN_OR_RETURN(at::Tensor psnr, Psnr(pred, target));  // [n, horizon], as reported
    const at::Tensor per_frame = psnr.mean(0).cpu();
    for (int64_t t = 0; t < horizon; ++t) {
      const double v = per_frame[t].item<double>();
      if (v > best_psnr[static_cast<size_t>(t)] + 1e-12) {
        best_psnr[static_cast<size_t>(t)] = v;
        best[static_cast<size_t>(t)] = c;
      }
    }
  }
  return best;
}

}  // namespace fc::eval
