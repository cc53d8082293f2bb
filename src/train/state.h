// The training state that goes into a checkpoint, as named tensors, and back.
//
// Names: "<prefix>/<parameter or buffer path>" for a module; "<prefix>/<parameter path>/<field>"
// for an optimizer's per-parameter state (SGD: momentum_buffer; Adam: step, exp_avg, exp_avg_sq,
// max_exp_avg_sq), present once the optimizer has stepped; "rank<r>/rng/cpu" and
// "rank<r>/rng/cuda<d>" for each rank's generators. Named tensors (not an opaque archive) keep
// checkpoints of equal states byte-identical and let any number of ranks load them.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <string>
#include <vector>

#include "ckpt/checkpoint.h"

namespace fc::train {

using TensorMap = std::map<std::string, at::Tensor>;

std::vector<ckpt::NamedTensor> ModuleState(torch::nn::Module& module, const std::string& prefix);
// Copies every parameter and buffer of `module` from `from` (exact dtype and shape required).
Status LoadModuleState(torch::nn::Module& module, const std::string& prefix, const TensorMap& from);

// The optimizer must be SGD or Adam over `module`'s parameters, in `module.parameters()` order.
Result<std::vector<ckpt::NamedTensor>> OptimizerState(torch::optim::Optimizer& optimizer,
                                                      torch::nn::Module& module,
                                                      const std::string& prefix);
// Replaces the optimizer's state with the "<prefix>/..." tensors of `from` (none: a fresh
// optimizer).
Status LoadOptimizerState(torch::optim::Optimizer& optimizer, torch::nn::Module& module,
                          const std::string& prefix, const TensorMap& from);

std::vector<ckpt::NamedTensor> RngState(int rank);
std::string RngName(int rank);
// Restores this rank's generators if the checkpoint has them (it may have been written by fewer
// ranks); returns false when it did not. A state of the wrong dtype or size is InvalidArgument
// (CheckRngState, which changes nothing) and nothing is restored.
Status CheckRngState(int rank, const TensorMap& from);
Result<bool> LoadRngState(int rank, const TensorMap& from);

// The L2 norm of all of `module`'s parameter gradients together (0 when none has one). One host
// synchronisation: call it on logging steps only.
double GradientNorm(torch::nn::Module& module);

}  // namespace fc::train
