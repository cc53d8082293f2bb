#include "models/cvg/generator.h"

#include "nn/standing_stats.h"

namespace fc::models::cvg {

CvgGenerator::CvgGenerator(const framecast::CvgConfig& config, int level, int64_t frames)
    : level_(level), frames_(frames) {
  const auto& g = config.levels(level).generator();
  z_dim_ = g.z_dim();
  num_classes_ = config.num_classes();
  cond_dim_ = z_dim_ + (num_classes_ > 0 ? config.class_embedding_dim() : 0);
  sn_ = nn::SpectralNormOptions()
            .enabled(!config.no_spectral_norm_g())
            .num_iters(config.sn_iterations());
  if (num_classes_ > 0) {
    embed_ = register_module(
        "embed", nn::SNEmbedding(nn::SNEmbeddingOptions(num_classes_, config.class_embedding_dim())
                                     .sn(nn::SpectralNormOptions().enabled(false))));
  }
}

void CvgGenerator::SetFrames(int64_t frames) {
  nn::SetTimeSteps(*this, frames);
  frames_ = frames;
}

at::Tensor CvgGenerator::Condition(const at::Tensor& z, const at::Tensor& labels) {
  TORCH_CHECK(z.dim() == 2 && z.size(1) == z_dim_, "CVG generator: expected z [B, ", z_dim_,
              "], got ", z.sizes());
  if (num_classes_ == 0) return z;
  TORCH_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == z.size(0),
              "CVG generator: class-conditional: expected labels [", z.size(0), "]");
  return at::cat({z, embed_->forward(labels).to(z.scalar_type())}, 1);
}

}  // namespace fc::models::cvg
