#include "models/cvg/upscale_generator.h"

#include <map>

#include "models/cvg/config.h"

namespace fc::models::cvg {

namespace {
int64_t TrainFrames(const framecast::CvgConfig& config, int level) {
  return Geometry(config, level).train_frames;
}
}  // namespace

UpscaleGenerator::UpscaleGenerator(const framecast::CvgConfig& config, int level, int64_t frames)
    : CvgGenerator(config, level, frames > 0 ? frames : TrainFrames(config, level)) {
  TORCH_CHECK(level > 0, "UpscaleGenerator: level must be > 0 (level 1 is Level1Generator)");
  const auto& lv = config.levels(level);
  const auto& g = lv.generator();
  const int64_t base = g.base_channels();
  const auto up = GeneratorUpsample(config, level);
  temporal_upsample_ = lv.temporal_upsample();
  input_resolution_ = config.levels(level - 1).resolution();
  image_channels_ = config.image_channels();
  stem_channels_ = base * g.channel_multipliers(0);
  stem_resolution_ = g.stem_resolution();
  stem = register_module(
      "stem", nn::SNLinear(nn::SNLinearOptions(cond_dim_,
                                               stem_channels_ * stem_resolution_ * stem_resolution_)
                               .sn(sn_)));
  auto opts = [&](int64_t in, int64_t out, bool upsample) {
    return nn::GeneratorBlockOptions(in, out, cond_dim_, frames_)
        .upsample_space(upsample)
        .bn_eps(config.bn_eps())
        .bn_momentum(config.bn_momentum())
        .sn(sn_);
  };
  auto add_inject = [&](const std::string& name, int64_t width, int64_t res) {
    block_resolution_.push_back(res);
    if (res <= input_resolution_) {
      inject.push_back(register_module(
          name, nn::SNConv2d(nn::SNConv2dOptions(image_channels_, width, 1).sn(sn_))));
    } else {
      inject.push_back(nn::SNConv2d(nullptr));
    }
  };
  int64_t c_prev = stem_channels_, res = stem_resolution_;
  for (int k = 0; k < g.channel_multipliers_size(); ++k) {
    const int64_t c = base * g.channel_multipliers(k);
    const std::string u = "unit" + std::to_string(k);
    blocks.push_back(register_module(
        u + "_block3d",
        nn::GeneratorBlock(
            opts(c_prev, c_prev, false).conv(nn::GeneratorBlockOptions::Conv::kSeparable3d))));
    add_inject(u + "_inject3d", c_prev, res);
    if (up[k]) res *= 2;
    blocks.push_back(register_module(u + "_block0", nn::GeneratorBlock(opts(c_prev, c, up[k]))));
    add_inject(u + "_inject0", c, res);
    blocks.push_back(register_module(u + "_block1", nn::GeneratorBlock(opts(c, c, false))));
    add_inject(u + "_inject1", c, res);
    c_prev = c;
  }
  head_bn = register_module("head_bn", dist::SyncBatchNorm(dist::SyncBatchNormOptions(c_prev)
                                                               .eps(config.bn_eps())
                                                               .momentum(config.bn_momentum())
                                                               .time_steps(frames_)));
  head_conv = register_module(
      "head_conv", nn::SNConv2d(nn::SNConv2dOptions(c_prev, image_channels_, 3).sn(sn_)));
}

at::Tensor UpscaleGenerator::forward(const at::Tensor& z, const at::Tensor& labels,
                                     const at::Tensor& low_res) {
  TORCH_CHECK(low_res.defined() && low_res.dim() == 5 && low_res.size(2) == image_channels_ &&
                  low_res.size(3) == input_resolution_ && low_res.size(4) == input_resolution_,
              "UpscaleGenerator: expected low_res [B, T_in, ", image_channels_, ", ",
              input_resolution_, ", ", input_resolution_, "], got ", low_res.sizes());
  const int64_t B = z.size(0), T_in = low_res.size(1), T = T_in * temporal_upsample_;
  TORCH_CHECK(low_res.size(0) == B, "UpscaleGenerator: batch of z and low_res differ");
  TORCH_CHECK(T == frames_, "UpscaleGenerator: ", T_in, " input frames give ", T,
              " output frames but the BN statistics are set for ", frames_,
              " (call SetFrames and rebuild the standing statistics)");
  const at::Tensor cond = Condition(z, labels);
  const int64_t s = stem_resolution_;
  at::Tensor h = stem->forward(cond).view({B, 1, stem_channels_, s, s});
  h = h.expand({B, T, stem_channels_, s, s}).contiguous();
  // Frame repetition to T frames, folded as [B * T, C, r, r] for the spatial resizes.
  at::Tensor t_idx = at::floor_divide(at::arange(T, low_res.options().dtype(at::kLong)) * T_in, T);
  at::Tensor low = low_res.index_select(1, t_idx).reshape(
      {B * T, image_channels_, input_resolution_, input_resolution_});
  std::map<int64_t, at::Tensor> resized;
  for (size_t i = 0; i < blocks.size(); ++i) {
    h = blocks[i]->forward(h, cond);
    if (!inject[i]) continue;
    const int64_t r = block_resolution_[i];
    auto it = resized.find(r);
    if (it == resized.end()) {
      at::Tensor x = r == input_resolution_ ? low : at::upsample_nearest2d(low, {r, r});
      it = resized.emplace(r, x).first;
    }
    h = h + inject[i]->forward(it->second).view({B, T, h.size(2), r, r});
  }
  h = at::relu(head_bn->forward(h));
  return at::tanh(nn::PerFrame(head_conv, h));
}

}  // namespace fc::models::cvg
