// The interface shared by CVG's generators (Level1Generator, UpscaleGenerator), so a cascade can
// hold and chain them uniformly.
//
// Conventions: z [B, z_dim] ~ N(0, I) drawn by the caller; labels [B] int64 in [0, num_classes)
// for class-conditional configs, undefined otherwise; low_res [B, T_in, C, h, w] in [-1, 1] (the
// previous level's output, levels k > 1 only). Output: [B, T, C, H, W] in [-1, 1] (tanh), where T =
// frames() for level 1 and T_in * temporal_upsample for upscaling levels.
//
// Every BN layer of a generator keeps per-time-step statistics for frames() output frames.
// SetFrames(T) re-dimensions them (nn::SetTimeSteps); the running statistics must then be rebuilt
// with nn::AccumulateStandingStats before eval-mode use (spec 1.8: 200 passes). Conditioning
// vector of every conditional BN and of the stem: [z ; embed(labels)] (z alone when
// unconditional); the class embedding is a plain (non-SN) table, BigGAN's shared embedding.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

#include "nn/spectral_norm.h"
#include "proto/cvg.pb.h"

namespace fc::models::cvg {

class CvgGenerator : public torch::nn::Module {
 public:
  virtual at::Tensor Generate(const at::Tensor& z, const at::Tensor& labels,
                              const at::Tensor& low_res) = 0;
  int64_t frames() const { return frames_; }
  void SetFrames(int64_t frames);
  int64_t z_dim() const { return z_dim_; }
  int64_t cond_dim() const { return cond_dim_; }
  int level() const { return level_; }

 protected:
  // Reads the shared settings of level `level`; registers the class embedding if any.
  CvgGenerator(const framecast::CvgConfig& config, int level, int64_t frames);
  // [z ; embed(labels)]: [B, cond_dim].
  at::Tensor Condition(const at::Tensor& z, const at::Tensor& labels);
  nn::SpectralNormOptions sn_options() const { return sn_; }

  nn::SNEmbedding embed_{nullptr};
  int level_ = 0;
  int64_t frames_ = 0;
  int64_t z_dim_ = 0;
  int64_t num_classes_ = 0;
  int64_t cond_dim_ = 0;
  nn::SpectralNormOptions sn_;
};

}  // namespace fc::models::cvg
