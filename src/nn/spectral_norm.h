// Spectral normalisation (Miyato et al. 2018) in the BigGAN style, and the four layers that use
// it: SNLinear, SNConv2d, SNConv3d, SNEmbedding.
//
// Contract of SpectralNorm (the mixin each layer holds):
//   - the layer's weight W (any shape, out-features first) is used as W / sigma, where sigma
//     estimates the largest singular value of W viewed as [size(0), prod(rest)];
//   - sigma comes from `num_iters` power iterations started from the buffer `u` ([size(0)], a unit
//     vector), run under no-grad; sigma = u'^T W v' is then differentiated through W only (the
//     standard SN gradient);
//   - training mode (the layer's is_training()): the iterated u is written back into the buffer
//     and sigma into the buffer `sv` (for logging). Eval mode: the same iterations run on a copy,
//     the buffers are not touched, so eval forwards are pure functions of the state;
//   - `u` and `sv` are buffers: they are checkpointed with the module and move with .to().
// Replication contract: the power iteration depends only on W and u, never on the data. Replicas
// that start from the same u and the same weights (the trainer broadcasts rank 0's parameters and
// buffers at start-up) and apply the same updates therefore keep bitwise-identical u on every rank
// without communication, as long as every rank runs the same number of training forwards of the
// layer (true for data-parallel training). Loading a checkpoint restores u on every rank.
//
// With SpectralNormOptions::enabled == false the layers are plain layers (no buffers).
// REQUIRES: num_iters >= 1.
#pragma once

#include <ATen/ATen.h>
#include <torch/expanding_array.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace fc::nn {

struct SpectralNormOptions {
  TORCH_ARG(bool, enabled) = true;
  TORCH_ARG(int, num_iters) = 1;
  TORCH_ARG(double, eps) = 1e-12;  // norms below eps are clamped when normalising u and v
};

class SpectralNorm {
 public:
  // Registers the buffers "u" (random unit vector of length `rows`) and "sv" on `owner` when
  // enabled; nothing otherwise.
  void Register(torch::nn::Module* owner, int64_t rows, const SpectralNormOptions& options);
  // W / sigma(W), updating u and sv when `training` (see the header comment). Identity if disabled.
  at::Tensor Apply(const at::Tensor& weight, bool training);

  SpectralNormOptions options;
  at::Tensor u;   // [rows]
  at::Tensor sv;  // [] the last training sigma
};

// ---- SNLinear: y = x W^T + b, W [out, in] -------------------------------------------------------
struct SNLinearOptions {
  SNLinearOptions(int64_t in, int64_t out) : in_features_(in), out_features_(out) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class SNLinearImpl : public torch::nn::Cloneable<SNLinearImpl> {
 public:
  explicit SNLinearImpl(const SNLinearOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);  // [..., in] -> [..., out]
  SNLinearOptions options;
  at::Tensor weight, bias;
  SpectralNorm sn;
};
TORCH_MODULE(SNLinear);

// ---- SNConv2d: stride 1, zero padding ----------------------------------------------------------
struct SNConv2dOptions {
  SNConv2dOptions(int64_t in, int64_t out, torch::ExpandingArray<2> kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel), padding_(0) {
    for (int i = 0; i < 2; ++i) (*padding_)[i] = (*kernel_size_)[i] / 2;  // "same" by default
  }
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, padding);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class SNConv2dImpl : public torch::nn::Cloneable<SNConv2dImpl> {
 public:
  explicit SNConv2dImpl(const SNConv2dOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);  // [N, in, H, W] -> [N, out, H', W']
  SNConv2dOptions options;
  at::Tensor weight, bias;
  SpectralNorm sn;
};
TORCH_MODULE(SNConv2d);

// ---- SNConv3d: stride 1, zero padding; layout [N, C, T, H, W] ---------------------------------
struct SNConv3dOptions {
  SNConv3dOptions(int64_t in, int64_t out, torch::ExpandingArray<3> kernel)
      : in_channels_(in), out_channels_(out), kernel_size_(kernel), padding_(0) {
    for (int i = 0; i < 3; ++i) (*padding_)[i] = (*kernel_size_)[i] / 2;
  }
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<3>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<3>, padding);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class SNConv3dImpl : public torch::nn::Cloneable<SNConv3dImpl> {
 public:
  explicit SNConv3dImpl(const SNConv3dOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);  // [N, in, T, H, W] -> [N, out, T', H', W']
  SNConv3dOptions options;
  at::Tensor weight, bias;
  SpectralNorm sn;
};
TORCH_MODULE(SNConv3d);

// ---- SNEmbedding: rows of W [num_embeddings, dim] ----------------------------------------------
struct SNEmbeddingOptions {
  SNEmbeddingOptions(int64_t num, int64_t dim) : num_embeddings_(num), embedding_dim_(dim) {}
  TORCH_ARG(int64_t, num_embeddings);
  TORCH_ARG(int64_t, embedding_dim);
  TORCH_ARG(SpectralNormOptions, sn) = {};
};

class SNEmbeddingImpl : public torch::nn::Cloneable<SNEmbeddingImpl> {
 public:
  explicit SNEmbeddingImpl(const SNEmbeddingOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& indices);  // long [...] -> [..., dim]
  SNEmbeddingOptions options;
  at::Tensor weight;
  SpectralNorm sn;
};
TORCH_MODULE(SNEmbedding);

}  // namespace fc::nn
