#include "eval/report.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <type_traits>

#include "media/png.h"
#include "util/files.h"
#include "util/json.h"

namespace fc::eval {
namespace {

// ---- text helpers ---------------------------------------------------------------------------

std::string Fixed(double v, int decimals) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string MeanStd(const MetricSummary& m, int decimals) {
  if (!m.available) return "n/a";
  return Fixed(m.mean, decimals) + " \u00b1 " + Fixed(m.std, decimals);
}

// Display width of a UTF-8 string (code points).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Pad(const std::string& s, size_t w) {
  return s + std::string(w - std::min(w, Width(s)), ' ');
}

template <typename T>
std::string JsonArray(const std::vector<T>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    if constexpr (std::is_floating_point_v<T>) {
      out += JsonNumber(v[i]);
    } else {
      out += std::to_string(v[i]);
    }
  }
  return out + "]";
}

std::string MetricJson(const MetricSummary& m, const std::string& indent) {
  std::string s = "{\n";
  s += indent + "  \"available\": " + (m.available ? "true" : "false") + ",\n";
  s += indent +
       "  \"better\": " + (m.direction == Direction::kHigherIsBetter ? "\"higher\"" : "\"lower\"");
  if (!m.available)
    return s + ",\n" + indent + "  \"note\": " + JsonString(m.note) + "\n" + indent + "}";
  s += ",\n" + indent + "  \"mean\": " + JsonNumber(m.mean) + ",\n";
  s += indent + "  \"std\": " + JsonNumber(m.std) + ",\n";
  s += indent + "  \"ci95\": " + JsonNumber(m.ci95) + ",\n";
  s += indent + "  \"per_frame\": " + JsonArray(m.per_frame) + ",\n";
  s += indent + "  \"per_sequence\": " + JsonArray(m.per_sequence) + ",\n";
  s += indent + "  \"best_sample\": " + JsonArray(m.best_sample) + "\n";
  return s + indent + "}";
}

// ---- 5x7 bitmap font ------------------------------------------------------------------------
// Rows top to bottom; bit 4 is the leftmost column. Lower case is drawn as upper case.
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {',', {0, 0, 0, 0, 0x0C, 0x04, 0x08}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},
    {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'_', {0, 0, 0, 0, 0, 0, 0x1F}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};
constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

const Glyph& GlyphFor(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (const Glyph& g : kFont) {
    if (g.c == c) return g;
  }
  for (const Glyph& g : kFont) {
    if (g.c == '?') return g;
  }
  return kFont[0];
}

using Rgb = std::array<uint8_t, 3>;

