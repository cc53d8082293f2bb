// Stochastic Latent Residual Video Prediction (Franceschi et al. 2020; specs/srvp.md): a
// single-device model. The data-parallel trainer applies parallelism from outside (GradientSync,
// and dist::AttachSyncBatchNorm for the encoder's and decoder's batch norms).
//
// Model (config after ApplySrvpDefaults; T frames, k = content_frames, dt = 1 / euler steps):
//   x~_t = h(x_t)                                  encoder (DCGAN or VGG), one call on all frames
//   y_1 ~ q(y_1 | x~_{1:k}) = N(mu, s)              MLP on the first k features, concatenated
//   w = tanh(W_inf sum_{i in K} relu(W_proj x~_i))  content: K = k random frames of the sequence
//                                                   in training, the last k conditioning frames
//                                                   in generation (DeepSets: sum then project)
//   q(z_t | x_{1:t}) = N(head(LSTM(x~_{1:t})))      filtering posterior, t = 2..T
//   p(z_t | y_{t-1}) = N(MLP(y_{t-1}))              learned prior
//   y_t = y_{t-1} + dt * f(y_{t-1}, z_t), 1/dt times per frame with z_t held (RESIDUAL);
//         f(y_{t-1}, z_t) (MLP); GRUCell(z_t, y_{t-1}) (GRU)
//   x_t ~ N(g(w, y_t), obs_scale^2)                 decoder, one call on all states; skips from
//                                                   one random frame (training) or the last
//                                                   conditioning frame (generation)
// Every Gaussian head outputs [mean, raw]; the standard deviation is softplus(raw) + 1e-8.
// Loss per sequence (the negative ELBO of eq. 8 with the weights of the official code):
//   sum_{t,c,h,w} -log N(x; g, obs_scale^2)  +  beta_y KL(q(y_1) || N(0, I))
//   + beta_z sum_{t=2..T} KL(q(z_t) || p(z_t | y~_{t-1}))  +  lambda sum ||y_t - y_{t-1}||_2 per
//   update (each Euler sub-step; not squared),
// reduced by the mean over the batch, so the loss of a concatenated batch is the mean of the
// parts' losses (batch norm aside: with SyncBatchNorm attached the statistics are global too).
//
// Randomness comes only from NoiseFn: the reparameterisation noise of y_1 and of each z_t, and
// standard normal draws whose argsort per sample picks the k content frames (uniform without
// replacement) and whose argmax picks the skip frame (uniform). Thread-safety: none (a
// torch::nn::Module). Device: follows the parameters.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <string>
#include <vector>

#include "models/srvp/config.h"
#include "models/srvp/networks.h"
#include "proto/srvp.pb.h"

namespace fc::models::srvp {

enum class Site : int64_t {
  kY1 = 0,            // eps of y_1, [B, ny]
  kZ = 1,             // eps of z_t, [B, nz] (t = 1..T-1: the update into frame t)
  kContentOrder = 2,  // [B, T]: argsort, first k = the content frames (training)
  kSkipFrame = 3,     // [B, T]: argmax = the skip frame (training)
};

// Standard normal draws for `site` at step `t`, shaped `shape` with `options`.
using NoiseFn = std::function<at::Tensor(Site site, int64_t t, at::IntArrayRef shape,
                                         const at::TensorOptions&)>;

struct TrainOutput {
  at::Tensor loss;      // scalar: mean over the batch of the weighted negative ELBO above
  at::Tensor nll;       // scalar: mean over the batch of sum_t NLL_t (detached)
  at::Tensor kl_y;      // scalar: mean KL of y_1 (detached)
  at::Tensor kl_z;      // scalar: mean sum_t KL of z_t (detached)
  at::Tensor residual;  // scalar: mean sum of ||y_t - y_{t-1}||_2 (detached)
  // [B] per sequence, not detached: NLL (constant included) and unweighted KL (y_1 + z), for the
  // held-out ELBO.
  at::Tensor nll_per_sample, kl_per_sample;
  at::Tensor predictions;  // [B, T, C, H, W] decoded means of the posterior states (detached)
};

struct SrvpImpl : torch::nn::Module {
  // REQUIRES: ApplySrvpDefaults applied, ValidateSrvp OK, content_frames >= 1.
  explicit SrvpImpl(const framecast::SrvpConfig& config);

  // clip: [B, T, C, H, W] float in [0, 1], T > content_frames; every frame is inferred (training
  // uses the whole sequence, spec 1.4).
  TrainOutput forward_train(const at::Tensor& clip, const NoiseFn& noise = {});

  // Prediction: states inferred from the conditioning frames [B, C0, C, H, W] (C0 >=
  // content_frames; z from the posterior for t = 2..C0), then rolled out with the prior for
  // `horizon` frames and decoded in one batch (clamped to [0, 1]). euler_steps: sub-steps per
  // frame interval (0: the training value; a larger one is a finer dt). every_substep: return
  // every sub-step's frame ([B, horizon * euler_steps, ...], a higher frame rate) instead of the
  // frames at integer times. Runs without gradients; the caller sets eval mode.
  at::Tensor generate(const at::Tensor& context, int64_t horizon, const NoiseFn& noise = {},
                      int64_t euler_steps = 0, bool every_substep = false);

  const framecast::SrvpConfig& config() const { return config_; }

  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  Mlp q_y{nullptr};                                   // k * nhx -> 2 ny
  torch::nn::LSTM inf_z{nullptr};                     // nhx -> nh_inf (no_noise: absent)
  torch::nn::Linear q_z{nullptr};                     // nh_inf -> 2 nz
  Mlp p_z{nullptr};                                   // ny -> 2 nz
  Mlp dynamics{nullptr};                              // RESIDUAL, MLP: ny (+ nz) -> ny
  torch::nn::GRUCell gru{nullptr};                    // GRU: input nz, hidden ny
  torch::nn::Linear w_proj{nullptr}, w_inf{nullptr};  // content (no_content: absent)

 private:
  at::Tensor Draw(const NoiseFn& noise, Site site, int64_t t, at::IntArrayRef shape,
                  const at::TensorOptions& o) const;
  at::Tensor Content(const at::Tensor& feats);  // [B, k, nhx] -> [B, nw]
  // One frame interval from y with z (undefined without noise), `steps` sub-steps of 1/steps;
  // appends each sub-step's state to `states` when given, adds ||y' - y|| per update to `penalty`.
  at::Tensor Advance(at::Tensor y, const at::Tensor& z, int64_t steps, at::Tensor* penalty,
                     std::vector<at::Tensor>* states);
  // Decodes [B, N, ny] states with content w [B, nw] (undefined: none) and skips [B, ...] per map.
  at::Tensor Decode(const at::Tensor& ys, const at::Tensor& w,
                    const std::vector<at::Tensor>& skips);

  framecast::SrvpConfig config_;
};
TORCH_MODULE(Srvp);

// Parameters per module (encoder, decoder, q_y, inf_z + q_z, p_z, dynamics, content) and the
// total, as an aligned text table.
std::string ParameterSummary(SrvpImpl& m);

int64_t CountParameters(const torch::nn::Module& m);

// Diagonal-Gaussian KL(N(mq, sq^2) || N(mp, sp^2)) per element (sq, sp standard deviations).
at::Tensor GaussianKl(const at::Tensor& mq, const at::Tensor& sq, const at::Tensor& mp,
                      const at::Tensor& sp);

}  // namespace fc::models::srvp
