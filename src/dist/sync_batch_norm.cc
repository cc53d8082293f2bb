#include "dist/sync_batch_norm.h"

#include <torch/autograd.h>

#include <stdexcept>

namespace fc::dist {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// torch::autograd::Function records every tensor argument, which must therefore be defined: an
// absent optional tensor (no affine weight/bias, no running statistics) travels as an empty
// tensor and is turned back into an undefined one inside the function.
at::Tensor Optional(const at::Tensor& t) { return t.defined() && t.numel() > 0 ? t : at::Tensor(); }
at::Tensor Present(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t : at::empty({0}, like.options());
}

// Reduction dims of the canonical [N, K, S] layout.
const std::vector<int64_t> kNS = {0, 2};

at::ScalarType AccType(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

void Throw(const Status& s) {
  if (!s.ok()) throw std::runtime_error("SyncBatchNorm: " + s.ToString());
}

Communicator* CommFrom(AutogradContext* ctx) {
  return reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
}

struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  // x: [N, K, S]; weight, bias: [K] or undefined.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight_in,
                            const at::Tensor& bias_in, at::Tensor running_mean,
                            at::Tensor running_var, double eps, double momentum,
                            Communicator* comm) {
    const at::Tensor weight = Optional(weight_in), bias = Optional(bias_in);
    running_mean = Optional(running_mean);
    running_var = Optional(running_var);
    const int64_t K = x.size(1);
    const auto acc = AccType(x.scalar_type());
    at::Tensor xf = x.to(acc);
    const int64_t n_local = x.size(0) * x.size(2);
    // Local statistics per group: count, mean, M2 (sum of squared deviations).
    at::Tensor mean_l, m2_l;
    if (n_local > 0) {
      auto [var_l, m] = at::var_mean(xf, kNS, /*correction=*/0);  // one pass
      mean_l = m;
      m2_l = var_l * static_cast<double>(n_local);
    } else {
      mean_l = at::zeros({K}, xf.options());
      m2_l = at::zeros({K}, xf.options());
    }
    auto dopt = xf.options().dtype(at::kDouble);
    at::Tensor row = at::cat({mean_l.to(at::kDouble), m2_l.to(at::kDouble),
                              at::full({1}, static_cast<double>(n_local), dopt)});
    at::Tensor rows;
    if (comm != nullptr && comm->size() > 1) {
      rows = at::empty({comm->size(), 2 * K + 1}, dopt);
      Throw(comm->AllGather(row, rows)->Wait());
    } else {
      rows = row.view({1, 2 * K + 1});
    }
    // Merge (exact two-pass combination of per-rank moments), identical on every rank.
    at::Tensor means = rows.narrow(1, 0, K);
    at::Tensor m2s = rows.narrow(1, K, K);
    at::Tensor counts = rows.narrow(1, 2 * K, 1);  // [P, 1]
    // The global count stays a tensor: no host-device synchronisation in the forward.
    at::Tensor n = counts.sum();
    at::Tensor mean_d = (counts * means).sum(0) / n;
    at::Tensor m2_d = (m2s + counts * (means - mean_d).square()).sum(0);
    at::Tensor invstd_d = (m2_d / n + eps).rsqrt();
    if (running_mean.defined()) {
      torch::NoGradGuard ng;
      running_mean.mul_(1 - momentum).add_(mean_d.to(running_mean.scalar_type()), momentum);
      at::Tensor unbiased = m2_d / (n - 1).clamp_min(1);
      running_var.mul_(1 - momentum).add_(unbiased.to(running_var.scalar_type()), momentum);
    }
    at::Tensor mean = mean_d.to(acc), invstd = invstd_d.to(acc);
    // y = x * scale + shift with scale = invstd * w, shift = b - mean * scale (one fused pass).
    at::Tensor scale = weight.defined() ? invstd * weight.to(acc) : invstd;
    at::Tensor shift = -mean * scale;
    if (bias.defined()) shift = shift + bias.to(acc);
    at::Tensor y = at::addcmul(shift.view({1, K, 1}), xf, scale.view({1, K, 1}));
    ctx->save_for_backward({x, weight, mean, invstd, n.to(acc)});
    ctx->saved_data["comm"] = reinterpret_cast<int64_t>(comm);
    ctx->saved_data["has_bias"] = bias.defined();
    return y.to(x.scalar_type());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0], weight = saved[1], mean = saved[2], invstd = saved[3], n = saved[4];
    Communicator* comm = CommFrom(ctx);
    const int64_t K = x.size(1);
    const auto acc = mean.scalar_type();
    at::Tensor dy =
        grads[0].defined() ? grads[0].to(acc) : at::zeros(x.sizes(), x.options().dtype(acc));
    at::Tensor xmu = x.to(acc) - mean.view({1, K, 1});
    at::Tensor sums = at::cat(at::TensorList{dy.sum(kNS), (dy * xmu).sum(kNS)});  // [2K], local
    at::Tensor grad_weight, grad_bias;
    if (weight.defined()) grad_weight = (sums.narrow(0, K, K) * invstd).to(weight.scalar_type());
    if (ctx->saved_data["has_bias"].toBool()) grad_bias = sums.narrow(0, 0, K).clone();
    if (comm != nullptr && comm->size() > 1) Throw(comm->AllReduce(sums, ReduceOp::kSum)->Wait());
    at::Tensor mean_dy = (sums.narrow(0, 0, K) / n).view({1, K, 1});
    at::Tensor mean_dy_xmu = (sums.narrow(0, K, K) / n).view({1, K, 1});
    at::Tensor inv = invstd.view({1, K, 1});
    at::Tensor scale = weight.defined() ? inv * weight.to(acc).view({1, K, 1}) : inv;
    at::Tensor dx = (dy - mean_dy - xmu * inv.square() * mean_dy_xmu) * scale;
    if (grad_bias.defined() && weight.defined()) grad_bias = grad_bias.to(weight.scalar_type());
    return {dx.to(x.scalar_type()), grad_weight,  grad_bias,    at::Tensor(),
            at::Tensor(),           at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor SyncBatchNormTrain(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::Tensor running_mean, at::Tensor running_var, double eps,
                              double momentum, Communicator* comm) {
  return SyncBatchNormFunction::apply(x, Present(weight, x), Present(bias, x),
                                      Present(running_mean, x), Present(running_var, x), eps,
                                      momentum, comm);
}

SyncBatchNormImpl::SyncBatchNormImpl(const SyncBatchNormOptions& options_) : options(options_) {
  reset();
}

void SyncBatchNormImpl::reset() {
  const int64_t C = options.num_features();
  const int64_t K = C * std::max<int64_t>(1, options.time_steps());
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({C}));
    bias = register_parameter("bias", torch::zeros({C}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({K}));
    running_var = register_buffer("running_var", torch::ones({K}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

at::Tensor SyncBatchNormImpl::forward(const at::Tensor& input) {
  const int64_t C = options.num_features();
  const int64_t T = options.time_steps();
  const int64_t cdim = T > 0 ? 2 : 1;
  TORCH_CHECK(input.dim() > cdim && input.size(cdim) == C, "SyncBatchNorm: expected input with ", C,
              " channels at dim ", cdim, ", got ", input.sizes());
  if (T > 0) {
    TORCH_CHECK(input.size(1) == T, "SyncBatchNorm: configured for ", T, " time steps, got ",
                input.sizes());
  }
  // Canonical layout [N, K, S] (a view for contiguous inputs).
  const int64_t N = input.size(0);
  const int64_t K = T > 0 ? T * C : C;
  int64_t S = 1;  // explicit: a -1 is ambiguous for an empty local batch
  for (int64_t d = cdim + 1; d < input.dim(); ++d) S *= input.size(d);
  at::Tensor x = input.reshape({N, K, S});
  at::Tensor w, b;
  if (options.affine()) {
    w = T > 0 ? weight.repeat({T}) : weight;
    b = T > 0 ? bias.repeat({T}) : bias;
  }
  at::Tensor y;
  if (comm_ == nullptr) {
    // No communicator attached: exactly LibTorch's batch norm (its fused native kernels).
    const bool use_batch_stats = is_training() || !options.track_running_stats();
    if (is_training() && options.track_running_stats()) {
      torch::NoGradGuard ng;
      num_batches_tracked.add_(1);
    }
    y = at::batch_norm(x, w, b, running_mean, running_var, use_batch_stats, options.momentum(),
                       options.eps(), /*cudnn_enabled=*/true);
  } else if (is_training() || !options.track_running_stats()) {
    if (is_training() && options.track_running_stats()) {
      torch::NoGradGuard ng;
      num_batches_tracked.add_(1);
    }
    at::Tensor rm = (is_training() && options.track_running_stats()) ? running_mean : at::Tensor();
    at::Tensor rv = (is_training() && options.track_running_stats()) ? running_var : at::Tensor();
    y = SyncBatchNormTrain(x, w, b, rm, rv, options.eps(), options.momentum(),
                           is_training() ? comm_ : nullptr);
  } else {
    // Eval: running statistics, no collective.
    y = at::batch_norm(x, w, b, running_mean, running_var, /*training=*/false, 0.0, options.eps(),
                       /*cudnn_enabled=*/true);
  }
  return y.view(input.sizes());
}

int AttachSyncBatchNorm(torch::nn::Module& module, Communicator* comm) {
  int n = 0;
  if (auto* self = module.as<SyncBatchNormImpl>()) {
    self->set_communicator(comm);
    ++n;
  }
  for (const auto& m : module.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<SyncBatchNormImpl>()) {
      bn->set_communicator(comm);
      ++n;
    }
  }
  return n;
}

}  // namespace fc::dist