class Canvas {
 public:
  Canvas(int64_t w, int64_t h) : w_(w), h_(h), px_(static_cast<size_t>(w * h * 3), 255) {}
  void Set(int64_t x, int64_t y, Rgb c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    uint8_t* p = &px_[static_cast<size_t>((y * w_ + x) * 3)];
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
  }
  void Rect(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c) {
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) Set(x, y, c);
  }
  // Bresenham line, `thick` pixels wide (square pen).
  void Line(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c, int thick = 1) {
    int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    while (true) {
      Rect(x0, y0, x0 + thick - 1, y0 + thick - 1, c);
      if (x0 == x1 && y0 == y1) break;
      int64_t e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  // Text with its top-left corner at (x, y), each font pixel `scale` x `scale`.
  void Text(int64_t x, int64_t y, const std::string& s, Rgb c, int scale = 1) {
    for (char ch : s) {
      const Glyph& g = GlyphFor(ch);
      for (int r = 0; r < kGlyphH; ++r)
        for (int col = 0; col < kGlyphW; ++col)
          if (g.rows[r] & (1 << (kGlyphW - 1 - col)))
            Rect(x + col * scale, y + r * scale, x + (col + 1) * scale - 1, y + (r + 1) * scale - 1,
                 c);
      x += kAdvance * scale;
    }
  }
  static int64_t TextWidth(const std::string& s, int scale = 1) {
    return static_cast<int64_t>(s.size()) * kAdvance * scale - scale;
  }
  at::Tensor ToTensor() const {
    return at::from_blob(const_cast<uint8_t*>(px_.data()), {h_, w_, 3}, at::kByte).clone();
  }

 private:
  int64_t w_, h_;
  std::vector<uint8_t> px_;
};

// "Nice" tick step (1, 2 or 5 x 10^k) giving about `target` intervals over `span`.
double NiceStep(double span, int target) {
  const double raw = span / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

std::string TickLabel(double v, double step) {
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;
  return Fixed(v, decimals);
}

}  // namespace

std::array<uint8_t, 3> SeriesColor(size_t i) {
  static const Rgb kTab10[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                               {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                               {188, 189, 34},  {23, 190, 207}};
  return kTab10[i % 10];
}

at::Tensor RenderLinePlot(const LinePlot& plot) {
  Canvas cv(plot.width, plot.height);
  const Rgb black{0, 0, 0}, grid{225, 225, 225};
  size_t legend_chars = 0, npoints = 1;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : plot.series) {
    legend_chars = std::max(legend_chars, s.name.size());
    npoints = std::max(npoints, s.ys.size());
    for (double v : s.ys) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::fabs(lo) * 0.05, 0.5);
    lo -= pad;
    hi += pad;
  }
  const double margin = 0.05 * (hi - lo);  // keep points off the frame
  lo -= margin;
  hi += margin;
  const double ystep = NiceStep(hi - lo, 5);
  const double ylo = std::floor(lo / ystep) * ystep, yhi = std::ceil(hi / ystep) * ystep;

  const int64_t left = 70, top = 36, bottom = plot.height - 44;
  const int64_t right = plot.width - 30 - Canvas::TextWidth(std::string(legend_chars, 'M')) - 20;
  auto px = [&](double x) {  // x in [1, npoints]
    const double span = std::max<double>(1.0, static_cast<double>(npoints) - 1.0);
    const double f = npoints > 1 ? (x - 1.0) / span : 0.5;
    return left + static_cast<int64_t>(std::lround(f * static_cast<double>(right - left)));
  };
  auto py = [&](double y) {
    return bottom - static_cast<int64_t>(
                        std::lround((y - ylo) / (yhi - ylo) * static_cast<double>(bottom - top)));
  };

  // Grid, ticks and tick labels.
  for (double y = ylo; y <= yhi + ystep * 1e-6; y += ystep) {
    const int64_t yy = py(y);
    cv.Line(left + 1, yy, right, yy, grid);
    cv.Line(left - 4, yy, left, yy, black);
    const std::string lab = TickLabel(y, ystep);
    cv.Text(left - 8 - Canvas::TextWidth(lab), yy - 3, lab, black);
  }
  const double xstep =
      std::max(1.0, NiceStep(std::max<double>(1.0, static_cast<double>(npoints) - 1.0), 8));
  for (double x = 1; x <= static_cast<double>(npoints) + 1e-9; x += xstep) {
    const int64_t xx = px(x);
    cv.Line(xx, top, xx, bottom - 1, grid);
    cv.Line(xx, bottom, xx, bottom + 4, black);
    const std::string lab = TickLabel(x, 1.0);
    cv.Text(xx - Canvas::TextWidth(lab) / 2, bottom + 8, lab, black);
  }
  cv.Line(left, top, left, bottom, black);
  cv.Line(left, bottom, right, bottom, black);

  // Series: polylines with small square markers.
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Rgb c = SeriesColor(i);
    const auto& ys = plot.series[i].ys;
    for (size_t j = 0; j < ys.size(); ++j) {
      if (!std::isfinite(ys[j])) continue;
      const int64_t x = px(static_cast<double>(j + 1)), y = py(ys[j]);
      cv.Rect(x - 2, y - 2, x + 2, y + 2, c);
      if (j + 1 < ys.size() && std::isfinite(ys[j + 1])) {
        cv.Line(x, y, px(static_cast<double>(j + 2)), py(ys[j + 1]), c, 2);
      }
    }
  }

  // Title, axis labels, legend.
  cv.Text((plot.width - Canvas::TextWidth(plot.title, 2)) / 2, 8, plot.title, black, 2);
  cv.Text((left + right - Canvas::TextWidth(plot.x_label)) / 2, bottom + 24, plot.x_label, black);
  cv.Text(8, top - 14, plot.y_label, black);
  int64_t ly = top + 4;
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Rgb c = SeriesColor(i);
    cv.Rect(right + 16, ly + 2, right + 30, ly + 4, c);
    cv.Text(right + 36, ly, plot.series[i].name, black);
    ly += 14;
  }
  return cv.ToTensor();
}

