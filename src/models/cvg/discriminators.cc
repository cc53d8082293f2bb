#include "models/cvg/discriminators.h"

#include "models/cvg/config.h"
#include "models/cvg/pyramid.h"

namespace fc::models::cvg {

DiscriminatorOptions MakeDiscriminatorOptions(const framecast::CvgConfig& config, int level,
                                              char which) {
  const auto& lv = config.levels(level);
  const auto& d = which == 'S' ? lv.spatial() : which == 'T' ? lv.temporal() : lv.matching();
  DiscriminatorOptions o;
  o.in_channels = config.image_channels() * (which == 'M' ? 2 : 1);
  o.input_resolution = which == 'S'   ? lv.resolution()
                       : which == 'T' ? lv.resolution() / 2
                                      : config.levels(level - 1).resolution();
  o.base_channels = d.base_channels();
  o.multipliers.assign(d.channel_multipliers().begin(), d.channel_multipliers().end());
  o.downsample = DiscriminatorDownsample(d, o.input_resolution);
  o.blocks_3d = which == 'S' ? 0 : d.blocks_3d();
  o.downsample_time = which != 'S' && d.downsample_time();
  o.num_classes = config.no_class_projection() ? 0 : config.num_classes();
  o.sn = nn::SpectralNormOptions().enabled(true).num_iters(config.sn_iterations());
  return o;
}

DiscriminatorTrunk::DiscriminatorTrunk(const DiscriminatorOptions& o) : options(o) {
  int64_t c_prev = o.in_channels;
  for (size_t i = 0; i < o.multipliers.size(); ++i) {
    const int64_t c = o.base_channels * o.multipliers[i];
    const bool three_d = static_cast<int>(i) < o.blocks_3d;
    blocks.push_back(register_module(
        "block" + std::to_string(i),
        nn::DiscriminatorBlock(nn::DiscriminatorBlockOptions(c_prev, c)
                                   .three_d(three_d)
                                   .downsample(o.downsample[i])
                                   .downsample_time(three_d && o.downsample_time && o.downsample[i])
                                   .preactivation(i > 0)
                                   .sn(o.sn))));
    c_prev = c;
  }
  linear = register_module("linear", nn::SNLinear(nn::SNLinearOptions(c_prev, 1).sn(o.sn)));
  if (o.num_classes > 0) {
    projection = register_module(
        "projection", nn::SNEmbedding(nn::SNEmbeddingOptions(o.num_classes, c_prev).sn(o.sn)));
  }
}

at::Tensor DiscriminatorTrunk::Head(const at::Tensor& h, const at::Tensor& labels) {
  at::Tensor out = linear->forward(h).squeeze(1);
  if (projection) {
    TORCH_CHECK(labels.defined() && labels.size(0) == h.size(0),
                "CVG discriminator: class-conditional: expected labels [", h.size(0), "]");
    out = out + (projection->forward(labels) * h).sum(1);
  }
  return out;
}

at::Tensor SpatialDiscriminatorImpl::forward(const at::Tensor& clip, const at::Tensor& frame_idx,
                                             const at::Tensor& labels) {
  TORCH_CHECK(clip.dim() == 5 && clip.size(2) == options.in_channels, "D_S: expected clip [B, T, ",
              options.in_channels, ", H, W], got ", clip.sizes());
  TORCH_CHECK(frame_idx.dim() == 2 && frame_idx.size(0) == clip.size(0),
              "D_S: expected frame_idx [B, k]");
  const int64_t B = clip.size(0), k = frame_idx.size(1);
  // Gather the sampled frames: [B, k, C, H, W] -> [B * k, C, H, W].
  at::Tensor idx = frame_idx.to(clip.device())
                       .view({B, k, 1, 1, 1})
                       .expand({B, k, clip.size(2), clip.size(3), clip.size(4)});
  at::Tensor h = clip.gather(1, idx).reshape({B * k, clip.size(2), clip.size(3), clip.size(4)});
  for (auto& b : blocks) h = b->forward(h);
  h = at::relu(h).sum({2, 3});
  at::Tensor y = labels.defined() ? labels.repeat_interleave(k) : labels;
  return Head(h, y).view({B, k});
}

at::Tensor TemporalDiscriminatorImpl::forward(const at::Tensor& video, const at::Tensor& labels) {
  TORCH_CHECK(video.dim() == 5 && video.size(2) == options.in_channels,
              "D_T/D_M: expected video [B, T, ", options.in_channels, ", H, W], got ",
              video.sizes());
  const int64_t B = video.size(0);
  at::Tensor h = video.transpose(1, 2);  // [B, C, T, H, W]
  if (pool_input_) h = at::avg_pool3d(h, {1, 2, 2});
  size_t i = 0;
  for (; i < blocks.size() && static_cast<int>(i) < options.blocks_3d; ++i)
    h = blocks[i]->forward(h);
  // Remaining blocks per time step: [B * T', C, H, W].
  const int64_t T = h.size(2);
  h = h.transpose(1, 2).reshape({B * T, h.size(1), h.size(3), h.size(4)});
  for (; i < blocks.size(); ++i) h = blocks[i]->forward(h);
  h = at::relu(h).sum({2, 3});
  at::Tensor y = labels.defined() ? labels.repeat_interleave(T) : labels;
  return Head(h, y).view({B, T});
}

CvgDiscriminatorsImpl::CvgDiscriminatorsImpl(const framecast::CvgConfig& config, int level) {
  per_location_ = config.score_reduction() == framecast::CvgConfig::PER_LOCATION;
  spatial = register_module("spatial",
                            SpatialDiscriminator(MakeDiscriminatorOptions(config, level, 'S')));
  temporal = register_module(
      "temporal", TemporalDiscriminator(MakeDiscriminatorOptions(config, level, 'T'), true));
  if (level > 0 && !config.levels(level).no_matching_discriminator()) {
    matching = register_module(
        "matching", TemporalDiscriminator(MakeDiscriminatorOptions(config, level, 'M'), false));
    temporal_upsample_ = config.levels(level).temporal_upsample();
    input_resolution_ = config.levels(level - 1).resolution();
  }
}

at::Tensor CvgDiscriminatorsImpl::forward(const DiscriminatorBatch& b) {
  std::vector<at::Tensor> scores;
  auto add = [&](const at::Tensor& s) {
    scores.push_back(per_location_ ? s : s.sum(1, /*keepdim=*/true));
  };
  add(spatial->forward(b.clip, b.frame_idx, b.labels));
  add(temporal->forward(b.clip, b.labels));
  if (matching) {
    TORCH_CHECK(b.low_res.defined(), "D_M: the batch needs low_res (the level's input)");
    at::Tensor down = PyramidDown(b.clip, temporal_upsample_, input_resolution_);
    add(matching->forward(at::cat({b.low_res, down.to(b.low_res.scalar_type())}, 2), b.labels));
  }
  return at::cat(scores, 1);
}

}  // namespace fc::models::cvg
