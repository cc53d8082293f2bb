#include "models/hvrnn/step_checkpoint.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <memory>
#include <string>
#include <utility>

namespace fc::models::hvrnn {
namespace {

using torch::autograd::Edge;
using torch::autograd::Node;
using torch::autograd::variable_list;

// The device types whose autocast state the recompute reproduces.
constexpr at::DeviceType kTypes[2] = {at::kCPU, at::kCUDA};

// The backward node: recompute, then differentiate the recomputed graph.
class StepRecompute : public Node {
 public:
  StepRecompute(StepFn fn, std::vector<at::Tensor> inputs, std::vector<bool> input_grad,
                std::vector<at::Tensor> params)
      : fn_(std::move(fn)),
        inputs_(std::move(inputs)),
        input_grad_(std::move(input_grad)),
        params_(std::move(params)) {
    // The recompute runs under the forward's autocast state (bf16 steps), which the backward
    // pass (possibly on another thread) does not carry.
    for (int i = 0; i < 2; ++i) {
      autocast_[i] = at::autocast::is_autocast_enabled(kTypes[i]);
      autocast_dtype_[i] = at::autocast::get_autocast_dtype(kTypes[i]);
    }
  }

  std::string name() const override { return "fc::models::hvrnn::StepRecompute"; }

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(!inputs_.empty() || !params_.empty(), "StepRecompute: backward called twice");
    std::vector<at::Tensor> outs;
    std::vector<at::Tensor> leaves;
    {
      at::AutoGradMode enable(true);
      bool saved[2];
      at::ScalarType saved_dtype[2];
      for (int i = 0; i < 2; ++i) {
        saved[i] = at::autocast::is_autocast_enabled(kTypes[i]);
        saved_dtype[i] = at::autocast::get_autocast_dtype(kTypes[i]);
        at::autocast::set_autocast_enabled(kTypes[i], autocast_[i]);
        at::autocast::set_autocast_dtype(kTypes[i], autocast_dtype_[i]);
      }
      struct Restore {
        bool* on;
        at::ScalarType* dt;
        ~Restore() {
          for (int i = 0; i < 2; ++i) {
            at::autocast::set_autocast_enabled(kTypes[i], on[i]);
            at::autocast::set_autocast_dtype(kTypes[i], dt[i]);
          }
        }
      } restore{saved, saved_dtype};
      std::vector<at::Tensor> in(inputs_.size());
      for (size_t i = 0; i < inputs_.size(); ++i) {
        if (!inputs_[i].defined()) continue;
        in[i] = inputs_[i].detach();
        if (input_grad_[i]) {
          in[i].requires_grad_(true);
          leaves.push_back(in[i]);
        }
      }
      outs = fn_(in);
    }
    // Only outputs that received a gradient and belong to the recomputed graph take part.
    std::vector<at::Tensor> roots, root_grads;
    for (size_t i = 0; i < outs.size() && i < grads.size(); ++i) {
      if (grads[i].defined() && outs[i].defined() && outs[i].requires_grad()) {
        roots.push_back(outs[i]);
        root_grads.push_back(grads[i]);
      }
    }
    const size_t n_leaves = leaves.size();
    for (const auto& p : params_) leaves.push_back(p);
    variable_list leaf_grads(leaves.size());
    if (!roots.empty() && !leaves.empty()) {
      leaf_grads = torch::autograd::grad(roots, leaves, root_grads, /*retain_graph=*/false,
                                         /*create_graph=*/false, /*allow_unused=*/true);
    }
    variable_list result(inputs_.size() + params_.size());
    size_t k = 0;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      if (input_grad_[i]) result[i] = leaf_grads[k++];
    }
    for (size_t j = 0; j < params_.size(); ++j)
      result[inputs_.size() + j] = leaf_grads[n_leaves + j];
    inputs_.clear();  // release the saved inputs (the node runs once)
    params_.clear();
    return result;
  }

 private:
  StepFn fn_;
  bool autocast_[2];
  at::ScalarType autocast_dtype_[2];
  std::vector<at::Tensor> inputs_;
  std::vector<bool> input_grad_;
  std::vector<at::Tensor> params_;
};

}  // namespace

std::vector<at::Tensor> CheckpointedCall(StepFn fn, const std::vector<at::Tensor>& inputs,
                                         const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> outs;
  {
    at::NoGradGuard no_grad;
    outs = fn(inputs);
  }
  if (!at::GradMode::is_enabled()) return outs;
  bool any_grad = false;
  std::vector<bool> input_grad(inputs.size(), false);
  std::vector<Edge> edges;
  edges.reserve(inputs.size() + params.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    input_grad[i] = inputs[i].defined() && inputs[i].requires_grad();
    any_grad |= input_grad[i];
    edges.push_back(input_grad[i] ? torch::autograd::impl::gradient_edge(inputs[i]) : Edge());
  }
  std::vector<at::Tensor> grad_params;
  for (const auto& p : params) {
    const bool g = p.defined() && p.requires_grad();
    any_grad |= g;
    edges.push_back(g ? torch::autograd::impl::gradient_edge(p) : Edge());
  }
  if (!any_grad) return outs;
  std::vector<at::Tensor> saved(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) saved[i] = inputs[i].detach();
  }
  auto node = std::shared_ptr<StepRecompute>(
      new StepRecompute(std::move(fn), std::move(saved), std::move(input_grad), params),
      torch::autograd::deleteNode);
  node->set_next_edges(std::move(edges));
  for (auto& o : outs) {
    if (o.defined() && at::isFloatingType(o.scalar_type())) {
      if (o.is_view()) o = o.clone();
      torch::autograd::set_history(o, node);
    } else {
      node->add_input_metadata(Node::undefined_input());
    }
  }
  return outs;
}

}  // namespace fc::models::hvrnn
