// Per-time-step batch-norm statistics: changing the unrolled length and rebuilding the running
// statistics ("standing statistics", CVG spec 1.8 item 4 and 7.1).
//
// Both functions act on every dist::SyncBatchNorm inside a module whose options().time_steps() > 0
// (the per-frame BN inside ConditionalBatchNorm and the generators' plain output BNs).
//
// SetTimeSteps(module, T): re-dimensions those layers for inputs with T time steps. Layers already
// at T are untouched; the others get running_mean = 0, running_var = 1 ([T * C]) and
// num_batches_tracked = 0 — their statistics must then be rebuilt (AccumulateStandingStats) before
// eval-mode use. The buffers are resized in place, so references to them stay valid.
//
// AccumulateStandingStats(module, passes, forward): puts `module` in eval mode except its
// SyncBatchNorm layers (so spectral-norm vectors and anything else mode-dependent stay frozen),
// resets every per-time-step BN's statistics and calls forward() `passes` times under no-grad,
// with momentum 1/k on the k-th pass, so the running statistics end as the plain average of the
// per-pass batch means and unbiased variances (a cumulative average, not a momentum average; the
// paper uses 200 passes). Leaves the module in eval mode with the original momentum values.
// With a communicator attached each pass's statistics are global (a collective: every rank must
// call this with the same `passes`); without one, each rank accumulates its own, and the trainer
// should run it on one rank and broadcast the buffers, or on all ranks with the same inputs.
// REQUIRES: forward() runs `module` once at the length the BNs are set to; passes >= 1.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <functional>

namespace fc::nn {

// Returns the number of layers that were re-dimensioned.
int SetTimeSteps(torch::nn::Module& module, int64_t time_steps);

// Returns the number of per-time-step BN layers whose statistics were accumulated.
int AccumulateStandingStats(torch::nn::Module& module, int passes,
                            const std::function<void()>& forward);

}  // namespace fc::nn
