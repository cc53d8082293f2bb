#include "log/console.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace fc::log {

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long t = std::llround(seconds);
  const long long d = t / 86400, h = (t / 3600) % 24, m = (t / 60) % 60, s = t % 60;
  char buf[48];
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%lldd %02lld:%02lld:%02lld", d, h, m, s);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", h, m, s);
  }
  return buf;
}

namespace {

std::string Timing(const StepStats& s) {
  std::string out;
  char buf[96];
  if (s.ms_per_step > 0) {
    std::snprintf(buf, sizeof(buf), " %.1f ms/step", s.ms_per_step);
    out += buf;
  }
  if (s.clips_per_s > 0) {
    std::snprintf(buf, sizeof(buf), " %.4g clips/s", s.clips_per_s);
    out += buf;
  }
  if (s.eta_seconds >= 0) out += " ETA " + FormatDuration(s.eta_seconds);
  return out;
}

}  // namespace

std::string FormatStepLine(const StepStats& s) {
  char buf[200];
  std::snprintf(buf, sizeof(buf), "stage %s step %lld/%lld (global %lld)", s.stage.c_str(),
                static_cast<long long>(s.step), static_cast<long long>(s.steps),
                static_cast<long long>(s.global_step));
  std::string line = buf;
  for (const auto& [name, value] : s.scalars) {
    std::snprintf(buf, sizeof(buf), " %s %.6g", name.c_str(), value);
    line += buf;
  }
  const std::string timing = Timing(s);
  if (!timing.empty()) line += " |" + timing;
  return line;
}

std::string FormatProgressBar(const StepStats& s, int width) {
  const double frac =
      s.steps > 0 ? std::min(1.0, std::max(0.0, static_cast<double>(s.step) / s.steps)) : 0.0;
  const int filled = static_cast<int>(std::floor(frac * width));
  std::string bar =
      s.stage + " [" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
  char buf[96];
  std::snprintf(buf, sizeof(buf), " %lld/%lld %3d%%", static_cast<long long>(s.step),
                static_cast<long long>(s.steps), static_cast<int>(std::floor(frac * 100)));
  return bar + buf + Timing(s);
}

}  // namespace fc::log
