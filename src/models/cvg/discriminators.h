// CVG discriminators (spec 2.4, 2.6) and the per-level bundle CvgDiscriminators ("level<k>/D").
//
// All are BigGAN-style residual stacks without normalisation, spectrally normalised, with the head
//   ReLU -> sum over space -> SNLinear(C -> 1)  [+ <SNEmbedding(y), h> when class-conditional]
// (the projection discriminator; CvgConfig.no_class_projection drops it). Block i has width
// base_channels * channel_multipliers[i] and avg-pools 2x2 when downsample[i]
// (DiscriminatorDownsample); the first block has no leading ReLU.
//
// SpatialDiscriminator (D_S): scores single frames. forward(clip [B, T, C, H, W], frame_idx
// [B, k] int64, labels) -> [B, k], one score per sampled frame.
// TemporalDiscriminator (D_T, and D_M): the first blocks_3d blocks are 3-D (3x3x3 convs over
// [B, C, T, H, W]), the rest 2-D on every time step. forward(video [B, T, C, H, W], labels) ->
// [B, T'], one score per remaining time step (T' = T unless downsample_time). With pool_input
// (D_T) the video is first 2x2-average-pooled (DVD-GAN's phi).
//
// CvgDiscriminators holds D_S, D_T and (levels k > 1 unless disabled) D_M and returns their scores
// concatenated, [B, L], in that order: with ScoreReduction PER_LOCATION (the default) all columns,
// one per D_S frame and D_T / D_M time step; with SUM each D contributes one column (D_S summed
// over its frames, D_T / D_M over their time steps). The
// matching input is cat_channels(low_res, PyramidDown(clip)) (pyramid.h), 2C channels at the
// input's size.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "nn/discriminator_block.h"
#include "nn/spectral_norm.h"
#include "proto/cvg.pb.h"

namespace fc::models::cvg {

struct DiscriminatorOptions {
  int64_t in_channels = 3;
  int64_t input_resolution = 0;
  int64_t base_channels = 0;
  std::vector<int> multipliers;
  std::vector<bool> downsample;  // per block
  int blocks_3d = 0;             // 0: all 2-D (D_S)
  bool downsample_time = false;
  int64_t num_classes = 0;  // > 0: projection head
  nn::SpectralNormOptions sn;
};

// Options of a level's D_S ('S'), D_T ('T') or D_M ('M') from a defaulted config.
DiscriminatorOptions MakeDiscriminatorOptions(const framecast::CvgConfig& config, int level,
                                              char which);

// The shared trunk and head. Blocks act on [N, C, (T,) H, W].
class DiscriminatorTrunk : public torch::nn::Module {
 public:
  explicit DiscriminatorTrunk(const DiscriminatorOptions& options);
  // h: the trunk output [N, C]; labels [N] or undefined. Returns [N] scores.
  at::Tensor Head(const at::Tensor& h, const at::Tensor& labels);

  DiscriminatorOptions options;
  std::vector<nn::DiscriminatorBlock> blocks;
  nn::SNLinear linear{nullptr};
  nn::SNEmbedding projection{nullptr};
};

class SpatialDiscriminatorImpl : public DiscriminatorTrunk {
 public:
  explicit SpatialDiscriminatorImpl(const DiscriminatorOptions& options)
      : DiscriminatorTrunk(options) {}
  at::Tensor forward(const at::Tensor& clip, const at::Tensor& frame_idx,
                     const at::Tensor& labels = {});
};
TORCH_MODULE(SpatialDiscriminator);

class TemporalDiscriminatorImpl : public DiscriminatorTrunk {
 public:
  TemporalDiscriminatorImpl(const DiscriminatorOptions& options, bool pool_input)
      : DiscriminatorTrunk(options), pool_input_(pool_input) {}
  at::Tensor forward(const at::Tensor& video, const at::Tensor& labels = {});

 private:
  bool pool_input_;
};
TORCH_MODULE(TemporalDiscriminator);

// What a level's discriminators judge: a real or a generated sample of the level.
struct DiscriminatorBatch {
  at::Tensor clip;       // x^l [B, T, C, H, W] in [-1, 1]
  at::Tensor low_res;    // x^{l-1} [B, T / tu, C, h, w] (levels k > 1 with D_M)
  at::Tensor labels;     // [B] int64, or undefined (unconditional)
  at::Tensor frame_idx;  // [B, k] int64 frames for D_S (SampleFrames)
};

class CvgDiscriminatorsImpl : public torch::nn::Module {
 public:
  CvgDiscriminatorsImpl(const framecast::CvgConfig& config, int level);
  at::Tensor forward(const DiscriminatorBatch& batch);  // [B, L]

  SpatialDiscriminator spatial{nullptr};
  TemporalDiscriminator temporal{nullptr};
  TemporalDiscriminator matching{nullptr};  // empty at level 1 or when disabled

 private:
  bool per_location_ = false;
  int64_t temporal_upsample_ = 1, input_resolution_ = 0;
};
TORCH_MODULE(CvgDiscriminators);

}  // namespace fc::models::cvg
