// SRVP's building blocks (specs/srvp.md 2.2-2.6): the SVG frame encoders and decoders (DCGAN-64
// and VGG-64, with optional skip connections) and the plain MLP.
//
// Encoder: frames [N, C, 64, 64] -> features [N, nhx] (tanh) and four skip maps, fine to coarse
//   (DCGAN: nf@32, 2nf@16, 4nf@8, 8nf@4; VGG: nf@64, 2nf@32, 4nf@16, 8nf@8).
// Decoder: input [N, D] (the content w and the state y_t, concatenated) and, with skips, the four
//   maps of the encoder -> frame means [N, C, 64, 64] in (0, 1) (sigmoid). Each skip map is
//   concatenated on channels at its resolution, doubling that stage's input width.
// Batch norm: dist::SyncBatchNorm (local statistics until a communicator is attached from
//   outside), as in the official code's multi-GPU runs. Convolutions have no bias where batch
//   norm follows.
// MLP: Linear -> (ReLU -> Linear) x (layers - 1); no output activation, no normalisation.
// Initialisation (InitSrvpWeights): conv, transposed conv and encoder/decoder Linear weights
// N(0, 0.02), batch-norm weights N(1, 0.02), biases 0.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "dist/sync_batch_norm.h"
#include "proto/srvp.pb.h"

namespace fc::models::srvp {

// One conv (or transposed conv) -> optional batch norm -> activation.
struct ConvBlockImpl : torch::nn::Module {
  enum Act { kLeakyRelu, kTanh, kSigmoid, kNone };
  ConvBlockImpl(int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t p, bool transposed,
                bool bn, Act act);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::ConvTranspose2d deconv{nullptr};
  dist::SyncBatchNorm bn{nullptr};
  Act act;
};
TORCH_MODULE(ConvBlock);

struct EncoderOutput {
  at::Tensor features;            // [N, nhx]
  std::vector<at::Tensor> skips;  // fine to coarse, four maps
};

struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const framecast::SrvpConfig& c);
  EncoderOutput forward(const at::Tensor& frames);
  framecast::SrvpConfig::Backbone backbone;
  torch::nn::ModuleList stages{nullptr};  // four stages (each a Sequential-like ModuleList)
  ConvBlock out{nullptr};
};
TORCH_MODULE(Encoder);

struct DecoderImpl : torch::nn::Module {
  DecoderImpl(const framecast::SrvpConfig& c, int64_t input_size);
  // skips: empty without skip connections; else the encoder's four maps (fine to coarse), with
  // the decoded batch's leading size.
  at::Tensor forward(const at::Tensor& input, const std::vector<at::Tensor>& skips);
  framecast::SrvpConfig::Backbone backbone;
  bool skip;
  ConvBlock in{nullptr};
  torch::nn::ModuleList stages{nullptr};  // four stages, coarse to fine
};
TORCH_MODULE(Decoder);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t in, int64_t hidden, int64_t out, int64_t layers);
  at::Tensor forward(const at::Tensor& x);
  torch::nn::ModuleList linears{nullptr};
};
TORCH_MODULE(Mlp);

// N(0, 0.02) conv / deconv / linear weights, N(1, 0.02) batch-norm weights, zero biases, for every
// such layer inside `m`.
void InitSrvpWeights(torch::nn::Module& m);

}  // namespace fc::models::srvp
