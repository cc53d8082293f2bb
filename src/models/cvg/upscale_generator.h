// CVG upscaling generator, levels k > 1 (spec 2.5): doubles the frame rate and upscales the
// frames of the previous level's video.
//
//   cond = [z ; e(y)];  T = T_in * temporal_upsample (the stem runs at the output length)
//   stem: SNLinear(cond -> c0 * s * s), replicated over T frames
//   unit k: GeneratorBlock(c_{k-1} -> c_{k-1}, separable 3-D convs)   (replaces the ConvGRU)
//           GeneratorBlock(c_{k-1} -> c_k, 2-D, x2 upsample if upsample[k])
//           GeneratorBlock(c_k -> c_k, 2-D)
//           after each of the three blocks whose output is at most the input's resolution:
//             h += SNConv2d 1x1 (C -> width)( NN-resize(low_res) )
//   head: BN (per time step, affine) -> ReLU -> SNConv2d 3x3 -> tanh
// NN-resize: nearest-neighbour in time (output frame t takes input frame floor(t * T_in / T),
// i.e. frame repetition) and nearest-neighbour spatial downsampling to the block's size. One 1x1
// conv per injection point (the spec's per-block default). Fully convolutional in time: any T_in
// works once SetFrames(T_in * temporal_upsample) has been called (BN statistics are per frame).
// forward(z, labels, low_res [B, T_in, C, r, r]) -> [B, T, C, R, R] in [-1, 1].
#pragma once

#include <vector>

#include "dist/sync_batch_norm.h"
#include "models/cvg/generator.h"
#include "nn/generator_block.h"

namespace fc::models::cvg {

class UpscaleGenerator : public CvgGenerator {
 public:
  // frames = 0: the level's training output length (window_frames, or the previous level's
  // frames, times temporal_upsample).
  UpscaleGenerator(const framecast::CvgConfig& config, int level, int64_t frames = 0);
  at::Tensor forward(const at::Tensor& z, const at::Tensor& labels, const at::Tensor& low_res);
  at::Tensor Generate(const at::Tensor& z, const at::Tensor& labels,
                      const at::Tensor& low_res) override {
    return forward(z, labels, low_res);
  }

  nn::SNLinear stem{nullptr};
  std::vector<nn::GeneratorBlock> blocks;  // 3 per unit: 3-D, 2-D (up), 2-D
  std::vector<nn::SNConv2d> inject;        // one per block; empty holder = no injection
  dist::SyncBatchNorm head_bn{nullptr};
  nn::SNConv2d head_conv{nullptr};

 private:
  int64_t stem_channels_ = 0, stem_resolution_ = 0, temporal_upsample_ = 1;
  int64_t input_resolution_ = 0, image_channels_ = 0;
  std::vector<int64_t> block_resolution_;  // output size of each block
};

}  // namespace fc::models::cvg
