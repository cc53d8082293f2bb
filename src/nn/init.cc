#include "nn/init.h"

#include <torch/nn/init.h>

#include <string>

namespace fc::nn {

namespace {
thread_local bool meta_init = false;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

MetaInitGuard::MetaInitGuard() : prev_(meta_init) { meta_init = true; }
MetaInitGuard::~MetaInitGuard() { meta_init = prev_; }

bool MetaInitActive() { return meta_init; }

at::Tensor NewParameterTensor(at::IntArrayRef shape) {
  return at::empty(shape,
                   at::TensorOptions().dtype(at::kFloat).device(meta_init ? at::kMeta : at::kCPU));
}

int InitOrthogonal(torch::nn::Module& module, double gain) {
  torch::NoGradGuard ng;
  int n = 0;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    at::Tensor p = item.value();
    if (p.is_meta()) continue;
    const std::string& name = item.key();
    if ((name == "weight" || EndsWith(name, ".weight")) && p.dim() >= 2) {
      torch::nn::init::orthogonal_(p, gain);
      ++n;
    } else if (name == "bias" || EndsWith(name, ".bias")) {
      p.zero_();
    }
  }
  return n;
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(/*recurse=*/true)) n += p.numel();
  return n;
}

}  // namespace fc::nn