EvalProtocol ProtocolOf(const EvalOptions& options, int64_t sequences, const std::string& dataset,
                        uint64_t dataset_seed) {
  EvalProtocol p;
  p.dataset = dataset;
  p.dataset_seed = dataset_seed;
  p.context = options.context;
  p.horizon = options.horizon;
  p.samples = options.samples;
  p.sequences = sequences;
  p.selection =
      "best-of-N per metric and sequence by the mean over predicted frames (max PSNR, max SSIM, "
      "min LPIPS); mean over sequences, std over sequences (population), ci95 = 1.96 std / "
      "sqrt(n); FVD: mean over draws of one random sample per sequence, context included";
  p.fvd_draws = options.fvd_draws;
  p.fvd_frames = options.fvd_frames;
  p.eval_seed = options.seed;
  p.i3d_path = options.i3d_path;
  p.lpips_path = options.lpips_path;
  return p;
}

std::string FormatTable(const EvalReport& report) {
  std::vector<std::vector<std::string>> rows{{"method", "PSNR", "SSIM", "LPIPS", "FVD"}};
  for (const auto& m : report.methods) {
    rows.push_back(
        {m.name, MeanStd(m.psnr, 2), MeanStd(m.ssim, 4), MeanStd(m.lpips, 4),
         m.fvd.available ? Fixed(m.fvd.mean, 1) + " \u00b1 " + Fixed(m.fvd.std, 1) : "n/a"});
  }
  std::vector<size_t> w(5, 0);
  for (const auto& r : rows)
    for (size_t j = 0; j < r.size(); ++j) w[j] = std::max(w[j], Width(r[j]));
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      out += (j ? " | " : "") + Pad(rows[i][j], w[j]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
    if (i == 0) {
      for (size_t j = 0; j < w.size(); ++j) out += (j ? "-+-" : "") + std::string(w[j], '-');
      out += "\n";
    }
  }
  const EvalProtocol& p = report.protocol;
  out += "(" + std::to_string(p.sequences) + " sequences, " + std::to_string(p.context) +
         " context + " + std::to_string(p.horizon) + " predicted frames, best of " +
         std::to_string(p.samples) + "; \u00b1 is the std over sequences, FVD over " +
         std::to_string(p.fvd_draws) + " draws)\n";
  for (const auto& e : report.elbos) out += FormatElbo(e) + "\n";
  return out;
}

std::string CurvesCsv(const EvalReport& report) {
  std::string out = "frame,method,psnr,ssim,lpips\n";
  auto field = [](const MetricSummary& m, size_t t) {
    return m.available && t < m.per_frame.size() ? JsonNumber(m.per_frame[t]) : std::string();
  };
  for (const auto& m : report.methods) {
    std::string name = m.name;
    if (name.find_first_of(",\"\n") != std::string::npos) {
      std::string q = "\"";
      for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      name = q + "\"";
    }
    for (int64_t t = 0; t < m.horizon; ++t) {
      out += std::to_string(t + 1) + "," + name + "," + field(m.psnr, t) + "," + field(m.ssim, t) +
             "," + field(m.lpips, t) + "\n";
    }
  }
  return out;
}

