#include "train/state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <cstring>
#include <sstream>

#ifdef FRAMECAST_WITH_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <torch/cuda.h>
#endif

namespace fc::train {

std::vector<ckpt::NamedTensor> ModuleState(torch::nn::Module& module, const std::string& prefix) {
  std::vector<ckpt::NamedTensor> out;
  for (const auto& p : module.named_parameters(true))
    out.push_back({prefix + "/" + p.key(), p.value()});
  for (const auto& b : module.named_buffers(true))
    out.push_back({prefix + "/" + b.key(), b.value()});
  return out;
}

Status LoadModuleState(torch::nn::Module& module, const std::string& prefix,
                       const TensorMap& from) {
  torch::NoGradGuard ng;
  for (const auto& nt : ModuleState(module, prefix)) {
    auto it = from.find(nt.name);
    if (it == from.end()) return Status::NotFound("checkpoint has no tensor " + nt.name);
    const at::Tensor& src = it->second;
    if (src.scalar_type() != nt.tensor.scalar_type() || src.sizes() != nt.tensor.sizes()) {
      std::ostringstream os;
      os << "checkpoint tensor " << nt.name << " is " << c10::toString(src.scalar_type()) << " "
         << src.sizes() << " but the model has " << c10::toString(nt.tensor.scalar_type()) << " "
         << nt.tensor.sizes();
      return Status::InvalidArgument(os.str());
    }
    nt.tensor.detach().copy_(src);
  }
  return Status::Ok();
}

Result<std::vector<ckpt::NamedTensor>> OptimizerState(torch::optim::Optimizer& optimizer,
                                                      torch::nn::Module& module,
                                                      const std::string& prefix) {
  const bool sgd = dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr;
  const bool adam = dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr;
  if (!sgd && !adam)
    return Status::Unavailable("checkpoint: only SGD and Adam optimizer state is supported");
  std::vector<ckpt::NamedTensor> out;
  for (const auto& p : module.named_parameters(true)) {
    auto it = optimizer.state().find(p.value().unsafeGetTensorImpl());
    if (it == optimizer.state().end()) continue;
    const std::string base = prefix + "/" + p.key() + "/";
    if (sgd) {
      auto& st = static_cast<torch::optim::SGDParamState&>(*it->second);
      if (st.momentum_buffer().defined())
        out.push_back({base + "momentum_buffer", st.momentum_buffer()});
    } else {
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      out.push_back({base + "step", at::full({}, st.step(), at::kLong)});
      if (st.exp_avg().defined()) out.push_back({base + "exp_avg", st.exp_avg()});
      if (st.exp_avg_sq().defined()) out.push_back({base + "exp_avg_sq", st.exp_avg_sq()});
      if (st.max_exp_avg_sq().defined())
        out.push_back({base + "max_exp_avg_sq", st.max_exp_avg_sq()});
    }
  }
  return out;
}

Status LoadOptimizerState(torch::optim::Optimizer& optimizer, torch::nn::Module& module,
                          const std::string& prefix, const TensorMap& from) {
  const bool sgd = dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr;
  const bool adam = dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr;
  if (!sgd && !adam)
    return Status::Unavailable("checkpoint: only SGD and Adam optimizer state is supported");
  optimizer.state().clear();
  auto get = [&](const std::string& name, const at::Tensor& like, at::Tensor* out) -> Status {
    auto it = from.find(name);
    if (it == from.end()) return Status::Ok();
    if (it->second.sizes() != like.sizes() || it->second.scalar_type() != like.scalar_type()) {
      return Status::InvalidArgument("checkpoint optimizer tensor " + name +
                                     " does not match its parameter");
    }
    *out = it->second.to(like.device()).clone();
    return Status::Ok();
  };
  for (const auto& p : module.named_parameters(true)) {
    const std::string base = prefix + "/" + p.key() + "/";
    void* key = p.value().unsafeGetTensorImpl();
    if (sgd) {
      at::Tensor m;
      FC_RETURN_IF_ERROR(get(base + "momentum_buffer", p.value(), &m));
      if (!m.defined()) continue;
      auto st = std::make_unique<torch::optim::SGDParamState>();
      st->momentum_buffer(m);
      optimizer.state()[key] = std::move(st);
    } else {
      // Adam's state of one parameter is all or nothing: step (an int64 scalar), exp_avg and
      // exp_avg_sq shaped like the parameter, and max_exp_avg_sq under amsgrad.
      auto step = from.find(base + "step");
      const bool has_a = from.count(base + "exp_avg") > 0,
                 has_b = from.count(base + "exp_avg_sq") > 0;
      if (step == from.end()) {
        if (has_a || has_b)
          return Status::InvalidArgument("checkpoint optimizer state of " + p.key() +
                                         " has moments but no step (" + base + "step missing)");
        continue;
      }
      const at::Tensor& t = step->second;
      if (t.scalar_type() != at::kLong || t.dim() != 0)
        return Status::InvalidArgument("checkpoint optimizer tensor " + base + "step is " +
                                       std::string(c10::toString(t.scalar_type())) + " with " +
                                       std::to_string(t.dim()) +
                                       " dimension(s), not an int64 scalar");
      const int64_t n = t.item<int64_t>();
      if (n < 0 || n > (int64_t{1} << 50))
        return Status::InvalidArgument("checkpoint optimizer tensor " + base + "step is " +
                                       std::to_string(n) + ", out of range");
      if (!has_a || !has_b)
        return Status::InvalidArgument("checkpoint optimizer state of " + p.key() + " lacks " +
                                       (has_a ? base + "exp_avg_sq" : base + "exp_avg"));
      auto st = std::make_unique<torch::optim::AdamParamState>();
      st->step(n);
      at::Tensor a, b, c;
      FC_RETURN_IF_ERROR(get(base + "exp_avg", p.value(), &a));
      FC_RETURN_IF_ERROR(get(base + "exp_avg_sq", p.value(), &b));
      FC_RETURN_IF_ERROR(get(base + "max_exp_avg_sq", p.value(), &c));
      st->exp_avg(a);
      st->exp_avg_sq(b);
      if (c.defined()) st->max_exp_avg_sq(c);
      optimizer.state()[key] = std::move(st);
    }
  }
  return Status::Ok();
}

std::string RngName(int rank) { return "rank" + std::to_string(rank) + "/rng/cpu"; }

std::vector<ckpt::NamedTensor> RngState(int rank) {
  std::vector<ckpt::NamedTensor> out;
  out.push_back({RngName(rank), at::detail::getDefaultCPUGenerator().get_state()});
#ifdef FRAMECAST_WITH_CUDA
  if (torch::cuda::is_available()) {
    for (int d = 0; d < static_cast<int>(torch::cuda::device_count()); ++d) {
      out.push_back({"rank" + std::to_string(rank) + "/rng/cuda" + std::to_string(d),
                     at::cuda::detail::getDefaultCUDAGenerator(d).get_state()});
    }
  }
#endif
  return out;
}

Status CheckRngState(int rank, const TensorMap& from) {
  // A generator's state is a uint8 vector of the size the generator itself produces.
  auto check = [](const std::string& name, const at::Tensor& t, const at::Tensor& like) {
    if (t.scalar_type() != at::kByte || t.dim() != 1 || t.numel() != like.numel())
      return Status::InvalidArgument("checkpoint generator state " + name + " is " +
                                     std::string(c10::toString(t.scalar_type())) + " of " +
                                     std::to_string(t.numel()) + " element(s), not uint8[" +
                                     std::to_string(like.numel()) + "]");
    return Status::Ok();
  };
  auto it = from.find(RngName(rank));
  if (it != from.end())
    FC_RETURN_IF_ERROR(
        check(it->first, it->second, at::detail::getDefaultCPUGenerator().get_state()));
#ifdef FRAMECAST_WITH_CUDA
  if (torch::cuda::is_available()) {
    for (int d = 0; d < static_cast<int>(torch::cuda::device_count()); ++d) {
      auto c = from.find("rank" + std::to_string(rank) + "/rng/cuda" + std::to_string(d));
      if (c != from.end())
        FC_RETURN_IF_ERROR(
            check(c->first, c->second, at::cuda::detail::getDefaultCUDAGenerator(d).get_state()));
    }
  }
#endif
  return Status::Ok();
}

Result<bool> LoadRngState(int rank, const TensorMap& from) {
  FC_RETURN_IF_ERROR(CheckRngState(rank, from));
  auto it = from.find(RngName(rank));
  if (it == from.end()) return false;
  try {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    cpu.set_state(it->second);
#ifdef FRAMECAST_WITH_CUDA
    if (torch::cuda::is_available()) {
      for (int d = 0; d < static_cast<int>(torch::cuda::device_count()); ++d) {
        auto c = from.find("rank" + std::to_string(rank) + "/rng/cuda" + std::to_string(d));
        if (c != from.end()) {
          at::Generator g = at::cuda::detail::getDefaultCUDAGenerator(d);
          g.set_state(c->second);
        }
      }
    }
#endif
  } catch (const std::exception& e) {
    std::string what = e.what();
    return Status::InvalidArgument("checkpoint generator state " + RngName(rank) +
                                   " was refused: " + what.substr(0, what.find('\n')));
  }
  return true;
}

double GradientNorm(torch::nn::Module& module) {
  std::vector<at::Tensor> norms;
  for (const auto& p : module.parameters())
    if (p.grad().defined()) norms.push_back(p.grad().detach().to(at::kFloat).norm());
  return norms.empty() ? 0.0 : at::stack(norms).norm().item<double>();
}

}  // namespace fc::train
