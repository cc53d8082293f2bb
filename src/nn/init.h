// Parameter creation and initialisation shared by the layers of src/nn.
//
// MetaInitGuard: while one is alive on the calling thread, the layers of src/nn (and the models
// built from them) create their parameters on the meta device: shapes and dtypes only, no memory
// and no initialisation work. Used to count the parameters of paper-size models in milliseconds
// (models/cvg ParameterSummary). A module built under the guard can only be inspected, not run.
// Buffers stay small real CPU tensors.
//
// InitOrthogonal: BigGAN/CVG initialisation ("orthogonal initialization for all weights"): every
// parameter named "weight" with two or more dimensions gets torch::nn::init::orthogonal_ (the
// tensor viewed as [size(0), prod(rest)]), every parameter named "bias" becomes zero; other
// parameters (batch-norm affine weights) keep their values. Parameters on the meta device are
// skipped. Uses the global LibTorch generator: ranks that seed it identically initialise
// identically (the trainer broadcasts rank 0's state anyway).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace fc::nn {

class MetaInitGuard {
 public:
  MetaInitGuard();
  ~MetaInitGuard();
  MetaInitGuard(const MetaInitGuard&) = delete;
  MetaInitGuard& operator=(const MetaInitGuard&) = delete;

 private:
  bool prev_;
};

// True while a MetaInitGuard is alive on this thread.
bool MetaInitActive();

// An uninitialised float parameter tensor of `shape`: on the meta device under MetaInitGuard, on
// the CPU otherwise (the layer's reset() then initialises it).
at::Tensor NewParameterTensor(at::IntArrayRef shape);

// See the header comment. Returns the number of weights initialised.
int InitOrthogonal(torch::nn::Module& module, double gain = 1.0);

// Number of scalar parameters (works on meta modules).
int64_t CountParameters(const torch::nn::Module& module);

}  // namespace fc::nn
