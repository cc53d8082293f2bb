// Activation checkpointing of one recurrent time step (spec §7.2): the step runs without saving
// activations, and its backward recomputes it with autograd enabled, then backpropagates through
// the recomputed graph.
//
// CheckpointedCall(fn, inputs, params) returns fn(inputs), whose floating-point outputs are
// attached to one autograd node. In backward the node:
//   1. re-runs fn on detached copies of `inputs` (those that required grad are marked so);
//   2. calls torch::autograd::grad on the recomputed outputs w.r.t. those copies and `params`;
//   3. returns the input gradients and the parameter gradients as its own outputs, so parameter
//      gradients are accumulated by the ordinary AccumulateGrad nodes of the outer graph (gradient
//      hooks of a data-parallel wrapper fire as usual).
// REQUIRES: fn is deterministic given its inputs (randomness must be passed in as an input, as
// HVRNN's reparameterisation noise is); `params` covers every parameter fn uses that needs a
// gradient (parameters fn does not use get none). Outputs must not alias inputs.
// Not re-entrant-safe with create_graph (no double backward).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace fc::models::hvrnn {

using StepFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

std::vector<at::Tensor> CheckpointedCall(StepFn fn, const std::vector<at::Tensor>& inputs,
                                         const std::vector<at::Tensor>& params);

}  // namespace fc::models::hvrnn
