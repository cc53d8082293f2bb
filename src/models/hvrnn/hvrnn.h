// The hierarchical conditional VRNN (Castrejon et al. 2019; specs/hvrnn.md): a single-device
// model. The data-parallel trainer applies parallelism from outside.
//
// Architecture (config after ApplyHvrnnDefaults; resolutions r = S, S/2, ..., 8, 4, 1 for an S x S
// image; E_r / D_r the encoder / decoder width at r):
//   Encoder (per frame): Conv3x3 -> ResBlock at S (tap S); per halving down to 8: MaxPool,
//     ResBlock (width change), ResBlock (tap); MaxPool (tap 4); ResBlock ks=4 (4x4 -> 1x1),
//     ResBlock (tap 1).
//   Latent level l (resolution r_l, C_l channels): prior input concat(feat_r(x_{t-1}), up(z^{<l}));
//     posterior input concat(feat_r(x_t), [feat_r(x_{t-1})], up(z^{<l})); up = nearest (tile
//     from 1x1); no_dense: only z^{l-1}. Each is LatentNet (1x1 conv+GN, ConvLSTM, head).
//   Decoder, coarse to fine: stage at r takes concat(UpConv(previous stage) [r > 1],
//     feat_r(x_{t-1}), z^l for r_l == r) into a ConvLSTM (decoder_recurrent) or Conv+GN+ReLU of
//     width D_r; then Conv3x3+GN+ReLU, Conv3x3 -> image channels (logits); the likelihood mean is
//     sigmoid(logits).
//   Initial states: one InitNet per ConvLSTM (decoder, prior level, posterior level) applied to
//     feat_r of the context: the last frame, the mean over context frames, or (CONCAT) every
//     context frame's features concatenated along channels, so the states can see the motion.
// Loss per sequence: sum_t [NLL_t + beta * sum_l KL_t^l], NLL Gaussian 0.5 * sum (x - mean)^2 /
// sigma^2 (constants dropped) or Bernoulli BCE; analytic KL; reduced by the mean over the batch,
// so the loss of a concatenated batch is the mean of the parts' losses. Under bf16 autocast the
// layers run in bf16 but the NLL, the KL and every reduction of the loss run in the clip's dtype.
//
// Thread-safety: none (a torch::nn::Module). Device: follows the parameters (call ->to(device));
// inputs must be on the same device. Noise comes from NoiseFn (default: at::randn with the current
// default generator of the device).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <string>
#include <vector>

#include "models/hvrnn/config.h"
#include "models/hvrnn/layers.h"
#include "proto/hvrnn.pb.h"

namespace fc::models::hvrnn {

// Returns the reparameterisation noise eps ~ N(0, 1) of latent level `level` (0 = top) at
// predicted step `t` (0-based), shaped `shape` ([B, C_l, r_l, r_l]) with `options`.
using NoiseFn = std::function<at::Tensor(int64_t level, int64_t t, at::IntArrayRef shape,
                                         const at::TensorOptions&)>;

struct TrainOutput {
  at::Tensor loss;  // scalar: mean over batch of sum_t [NLL_t + beta * sum_l KL_t^l]
  at::Tensor nll;   // scalar, mean over batch of sum_t NLL_t (detached)
  at::Tensor kl;    // scalar, mean over batch of sum_t sum_l KL (unweighted, detached)
  std::vector<at::Tensor> kl_per_level;    // [L] scalars, mean over batch, summed over t/space/ch
  std::vector<at::Tensor> kl_per_channel;  // per level [C_l]: mean over batch, space and time
  at::Tensor predictions;                  // [B, T, C, H, W] teacher-forced means (detached)
  // [B] per-sample sum_t NLL_t and sum_t sum_l KL (not detached): loss = mean(nll + beta * kl),
  // for callers that weight the KL with a tensor (a captured CUDA graph's step).
  at::Tensor nll_per_sample, kl_per_sample;
};

// The frame encoder: per-resolution feature taps, fine to coarse.
struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const framecast::HvrnnConfig& c);
  // frames [N, C, S, S] -> one tensor per resolution of EncoderResolutions(S), [N, E_r, r, r].
  std::vector<at::Tensor> forward(const at::Tensor& frames);
  std::vector<int64_t> resolutions;
  torch::nn::Conv2d conv_in{nullptr};
  torch::nn::ModuleList stages{nullptr};  // stage i: a ModuleList of ResBlocks (empty at 4x4)
};
TORCH_MODULE(Encoder);

