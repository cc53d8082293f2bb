// CVG level-1 generator (spec 2.3): the class-conditional (or unconditional) video generator that
// produces the whole clip at low resolution and frame rate.
//
//   cond = [z ; e(y)]
//   stem: SNLinear(cond -> c0 * s * s) -> [B, c0, s, s], replicated over T frames
//   unit k (k = 0..K-1): ConvGRU(c_{k-1} -> c_{k-1}) over the T steps;
//                        GeneratorBlock(c_{k-1} -> c_k, x2 upsample if upsample[k]);
//                        GeneratorBlock(c_k -> c_k)                (2-D, frames independent)
//   head: BN (per time step, affine) -> ReLU -> SNConv2d 3x3 (c_{K-1} -> image_channels) -> tanh
// with c_k = base_channels * channel_multipliers[k], c_{-1} = c_0, s = stem_resolution, and all
// convolutions / linears spectrally normalised (unless no_spectral_norm_g). Weights are left at
// the layers' default initialisation; BuildCvgLevel applies the orthogonal initialisation.
// forward(z, labels) -> [B, frames(), C, R, R] in [-1, 1].
#pragma once

#include <vector>

#include "dist/sync_batch_norm.h"
#include "models/cvg/generator.h"
#include "nn/conv_gru.h"
#include "nn/generator_block.h"

namespace fc::models::cvg {

class Level1Generator : public CvgGenerator {
 public:
  // frames = 0: the level's training length (config.levels[level].frames).
  Level1Generator(const framecast::CvgConfig& config, int level = 0, int64_t frames = 0);
  at::Tensor forward(const at::Tensor& z, const at::Tensor& labels = {});
  at::Tensor Generate(const at::Tensor& z, const at::Tensor& labels,
                      const at::Tensor& low_res) override {
    return forward(z, labels);
  }

  nn::SNLinear stem{nullptr};
  std::vector<nn::ConvGRU> grus;
  std::vector<nn::GeneratorBlock> blocks;  // 2 per unit
  dist::SyncBatchNorm head_bn{nullptr};
  nn::SNConv2d head_conv{nullptr};

 private:
  int64_t stem_channels_ = 0, stem_resolution_ = 0;
};

}  // namespace fc::models::cvg
