#include "models/cvg/level1_generator.h"

#include "models/cvg/config.h"

namespace fc::models::cvg {

Level1Generator::Level1Generator(const framecast::CvgConfig& config, int level, int64_t frames)
    : CvgGenerator(config, level, frames > 0 ? frames : config.levels(level).frames()) {
  const auto& lv = config.levels(level);
  const auto& g = lv.generator();
  const int64_t base = g.base_channels();
  const auto up = GeneratorUpsample(config, level);
  stem_channels_ = base * g.channel_multipliers(0);
  stem_resolution_ = g.stem_resolution();
  stem = register_module(
      "stem", nn::SNLinear(nn::SNLinearOptions(cond_dim_,
                                               stem_channels_ * stem_resolution_ * stem_resolution_)
                               .sn(sn_)));
  int64_t c_prev = stem_channels_;
  for (int k = 0; k < g.channel_multipliers_size(); ++k) {
    const int64_t c = base * g.channel_multipliers(k);
    const std::string u = "unit" + std::to_string(k);
    grus.push_back(
        register_module(u + "_gru", nn::ConvGRU(nn::ConvGRUOptions(c_prev, c_prev).sn(sn_))));
    auto opts = [&](int64_t in, int64_t out, bool upsample) {
      return nn::GeneratorBlockOptions(in, out, cond_dim_, frames_)
          .upsample_space(upsample)
          .bn_eps(config.bn_eps())
          .bn_momentum(config.bn_momentum())
          .sn(sn_);
    };
    blocks.push_back(register_module(u + "_block0", nn::GeneratorBlock(opts(c_prev, c, up[k]))));
    blocks.push_back(register_module(u + "_block1", nn::GeneratorBlock(opts(c, c, false))));
    c_prev = c;
  }
  head_bn = register_module("head_bn", dist::SyncBatchNorm(dist::SyncBatchNormOptions(c_prev)
                                                               .eps(config.bn_eps())
                                                               .momentum(config.bn_momentum())
                                                               .time_steps(frames_)));
  head_conv = register_module(
      "head_conv", nn::SNConv2d(nn::SNConv2dOptions(c_prev, config.image_channels(), 3).sn(sn_)));
}

at::Tensor Level1Generator::forward(const at::Tensor& z, const at::Tensor& labels) {
  const at::Tensor cond = Condition(z, labels);
  const int64_t B = z.size(0), s = stem_resolution_;
  at::Tensor h = stem->forward(cond).view({B, 1, stem_channels_, s, s});
  h = h.expand({B, frames_, stem_channels_, s, s}).contiguous();
  for (size_t k = 0; k < grus.size(); ++k) {
    h = grus[k]->forward(h);
    h = blocks[2 * k]->forward(h, cond);
    h = blocks[2 * k + 1]->forward(h, cond);
  }
  h = at::relu(head_bn->forward(h));
  return at::tanh(nn::PerFrame(head_conv, h));
}

}  // namespace fc::models::cvg
