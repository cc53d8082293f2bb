#include "data/moving_mnist.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>

namespace fc::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's Resample.c
constexpr double kSrvpEps = 1e-8;           // srvp data/mmnist.py MovingMNIST.eps

struct Coeffs {
  std::vector<int> xmin, count;
  std::vector<int32_t> k;  // [out, ksize]
  int ksize = 0;
};

double TriangleFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1).
Coeffs PilCoeffs(int in_size, int out_size) {
  Coeffs c;
  double scale = static_cast<double>(in_size) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale;
    double ss = 1.0 / filterscale, ww = 0.0;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      w[x] = TriangleFilter((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      double k = ww != 0.0 ? w[x] / ww : w[x];
      c.k[static_cast<size_t>(xx) * c.ksize + x] =
          k < 0 ? static_cast<int32_t>(-0.5 + k * (1 << kPrecisionBits))
                : static_cast<int32_t>(0.5 + k * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t Clip8(int64_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

at::Tensor ResizeBilinearPil(const at::Tensor& src_in, int64_t out_h, int64_t out_w) {
  at::Tensor src = src_in.contiguous();
  const int in_h = static_cast<int>(src.size(0)), in_w = static_cast<int>(src.size(1));
  const uint8_t* in = src.data_ptr<uint8_t>();
  // Horizontal pass over every input row (PIL restricts to the rows the vertical pass uses; the
  // values of those rows are the same).
  at::Tensor tmp = at::empty({in_h, out_w}, at::kByte);
  uint8_t* t = tmp.data_ptr<uint8_t>();
  if (out_w != in_w) {
    Coeffs ch = PilCoeffs(in_w, static_cast<int>(out_w));
    for (int y = 0; y < in_h; ++y) {
      for (int xx = 0; xx < out_w; ++xx) {
        int64_t ss = int64_t(1) << (kPrecisionBits - 1);
        const int32_t* k = &ch.k[static_cast<size_t>(xx) * ch.ksize];
        for (int x = 0; x < ch.count[xx]; ++x) ss += in[y * in_w + x + ch.xmin[xx]] * k[x];
        t[y * out_w + xx] = Clip8(ss);
      }
    }
  } else {
    std::memcpy(t, in, static_cast<size_t>(in_h) * in_w);
  }
  if (out_h == in_h) return tmp;
  at::Tensor out = at::empty({out_h, out_w}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  Coeffs cv = PilCoeffs(in_h, static_cast<int>(out_h));
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &cv.k[static_cast<size_t>(yy) * cv.ksize];
    for (int xx = 0; xx < out_w; ++xx) {
      int64_t ss = int64_t(1) << (kPrecisionBits - 1);
      for (int y = 0; y < cv.count[yy]; ++y) ss += t[(y + cv.xmin[yy]) * out_w + xx] * k[y];
      o[yy * out_w + xx] = Clip8(ss);
    }
  }
  return out;
}

Result<MovingMnist> MovingMnist::Create(at::Tensor digits, at::Tensor labels,
                                        const MovingMnistOptions& o) {
  const std::string f = "data.moving_mnist.";
  if (!digits.defined() || digits.dim() != 3 || digits.scalar_type() != at::kByte ||
      digits.size(0) == 0) {
    return Status::InvalidArgument(f + "train_digits: need uint8 glyphs [N, H, W], N >= 1");
  }
  if (o.num_digits < 1) return Status::InvalidArgument(f + "num_digits: must be >= 1");
  if (o.max_speed < 0) return Status::InvalidArgument(f + "max_speed: must be >= 0");
  if (o.digit_size < 1) return Status::InvalidArgument(f + "digit_size: must be >= 1");
  const bool srvp = o.convention == framecast::MovingMnistData::SRVP;
  if (srvp && (o.digit_size != digits.size(1) || o.digit_size != digits.size(2))) {
    return Status::InvalidArgument(
        f + "digit_size=" + std::to_string(o.digit_size) + ": the SRVP convention draws native " +
        std::to_string(digits.size(1)) + "x" + std::to_string(digits.size(2)) + " glyphs");
  }
  // SVG keeps the top-left corner in [0, image_size - digit_size - 1]; SRVP in [0, L].
  const int room = o.image_size - o.digit_size;
  if (room < (srvp ? 0 : 1)) {
    return Status::InvalidArgument(f + "image_size=" + std::to_string(o.image_size) +
                                   ": too small for digit_size " + std::to_string(o.digit_size));
  }
  if (labels.defined() && (labels.dim() != 1 || labels.size(0) != digits.size(0))) {
    return Status::InvalidArgument(f + "train_labels: " + std::to_string(labels.numel()) +
                                   " labels for " + std::to_string(digits.size(0)) + " digits");
  }
  MovingMnist m;
  m.digits_ = digits.contiguous();
  if (labels.defined()) m.labels_ = labels.to(at::kLong).contiguous();
  m.options_ = o;
  return m;
}

at::Tensor MovingMnist::Sprite(int64_t i) const {
  at::Tensor g = digits_[i];
  if (g.size(0) == options_.digit_size && g.size(1) == options_.digit_size) return g;
  return ResizeBilinearPil(g, options_.digit_size, options_.digit_size);
}

void MovingMnist::TrackSvg(CounterRng& rng, int64_t length, DigitTrack* d) const {
  const int m = options_.max_speed;
  const int lim = options_.image_size - options_.digit_size;  // SVG: image_size - 32
  const bool det = options_.convention == framecast::MovingMnistData::DETERMINISTIC;
  int sx = static_cast<int>(rng.UniformInt(0, lim - 1));
  int sy = static_cast<int>(rng.UniformInt(0, lim - 1));
  int dx = static_cast<int>(rng.UniformInt(-m, m));
  int dy = static_cast<int>(rng.UniformInt(-m, m));
  for (int64_t t = 0; t < length; ++t) {
    bool bounced = false;
    if (sy < 0) {
      sy = 0;
      bounced = true;
      if (det) {
        dy = -dy;
      } else {
        dy = static_cast<int>(rng.UniformInt(1, std::max(1, m)));
        dx = static_cast<int>(rng.UniformInt(-m, m));
      }
    } else if (sy >= lim) {
      sy = lim - 1;
      bounced = true;
      if (det) {
        dy = -dy;
      } else {
        dy = static_cast<int>(rng.UniformInt(-std::max(1, m), -1));
        dx = static_cast<int>(rng.UniformInt(-m, m));
      }
    }
    if (sx < 0) {
      sx = 0;
      bounced = true;
      if (det) {
        dx = -dx;
      } else {
        dx = static_cast<int>(rng.UniformInt(1, std::max(1, m)));
        dy = static_cast<int>(rng.UniformInt(-m, m));
      }
    } else if (sx >= lim) {
      sx = lim - 1;
      bounced = true;
      if (det) {
        dx = -dx;
      } else {
        dx = static_cast<int>(rng.UniformInt(-std::max(1, m), -1));
        dy = static_cast<int>(rng.UniformInt(-m, m));
      }
    }
    d->x.push_back(sx);
    d->y.push_back(sy);
    d->fx.push_back(sx);
    d->fy.push_back(sy);
    d->dx.push_back(dx);
    d->dy.push_back(dy);
    d->bounced.push_back(bounced);
    sy += dy;
    sx += dx;
  }
}

void MovingMnist::TrackSrvp(CounterRng& rng, int64_t length, DigitTrack* d) const {
  const int m = options_.max_speed;
  const double x_min = 0, y_min = 0;
  const double x_max = options_.image_size - options_.digit_size, y_max = x_max;
  const double eps = kSrvpEps;
  double sx = static_cast<double>(rng.UniformInt(0, static_cast<int64_t>(x_max)));
  double sy = static_cast<double>(rng.UniformInt(0, static_cast<int64_t>(y_max)));
  int dx = static_cast<int>(rng.UniformInt(-m, m));
  int dy = static_cast<int>(rng.UniformInt(-m, m));
  for (int64_t t = 0; t < length; ++t) {
    // srvp MovingMNIST._process_collision, line by line.
    bool left = sx < x_min - eps, upper = sy < y_min - eps;
    bool right = sx > x_max + eps, bottom = sy > y_max + eps;
    const bool bounced = left || upper || right || bottom;
    for (int guard = 0; (left || right || upper || bottom) && guard < 64; ++guard) {
      double cx = sx, cy = sy;
      bool found = false;
      if (dx == 0) {
        cx = sx;
        cy = upper ? y_min : y_max;
        found = true;
      } else if (dy == 0) {
        cx = left ? x_min : x_max;
        cy = sy;
        found = true;
      } else {
        const double a = static_cast<double>(dy) / dx, b = sy - a * sx;
        if (left) {
          double yi = a * x_min + b;
          left = yi >= y_min - eps && yi <= y_max + eps;
          if (left) cx = x_min, cy = yi, found = true;
        }
        if (right) {
          double yi = a * x_max + b;
          right = yi >= y_min - eps && yi <= y_max + eps;
          if (right) cx = x_max, cy = yi, found = true;
        }
        if (upper) {
          double xi = (y_min - b) / a;
          upper = xi >= x_min - eps && xi <= x_max + eps;
          if (upper) cx = xi, cy = y_min, found = true;
        }
        if (bottom) {
          double xi = (y_max - b) / a;
          bottom = xi >= x_min - eps && xi <= x_max + eps;
          if (bottom) cx = xi, cy = y_max, found = true;
        }
      }
      if (!found) break;  // unreachable for in-range starts; the clamp below keeps it in frame
      const double p = dx != 0 ? (sx - cx) / dx : (sy - cy) / dy;
      if (options_.convention != framecast::MovingMnistData::DETERMINISTIC) {
        dx = static_cast<int>(rng.UniformInt(-m, m));
        dy = static_cast<int>(rng.UniformInt(-m, m));
      }
      if (left) dx = std::abs(dx);
      if (right) dx = -std::abs(dx);
      if (upper) dy = std::abs(dy);
      if (bottom) dy = -std::abs(dy);
      sx = cx + dx * p;
      sy = cy + dy * p;
      left = sx < x_min - eps;
      upper = sy < y_min - eps;
      right = sx > x_max + eps;
      bottom = sy > y_max + eps;
    }
    if (sx < x_min - eps || sx > x_max + eps || sy < y_min - eps || sy > y_max + eps) {
      sx = std::min(std::max(sx, x_min), x_max);  // only after a degenerate corner case
      sy = std::min(std::max(sy, y_min), y_max);
    }
    d->x.push_back(static_cast<int>(std::nearbyint(sx)));  // Python round(): half to even
    d->y.push_back(static_cast<int>(std::nearbyint(sy)));
    d->fx.push_back(sx);
    d->fy.push_back(sy);
    d->dx.push_back(dx);
    d->dy.push_back(dy);
    d->bounced.push_back(bounced);
    sx += dx;
    sy += dy;
  }
}

at::Tensor MovingMnist::Generate(uint64_t seed, int64_t index, int64_t length,
                                 std::vector<DigitTrack>* trajectory) const {
  const int s = options_.image_size, ds = options_.digit_size;
  const bool srvp = options_.convention == framecast::MovingMnistData::SRVP;
  const uint64_t clip_key = HashCombine(seed, static_cast<uint64_t>(index));
  std::vector<uint16_t> canvas(static_cast<size_t>(length) * s * s, 0);
  std::vector<DigitTrack> tracks(options_.num_digits);
  for (int n = 0; n < options_.num_digits; ++n) {
    DigitTrack& d = tracks[n];
    CounterRng rng(HashCombine(clip_key, static_cast<uint64_t>(n)));  // one stream per slot
    d.digit = rng.UniformInt(0, digits_.size(0) - 1);
    d.label = labels_.defined() ? labels_.data_ptr<int64_t>()[d.digit] : -1;
    if (srvp) {
      TrackSrvp(rng, length, &d);
    } else {
      TrackSvg(rng, length, &d);
    }
    at::Tensor sprite = Sprite(d.digit).contiguous();
    const uint8_t* sp = sprite.data_ptr<uint8_t>();
    for (int64_t t = 0; t < length; ++t) {
      uint16_t* frame = canvas.data() + static_cast<size_t>(t) * s * s;
      const int x0 = d.x[t], y0 = d.y[t];
      for (int r = 0; r < ds; ++r) {
        const int y = y0 + r;
        if (y < 0 || y >= s) continue;
        for (int c = 0; c < ds; ++c) {
          const int x = x0 + c;
          if (x < 0 || x >= s) continue;
          frame[y * s + x] += sp[r * ds + c];
        }
      }
    }
  }
  at::Tensor out = at::empty({length, 1, s, s}, at::kByte);
  uint8_t* o = out.data_ptr<uint8_t>();
  for (size_t i = 0; i < canvas.size(); ++i) o[i] = canvas[i] > 255 ? 255 : canvas[i];
  if (trajectory != nullptr) *trajectory = std::move(tracks);
  return out;
}

}  // namespace fc::data
