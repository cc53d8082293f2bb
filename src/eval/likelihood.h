// Held-out likelihood of a latent-variable video model: the negative ELBO per test video (the
// measure of HVRNN Tables 4.1 / 4.2), distributed over ranks like best_of_n.h.
//
// Protocol: every held-out sequence is split into D context frames and `horizon` target frames;
// the model's teacher-forced ELBO over the target frames is estimated with one posterior sample
// per sequence (the training estimator, beta = 1). Reported: the mean over sequences of
//   NLL (nats, the likelihood's normalising constants included), KL (nats), -ELBO = NLL + KL,
// their std over sequences, and -ELBO in bits per dimension, -ELBO / (horizon C H W ln 2).
// For a Gaussian likelihood of fixed sigma on pixels in [0, 1] these are continuous densities:
// bits/dim can be negative, and values compare only across models with the same likelihood.
//
// ElboFn(clips [b, D + horizon, C, H, W] float in [0, 1], first_global_index) -> [b, 2] float64
// (NLL, KL per sequence, nats). Called without autograd; the index lets the model key its noise.
// D = 0: the ELBO of whole clips (a model of every frame, such as SRVP); dims then count them all.
// HeldOutElbo is collective: every rank calls it with its own share (best_of_n.h ShareOf, global
// order = rank order; a rank may hold none); the sums are all-reduced, so every rank returns the
// same result; a failure on any rank is agreed (every rank returns Aborted naming it).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>

#include "dist/communicator.h"
#include "util/status.h"

namespace fc::eval {

using ElboFn =
    std::function<Result<at::Tensor>(const at::Tensor& clips, int64_t first_global_index)>;

struct ElboResult {
  std::string method;
  int64_t sequences = 0, horizon = 0, dims_per_video = 0;  // dims = horizon C H W
  double nll = 0, kl = 0, neg_elbo = 0;  // nats per video, means over sequences
  double neg_elbo_std = 0;               // population std over sequences
  double bits_per_dim = 0;               // neg_elbo / (dims_per_video ln 2)
  std::string note;                      // the likelihood and estimator, in words
};

// local_clips: [n_local, D + horizon, C, H, W] uint8 (or float in [0, 1]); first_index: the global
// index of local_clips[0]; batch: sequences per elbo call (>= 1).
Result<ElboResult> HeldOutElbo(const std::string& method, const ElboFn& elbo,
                               const at::Tensor& local_clips, int64_t first_index, int64_t context,
                               int64_t batch, dist::Communicator* comm);

// The "neg. ELBO" lines of the report table: "<method> held-out -ELBO: 1234.5 ± 56.7 nats/video
// (NLL 1200.1 + KL 34.4), 0.0123 bits/dim; <note>".
std::string FormatElbo(const ElboResult& r);

}  // namespace fc::eval
