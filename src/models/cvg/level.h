// CvgLevel: one level of the cascade as the trainer uses it — the generator ("level<k>/G"), the
// discriminator bundle ("level<k>/D"), their optimizer names, and the level's sizes — plus the
// helpers that feed a level during training and sampling. Single-device; parallelism is applied
// from outside (dist::AttachSyncBatchNorm on the generator, one dist::GradientSync per network).
//
// Training level l (0-based) needs, per step, on each rank:
//   real:  x^l = a real clip of the level (train_frames frames at the level's resolution), in
//          [-1, 1]; for l > 0 its low-res view PyramidDown(x^l, tu, input_resolution);
//   fake:  x_hat^{l-1} = SampleLevelInput(frozen generators 0..l-1) (no-grad, eval mode), then
//          G_l(z, y, x_hat^{l-1}).
// Frozen generators run at their own training length (their BN statistics are valid there): level
// j > 0 is applied to a random window of level j-1's output when it was trained on windows, and
// the result is cropped to the window the next level needs.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "models/cvg/config.h"
#include "models/cvg/discriminators.h"
#include "models/cvg/generator.h"
#include "util/status.h"

namespace fc::models::cvg {

struct CvgLevel {
  int level = 0;  // 0-based; the config's levels[level]
  LevelGeometry geometry;
  std::shared_ptr<CvgGenerator> generator;
  CvgDiscriminators discriminators{nullptr};
  std::string generator_network;      // "level<k>/G": its RunConfig.optimizers entry
  std::string discriminator_network;  // "level<k>/D"
};

// Builds level `level` of a defaulted, valid config on the CPU in float32, orthogonally
// initialised (nn::InitOrthogonal on G and D) from the global LibTorch generator unless
// `initialize` is false. Move it with ->to(device) afterwards.
Result<CvgLevel> BuildCvgLevel(const framecast::CvgConfig& config, int level,
                               bool initialize = true);

// Eval mode and requires_grad(false) on every parameter: a trained level used as the input of
// the next (its BN uses running statistics, its SN vectors stay fixed).
void FreezeGenerator(CvgGenerator& generator);

// The input of level `frozen.size()` in training: ancestral sampling through `frozen` (the
// generators of levels 0..n-1, frozen) under no-grad, cropped to that level's input window.
// labels: [B] or undefined; z drawn from N(0, I) with `gen`, as are the window starts. Returns
// [B, input_frames, C, r, r] on the device of `like`.
at::Tensor SampleLevelInput(const framecast::CvgConfig& config,
                            const std::vector<CvgGenerator*>& frozen, int64_t batch,
                            const at::Tensor& labels, at::Generator gen,
                            const at::TensorOptions& like);

// z ~ N(0, I): [batch, generator.z_dim()].
at::Tensor SampleNoise(const CvgGenerator& generator, int64_t batch, at::Generator gen,
                       const at::TensorOptions& like);

}  // namespace fc::models::cvg
