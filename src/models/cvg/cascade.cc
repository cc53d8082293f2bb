#include "models/cvg/cascade.h"

#include "data/rng.h"
#include "models/cvg/pyramid.h"
#include "models/cvg/upscale_generator.h"

namespace fc::models::cvg {
namespace {

at::Generator CpuGenerator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

void SetRequiresGrad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}

}  // namespace

Cascade::Cascade(const framecast::CvgConfig& config, at::TensorOptions like, uint64_t seed,
                 bool keyed)
    : config_(config), like_(like), seed_(seed), keyed_(keyed) {}

void Cascade::AddLevel(CvgLevel level) {
  levels_.push_back(std::move(level));
  unrolled_.push_back(nullptr);
  frozen_.push_back(false);
}

at::Tensor Cascade::ToDevice(const at::Tensor& t) const {
  return t.defined() ? t.to(like_.device(), /*non_blocking=*/true) : t;
}

void Cascade::Freeze(int n) {
  for (int j = 0; j < n && j < num_levels(); ++j) {
    if (frozen_[j]) continue;
    FreezeGenerator(*levels_[j].generator);
    levels_[j].discriminators->eval();
    SetRequiresGrad(*levels_[j].discriminators, false);
    // No gradient memory is kept for a frozen level.
    for (auto& p : levels_[j].generator->parameters()) p.mutable_grad() = at::Tensor();
    for (auto& p : levels_[j].discriminators->parameters()) p.mutable_grad() = at::Tensor();
    frozen_[j] = true;
  }
}

std::shared_ptr<CvgGenerator> Cascade::MakeUnrolled(int level) const {
  auto u = std::make_shared<UpscaleGenerator>(config_, level, Geometry(config_, level).frames);
  u->to(like_.device(), like_.dtype().toScalarType());
  torch::NoGradGuard ng;
  auto& from = *levels_[level].generator;
  auto fp = from.named_parameters();
  for (auto& item : u->named_parameters()) item.value().copy_(fp[item.key()]);
  auto fb = from.named_buffers();
  for (auto& item : u->named_buffers()) {
    const at::Tensor* src = fb.find(item.key());
    if (src != nullptr && src->sizes() == item.value().sizes()) item.value().copy_(*src);
  }
  return u;
}

CvgGenerator& Cascade::inference_generator(int level) {
  return unrolled_[level] ? *unrolled_[level] : *levels_[level].generator;
}

CascadeDraws Cascade::Draw(int level, int64_t batch, int phase, int64_t first_sample,
                           int64_t global_step) const {
  const LevelGeometry geo = Geometry(config_, level);
  auto draw = [&](int64_t b, at::Generator gen) {
    CascadeDraws d;
    if (config_.num_classes() > 0)
      d.labels = at::randint(config_.num_classes(), {b}, gen, at::kLong);
    // Frozen level j > 0 runs at its training length on a window of level j-1's output.
    int64_t prev_frames = 0;
    for (int j = 0; j <= level; ++j) {
      const LevelGeometry gj = Geometry(config_, j);
      d.z.push_back(at::randn({b, levels_[j].generator->z_dim()}, gen, at::kFloat));
      at::Tensor s;
      if (j > 0 && gj.input_frames < prev_frames)
        s = RandomWindowStarts(b, prev_frames, gj.input_frames, gen);
      d.starts.push_back(s);
      prev_frames = gj.train_frames;
    }
    if (geo.train_frames < geo.frames)
      d.real_start = RandomWindowStarts(b, geo.frames, geo.train_frames, gen);
    d.real_frames = SampleFrames(b, geo.train_frames, geo.spatial_frames, gen);
    d.fake_frames = SampleFrames(b, geo.train_frames, geo.spatial_frames, gen);
    return d;
  };
  if (!keyed_) return draw(batch, at::detail::getDefaultCPUGenerator());
  // Keyed: per global sample position, concatenated.
  std::vector<CascadeDraws> per;
  for (int64_t i = 0; i < batch; ++i) {
    const uint64_t key =
        data::Mix64(seed_ ^ data::Mix64(static_cast<uint64_t>(global_step) * 1000003ULL +
                                        static_cast<uint64_t>(first_sample + i) * 131ULL +
                                        phase * 7919ULL + level));
    per.push_back(draw(1, CpuGenerator(key)));
  }
  auto cat = [&](auto get) {
    std::vector<at::Tensor> parts;
    for (auto& p : per) parts.push_back(get(p));
    return parts.front().defined() ? at::cat(parts) : at::Tensor();
  };
  CascadeDraws d;
  d.labels = cat([](CascadeDraws& p) { return p.labels; });
  for (int j = 0; j <= level; ++j) {
    d.z.push_back(cat([j](CascadeDraws& p) { return p.z[j]; }));
    d.starts.push_back(cat([j](CascadeDraws& p) { return p.starts[j]; }));
  }
  d.real_start = cat([](CascadeDraws& p) { return p.real_start; });
  d.real_frames = cat([](CascadeDraws& p) { return p.real_frames; });
  d.fake_frames = cat([](CascadeDraws& p) { return p.fake_frames; });
  return d;
}

