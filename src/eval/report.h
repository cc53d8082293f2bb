// Evaluation reports: the console table, per-frame curves as CSV and PNG line plots, and a
// machine-readable JSON that records the protocol next to the numbers.
//
// Files written by WriteReport(report, dir) (each atomically, temp file + rename):
//   dir/report.json       protocol + every method's metrics (unavailable metrics: "available":
//                         false and a "note"; non-finite numbers as null) + "elbo": the held-out
//                         likelihoods (nats per video, bits per dimension)
//   dir/curves.csv        frame,method,psnr,ssim,lpips  (frame 1 = first predicted frame;
//                         an empty field where a metric is unavailable)
//   dir/curves_<m>.png    one line plot per available metric m, one polyline per method
//   dir/table.txt         FormatTable's text
// Call it on one rank (rank 0): every rank holds the same report after Evaluate.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "eval/best_of_n.h"
#include "eval/frame_classifier.h"
#include "eval/likelihood.h"
#include "util/status.h"

namespace fc::eval {

// What was measured, recorded with the results (SRVP's lesson: a silently different length
// changes the headline numbers).
struct EvalProtocol {
  std::string dataset;        // name / version of the held-out set
  uint64_t dataset_seed = 0;  // seed that generated (or selected) the held-out set
  int64_t context = 0;
  int64_t horizon = 0;
  int64_t samples = 0;  // N of the stochastic methods (baselines may use 1: see each method)
  int64_t sequences = 0;
  std::string selection;  // the selection rule, in words
  int fvd_draws = 0;
  int64_t fvd_frames = 0;
  uint64_t eval_seed = 0;  // seeds the FVD draws
  std::string i3d_path, lpips_path;
};

struct EvalReport {
  EvalProtocol protocol;
  std::vector<MethodResult> methods;
  std::vector<ElboResult> elbos;  // held-out likelihoods (latent-variable models); may be empty
};

// The protocol of `options` on `sequences` held-out sequences of `dataset`.
EvalProtocol ProtocolOf(const EvalOptions& options, int64_t sequences, const std::string& dataset,
                        uint64_t dataset_seed);

// method | PSNR | SSIM | LPIPS | FVD, "mean ± std" (std over sequences; FVD: over draws) and
// "n/a" where unavailable, followed by one protocol line, then one FormatElbo line per elbos.
std::string FormatTable(const EvalReport& report);
std::string CurvesCsv(const EvalReport& report);
std::string ReportJson(const EvalReport& report);

// A line plot: one polyline per series, x = 1 .. ys.size().
struct PlotSeries {
  std::string name;
  std::vector<double> ys;
};
struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  int64_t width = 640, height = 400;
};
// Rasterises `plot` (white background, axes with "nice" ticks and labels, tab10 colours, legend;
// text in a built-in 5x7 bitmap font, upper case) into an [height, width, 3] uint8 tensor.
// Non-finite values break a polyline.
at::Tensor RenderLinePlot(const LinePlot& plot);
// The colour of series i (tab10 palette, cycling).
std::array<uint8_t, 3> SeriesColor(size_t i);

// Writes the files listed above into `dir` (created if missing).
Status WriteReport(const EvalReport& report, const std::string& dir);

// ---- generative models (CVG): sample quality by a frame classifier --------------------------
struct GenerationRow {
  std::string name;  // "cvg", "real clips", "untrained generator"
  int64_t clips = 0, frames = 0;
  ScoreMeanStd inception;  // IS over frames (classifier splits)
  bool fid_available = false;
  double fid = 0;              // frames vs the real clips' frames, classifier features
  bool accuracy_available = false;
  double accuracy = 0;         // frames classified as the class they were asked for (or have)
  bool fvd_available = false;
  double fvd = 0;              // clips vs real clips, I3D features
};
struct GenerationReport {
  std::string dataset, classifier, classifier_note, i3d_path, levels;
  int64_t splits = 1, classes = 0;
  uint64_t seed = 0;
  std::vector<GenerationRow> rows;
};
// method | IS | FID | class acc. | FVD, then lines naming the feature networks.
std::string FormatGenerationTable(const GenerationReport& report);
std::string GenerationReportJson(const GenerationReport& report);
// dir/report.json and dir/table.txt, atomically.
Status WriteGenerationReport(const GenerationReport& report, const std::string& dir);

}  // namespace fc::eval
