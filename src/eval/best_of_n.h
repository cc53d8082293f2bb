// Best-of-N evaluation of a video prediction method (the "coverage and plausibility" protocol of
// Denton & Fergus 2018, as used by HVRNN spec section 5.1), distributed over ranks.
//
// Protocol, per method:
//   - Every held-out sequence is split into D context frames and `horizon` target frames. The
//     method draws N samples per sequence (predict(context, horizon, s) for s = 0 .. N-1).
//   - For each metric separately (PSNR, SSIM, LPIPS) and each sequence, the sample whose metric
//     averaged over the predicted frames is best (max PSNR/SSIM, min LPIPS; ties: the lowest s)
//     is selected; its per-frame curve is kept.
//   - Reported: the mean over sequences of the selected per-sequence means; "std" is the
//     population standard deviation over sequences (numpy's default, as in SVG/SRVP), ci95 is
//     1.96 std / sqrt(n); per-frame curves are the means over sequences of the selected curves.
//   - FVD (optional, needs an I3D TorchScript): real = the test clips including their context,
//     fake = context + one sample per sequence drawn at random; repeated fvd_draws times; reported
//     is the mean (and std) over draws. The draw for (seed, draw, global sequence index) is fixed,
//     so the result does not depend on the number of ranks. Clips fed to I3D are the first
//     fvd_frames frames of (context + horizon) (all of them when fvd_frames is 0 or larger).
//   - LPIPS (optional, needs an LPIPS TorchScript) per predicted frame against its target.
//   Metrics without their network are reported unavailable, never estimated.
//
// Distribution: each rank passes its own disjoint share of the test sequences (ShareOf gives the
// contiguous split that keeps global order = rank order). Per-(sequence, sample, frame) metrics
// stay local; each rank reduces them to the selected curves, then one AllGather (rows padded to
// the largest share, padding dropped by the gathered counts) gives every rank the full table, in
// global order, so every rank returns the same MethodResult, bitwise equal to a one-rank run.
// Evaluate is collective: every rank calls it with the same method and options (a rank may hold
// zero sequences). A failure on any rank is agreed: every rank returns Aborted naming it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "util/status.h"

namespace fc::eval {

// predict(context [b, D, C, H, W] float in [0, 1], horizon, sample_index) -> [b, horizon, C, H, W]
// float in [0, 1] (values outside are clamped by the metrics). The sample index lets a stochastic
// method draw independent samples; deterministic methods ignore it. Called without autograd.
using PredictFn =
    std::function<Result<at::Tensor>(const at::Tensor& context, int64_t horizon, int64_t sample)>;

struct EvalOptions {
  int64_t context = 0;      // D: conditioning frames (>= 1)
  int64_t horizon = 0;      // predicted frames (>= 1)
  int64_t samples = 100;    // N: samples per sequence (1 for deterministic methods)
  int64_t batch = 16;       // sequences per predict call
  std::string i3d_path;     // I3D TorchScript for FVD; empty: FVD unavailable
  std::string lpips_path;   // LPIPS TorchScript; empty: LPIPS unavailable
  int fvd_draws = 5;        // random sample draws averaged for FVD
  int64_t fvd_frames = 16;  // frames per FVD clip from the start of context + prediction; 0: all
  uint64_t seed = 0;        // seeds the FVD draws
};

enum class Direction { kHigherIsBetter, kLowerIsBetter };

// Collective helpers (comm == nullptr: one process). Every rank's value of `v`, in rank order.
Result<std::vector<int64_t>> AllGatherInt(dist::Communicator* comm, int64_t v);
// Every rank's rows local [counts[rank], k] (float64), concatenated in rank order; counts from
// AllGatherInt. Rows are padded to the largest share for the collective and the padding dropped.
Result<at::Tensor> AllGatherRows(dist::Communicator* comm, const at::Tensor& local,
                                 const std::vector<int64_t>& counts, int64_t k);

// Per-sequence selection over samples. per_sample: [n, N, horizon] (any floating dtype).
struct Selection {
  at::Tensor index;   // [n] int64: the chosen sample per sequence
  at::Tensor score;   // [n] float64: its metric averaged over frames
  at::Tensor curves;  // [n, horizon] float64: its per-frame metric
};
Selection SelectBest(const at::Tensor& per_sample, Direction direction);

// One metric of one method over the full test set.
struct MetricSummary {
  std::string name;  // "psnr", "ssim", "lpips"
  Direction direction = Direction::kHigherIsBetter;
  bool available = false;  // false: `note` says why; numbers are empty
  std::string note;
  double mean = 0, std = 0, ci95 = 0;  // over sequences of the selected per-sequence means
  std::vector<double> per_frame;       // [horizon]: mean over sequences of the selected curves
  std::vector<double> per_sequence;    // [n]: selected per-sequence mean, global order
  std::vector<int64_t> best_sample;    // [n]: selected sample index, global order
};

// Statistics of selected curves [n, horizon] (float64) with their sample indices [n].
MetricSummary Summarize(const std::string& name, Direction direction, const at::Tensor& curves,
                        const at::Tensor& index);

struct FvdResult {
  bool available = false;
  std::string note;           // why unavailable, or how computed
  double mean = 0, std = 0;   // over draws (population std)
  std::vector<double> draws;  // FVD per draw
  int64_t clips = 0;          // clips per population
  int64_t frames = 0;         // frames per clip
  int64_t feature_dim = 0;
};

struct MethodResult {
  std::string name;
  int64_t sequences = 0;  // total over ranks
  int64_t samples = 0;    // N used
  int64_t horizon = 0;
  MetricSummary psnr, ssim, lpips;
  FvdResult fvd;
};

// The contiguous share [begin, end) of `n` sequences held by `rank` of `size`: sizes differ by at
// most one (the first n % size ranks hold one more); shares are disjoint and cover [0, n).
struct Share {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
Share ShareOf(int64_t n, int rank, int size);

// Evaluates `predict` on this rank's clips: local_clips [n_local, T, C, H, W] with
// T >= context + horizon (the first context + horizon frames are used), float in [0, 1] or uint8
// (scaled by 1/255); n_local may be 0. Metrics run on the clips' device. comm == nullptr: one
// process. Collective (see above); returns the full-test-set result on every rank.
Result<MethodResult> Evaluate(const std::string& method_name, const PredictFn& predict,
                              const at::Tensor& local_clips, const EvalOptions& options,
                              dist::Communicator* comm);

// Deterministic baselines (evaluate them with samples = 1).
// Repeats the last context frame over the horizon.
PredictFn CopyLastFramePredictor();
// Repeats the mean of the context frames over the horizon.
PredictFn MeanFramePredictor();
// A Gaussian blur of the last context frame: predicted frame t (0-based) is blurred with
// sigma_per_frame[t] pixels (frames past the list use its last entry; sigma 0 is the frame
// itself). Separable kernel of radius ceil(3 sigma), borders replicated.
// REQUIRES: sigma_per_frame non-empty, every entry in [0, 64].
PredictFn BlurLastFramePredictor(std::vector<double> sigma_per_frame);
// The blur width per predicted frame that maximises the mean PSNR of BlurLastFramePredictor on
// `clips` ([n >= 1, T >= context + horizon, C, H, W], uint8 or float in [0, 1]: training clips,
// never the test set), chosen from `candidates` (ties: the smaller width). Deterministic.
Result<std::vector<double>> FitBlurWidths(const at::Tensor& clips, int64_t context,
                                          int64_t horizon, const std::vector<double>& candidates);
// The widths FitBlurWidths tries by default (pixels).
std::vector<double> DefaultBlurCandidates();

}  // namespace fc::eval