at::Tensor Cascade::Fake(int level, const CascadeDraws& d, at::Tensor* low_res) const {
  at::Tensor y = ToDevice(d.labels);
  at::Tensor x;
  {
    torch::NoGradGuard ng;
    for (int j = 0; j < level; ++j) {
      if (d.starts[j].defined())
        x = CropWindows(x, ToDevice(d.starts[j]), Geometry(config_, j).input_frames);
      // Each level's output in the cascade's dtype (bf16 under autocast): resampling and the
      // discriminators' inputs stay in full precision.
      x = levels_[j]
              .generator->Generate(d.z[j].to(like_, /*non_blocking=*/true), y, x)
              .to(like_.dtype());
    }
    if (level > 0 && d.starts[level].defined())
      x = CropWindows(x, ToDevice(d.starts[level]), Geometry(config_, level).input_frames);
  }
  if (low_res != nullptr) *low_res = x;
  return levels_[level]
      .generator->Generate(d.z[level].to(like_, /*non_blocking=*/true), y, x)
      .to(like_.dtype());
}

at::Tensor Cascade::RealView(int level, const at::Tensor& frames01, const CascadeDraws& d,
                             at::Tensor* low_res) const {
  const LevelGeometry geo = Geometry(config_, level);
  const int64_t last_skip = config_.levels(config_.levels_size() - 1).frame_skip();
  at::Tensor x = PyramidDown(ToModelRange(frames01), config_.levels(level).frame_skip() / last_skip,
                             geo.resolution);
  if (d.real_start.defined()) x = CropWindows(x, ToDevice(d.real_start), geo.train_frames);
  if (level > 0 && low_res != nullptr)
    *low_res = PyramidDown(x, geo.temporal_upsample, geo.input_resolution);
  return x;
}

std::vector<at::Tensor> Cascade::Sample(int levels, const at::Tensor& labels, int64_t batch,
                                        at::Generator gen) {
  std::vector<at::Tensor> out;
  torch::NoGradGuard ng;
  at::Tensor y = labels.defined() ? labels.to(like_.device()) : at::Tensor();
  at::Tensor x;
  for (int j = 0; j < levels; ++j) {
    CvgGenerator& g = frozen_[j] ? inference_generator(j) : *levels_[j].generator;
    const bool training = g.is_training();
    g.eval();
    if (j > 0) {
      const int64_t window = g.frames() / Geometry(config_, j).temporal_upsample;
      if (window < x.size(1))
        x = CropWindows(x, RandomWindowStarts(batch, x.size(1), window, gen).to(like_.device()),
                        window);
    }
    x = g.Generate(at::randn({batch, g.z_dim()}, gen, at::kFloat).to(like_), y, x);
    g.train(training);
    out.push_back(x);
  }
  return out;
}

}  // namespace fc::models::cvg