std::string ReportJson(const EvalReport& report) {
  const EvalProtocol& p = report.protocol;
  std::string s = "{\n  \"protocol\": {\n";
  s += "    \"dataset\": " + JsonString(p.dataset) + ",\n";
  s += "    \"dataset_seed\": " + std::to_string(p.dataset_seed) + ",\n";
  s += "    \"context\": " + std::to_string(p.context) + ",\n";
  s += "    \"horizon\": " + std::to_string(p.horizon) + ",\n";
  s += "    \"samples\": " + std::to_string(p.samples) + ",\n";
  s += "    \"sequences\": " + std::to_string(p.sequences) + ",\n";
  s += "    \"selection\": " + JsonString(p.selection) + ",\n";
  s += "    \"psnr_cap_db\": 100,\n";
  s += "    \"ssim\": \"11x11 gaussian sigma 1.5, valid, k1 0.01, k2 0.03, range 1, channel "
       "mean\",\n";
  s += "    \"fvd_draws\": " + std::to_string(p.fvd_draws) + ",\n";
  s += "    \"fvd_frames\": " + std::to_string(p.fvd_frames) + ",\n";
  s += "    \"eval_seed\": " + std::to_string(p.eval_seed) + ",\n";
  s += "    \"i3d_torchscript\": " + JsonString(p.i3d_path) + ",\n";
  s += "    \"lpips_torchscript\": " + JsonString(p.lpips_path) + "\n  },\n";
  s += "  \"methods\": [";
  for (size_t i = 0; i < report.methods.size(); ++i) {
    const MethodResult& m = report.methods[i];
    s += i ? ",\n    {\n" : "\n    {\n";
    s += "      \"name\": " + JsonString(m.name) + ",\n";
    s += "      \"sequences\": " + std::to_string(m.sequences) + ",\n";
    s += "      \"samples\": " + std::to_string(m.samples) + ",\n";
    s += "      \"horizon\": " + std::to_string(m.horizon) + ",\n";
    s += "      \"psnr\": " + MetricJson(m.psnr, "      ") + ",\n";
    s += "      \"ssim\": " + MetricJson(m.ssim, "      ") + ",\n";
    s += "      \"lpips\": " + MetricJson(m.lpips, "      ") + ",\n";
    s += "      \"fvd\": {\n        \"available\": " +
         std::string(m.fvd.available ? "true" : "false") +
         ",\n        \"note\": " + JsonString(m.fvd.note);
    if (m.fvd.available) {
      s += ",\n        \"mean\": " + JsonNumber(m.fvd.mean) +
           ",\n        \"std\": " + JsonNumber(m.fvd.std) +
           ",\n        \"draws\": " + JsonArray(m.fvd.draws) +
           ",\n        \"clips\": " + std::to_string(m.fvd.clips) +
           ",\n        \"frames\": " + std::to_string(m.fvd.frames) +
           ",\n        \"feature_dim\": " + std::to_string(m.fvd.feature_dim);
    }
    s += "\n      }\n    }";
  }
  s += report.methods.empty() ? "]" : "\n  ]";
  s += ",\n  \"elbo\": [";
  for (size_t i = 0; i < report.elbos.size(); ++i) {
    const ElboResult& e = report.elbos[i];
    s += i ? ",\n    {" : "\n    {";
    s += "\"method\": " + JsonString(e.method) + ", \"sequences\": " + std::to_string(e.sequences) +
         ", \"horizon\": " + std::to_string(e.horizon) +
         ", \"dims_per_video\": " + std::to_string(e.dims_per_video) +
         ", \"nll_nats\": " + JsonNumber(e.nll) + ", \"kl_nats\": " + JsonNumber(e.kl) +
         ", \"neg_elbo_nats\": " + JsonNumber(e.neg_elbo) +
         ", \"neg_elbo_std\": " + JsonNumber(e.neg_elbo_std) +
         ", \"bits_per_dim\": " + JsonNumber(e.bits_per_dim) + ", \"note\": " + JsonString(e.note) +
         "}";
  }
  s += report.elbos.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return s;
}

Status WriteReport(const EvalReport& report, const std::string& dir) {
  FC_RETURN_IF_ERROR(MakeDirs(dir));
  FC_RETURN_IF_ERROR(WriteFileAtomic(dir + "/report.json", ReportJson(report)));
  FC_RETURN_IF_ERROR(WriteFileAtomic(dir + "/curves.csv", CurvesCsv(report)));
  FC_RETURN_IF_ERROR(WriteFileAtomic(dir + "/table.txt", FormatTable(report)));
  const char* names[] = {"psnr", "ssim", "lpips"};
  for (int k = 0; k < 3; ++k) {
    LinePlot plot;
    plot.x_label = "predicted frame";
    plot.y_label = names[k];
    plot.title = std::string(names[k]) + " per frame (best of " +
                 std::to_string(report.protocol.samples) + ")";
    for (const auto& m : report.methods) {
      const MetricSummary& s = k == 0 ? m.psnr : k == 1 ? m.ssim : m.lpips;
      if (s.available) plot.series.push_back({m.name, s.per_frame});
    }
    if (plot.series.empty()) continue;
    FC_RETURN_IF_ERROR(media::WritePng(dir + "/curves_" + names[k] + ".png", RenderLinePlot(plot)));
  }
  return Status::Ok();
}