struct HvrnnImpl : torch::nn::Module {
  // REQUIRES: ApplyHvrnnDefaults applied and ValidateHvrnn OK.
  explicit HvrnnImpl(const framecast::HvrnnConfig& config);

  // clip: [B, D + T, C, H, W] float in [0, 1]; teacher forcing; posterior samples; analytic KL.
  // REQUIRES: 1 <= context < clip.size(1).
  TrainOutput forward_train(const at::Tensor& clip, int64_t context, double beta,
                            const NoiseFn& noise = {});

  // Prior sampling without teacher forcing: the encoder runs on each own prediction (the
  // likelihood mean). context_frames: [B, D, C, H, W]; returns [B, horizon, C, H, W] in [0, 1].
  // Runs without gradients.
  at::Tensor generate(const at::Tensor& context_frames, int64_t horizon, const NoiseFn& noise = {});

  const framecast::HvrnnConfig& config() const { return config_; }
  int64_t num_levels() const { return static_cast<int64_t>(config_.latents_size()); }

  Encoder encoder{nullptr};
  torch::nn::ModuleList prior{nullptr}, posterior{nullptr};            // LatentNet per level
  torch::nn::ModuleList prior_init{nullptr}, posterior_init{nullptr};  // InitNet per level
  torch::nn::ModuleList dec_stages{nullptr};  // per decoder resolution: ConvLstmCell / ConvGnRelu
  torch::nn::ModuleList upconvs{nullptr};     // between decoder stages (one fewer)
  torch::nn::ModuleList dec_init{nullptr};    // InitNet per recurrent decoder stage
  ConvGnRelu out1{nullptr};
  torch::nn::Conv2d out2{nullptr};

 private:
  // Recurrent state layout: [prior h, c per level..., posterior h, c per level..., decoder h, c
  // per recurrent stage...].
  std::vector<at::Tensor> InitialStates(const std::vector<at::Tensor>& ctx_feats, bool posterior);
  // One teacher-forced step. inputs: [prev feats (n_res), cur feats at latent res (L),
  // noise (L), state...]; outputs: [state'..., KL per level summed over space [B, C_l] (L),
  // logits [B, C, S, S]].
  std::vector<at::Tensor> TrainStep(const std::vector<at::Tensor>& inputs);
  at::Tensor Decode(const std::vector<at::Tensor>& prev, const std::vector<at::Tensor>& zs,
                    std::vector<at::Tensor>* state, size_t dec_offset);
  std::vector<at::Tensor> Upsampled(const std::vector<at::Tensor>& zs, int64_t level) const;
  int64_t ResIndex(int64_t r) const;  // index of resolution r in enc_res_
  // Frames an init net sees (context_frames under CONCAT, else 1), and the context features of
  // one resolution ([B, D, C, r, r] -> [B, InitFrames() * C, r, r]) per context_init.
  int64_t InitFrames() const;
  at::Tensor ContextFeature(const at::Tensor& per_frame, int64_t D) const;
  at::Tensor Noise(const NoiseFn& noise, int64_t level, int64_t t, at::IntArrayRef shape,
                   const at::TensorOptions& opts) const;
  std::vector<at::Tensor> StepParameters();

  framecast::HvrnnConfig config_;
  std::vector<int64_t> enc_res_;        // fine to coarse
  std::vector<int64_t> dec_res_;        // coarse to fine
  std::vector<int64_t> dec_rec_index_;  // per decoder stage: index among recurrent stages or -1
  int64_t num_dec_rec_ = 0;
};
TORCH_MODULE(Hvrnn);

// Parameters per module (encoder, decoder, prior level l, posterior level l, init nets) and the
// total, in millions, as an aligned text table.
std::string ParameterSummary(HvrnnImpl& m);

// Total number of parameter elements.
int64_t CountParameters(torch::nn::Module& m);

}  // namespace fc::models::hvrnn