std::string FormatGenerationTable(const GenerationReport& r) {
  std::vector<std::vector<std::string>> rows{{"method", "IS", "FID", "class acc.", "FVD"}};
  for (const auto& m : r.rows) {
    rows.push_back({m.name, Fixed(m.inception.mean, 2) + " \u00b1 " + Fixed(m.inception.std, 2),
                    m.fid_available ? Fixed(m.fid, 2) : "n/a",
                    m.accuracy_available ? Fixed(100 * m.accuracy, 1) + "%" : "n/a",
                    m.fvd_available ? Fixed(m.fvd, 1) : "n/a"});
  }
  std::vector<size_t> w(5, 0);
  for (const auto& row : rows)
    for (size_t j = 0; j < row.size(); ++j) w[j] = std::max(w[j], Width(row[j]));
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) out += (j ? " | " : "") + Pad(rows[i][j], w[j]);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
    if (i == 0) {
      for (size_t j = 0; j < w.size(); ++j) out += (j ? "-+-" : "") + std::string(w[j], '-');
      out += "\n";
    }
  }
  const int64_t clips = r.rows.empty() ? 0 : r.rows.front().clips;
  out += "(" + std::to_string(clips) + " clips per row, " + r.levels + "; IS, FID and class " +
         "accuracy on every frame by " + r.classifier +
         (r.classifier_note.empty() ? "" : " (" + r.classifier_note + ")") + ", IS over " +
         std::to_string(r.splits) + " split(s); FID and FVD against the real clips; FVD: " +
         (r.i3d_path.empty() ? "no I3D TorchScript (eval.i3d_torchscript)" : "I3D " + r.i3d_path) +
         ")\n";
  return out;
}

std::string GenerationReportJson(const GenerationReport& r) {
  std::string s = "{\n  \"protocol\": {\n";
  s += "    \"dataset\": " + JsonString(r.dataset) + ",\n";
  s += "    \"levels\": " + JsonString(r.levels) + ",\n";
  s += "    \"classes\": " + std::to_string(r.classes) + ",\n";
  s += "    \"seed\": " + std::to_string(r.seed) + ",\n";
  s += "    \"inception_splits\": " + std::to_string(r.splits) + ",\n";
  s += "    \"classifier_torchscript\": " + JsonString(r.classifier) + ",\n";
  s += "    \"classifier_note\": " + JsonString(r.classifier_note) + ",\n";
  s += "    \"i3d_torchscript\": " + JsonString(r.i3d_path) + "\n  },\n  \"methods\": [";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const GenerationRow& m = r.rows[i];
    auto opt = [](bool ok, double v) { return ok ? JsonNumber(v) : std::string("null"); };
    s += i ? ",\n    {" : "\n    {";
    s += "\"name\": " + JsonString(m.name) + ", \"clips\": " + std::to_string(m.clips) +
         ", \"frames\": " + std::to_string(m.frames) +
         ", \"inception_score\": " + JsonNumber(m.inception.mean) +
         ", \"inception_score_std\": " + JsonNumber(m.inception.std) +
         ", \"fid\": " + opt(m.fid_available, m.fid) +
         ", \"class_accuracy\": " + opt(m.accuracy_available, m.accuracy) +
         ", \"fvd\": " + opt(m.fvd_available, m.fvd) + "}";
  }
  s += r.rows.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return s;
}

Status WriteGenerationReport(const GenerationReport& report, const std::string& dir) {
  FC_RETURN_IF_ERROR(MakeDirs(dir));
  FC_RETURN_IF_ERROR(WriteFileAtomic(dir + "/report.json", GenerationReportJson(report)));
  return WriteFileAtomic(dir + "/table.txt", FormatGenerationTable(report));
}

}  // namespace fc::eval
