#include "nn/spectral_norm.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/nn/init.h>

#include <cmath>

#include "nn/init.h"

namespace fc::nn {

namespace {

at::Tensor Normalized(const at::Tensor& x, double eps) { return x / x.norm().clamp_min(eps); }

// PyTorch's default layer initialisation (kaiming-uniform weights, uniform bias), so a layer is
// usable without InitOrthogonal; the models re-initialise orthogonally.
void DefaultInit(at::Tensor& weight, at::Tensor& bias, int64_t fan_in) {
  if (weight.is_meta()) return;
  torch::NoGradGuard ng;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

}  // namespace

void SpectralNorm::Register(torch::nn::Module* owner, int64_t rows,
                            const SpectralNormOptions& opts) {
  options = opts;
  TORCH_CHECK(opts.num_iters() >= 1, "SpectralNorm: num_iters must be >= 1, got ",
              opts.num_iters());
  if (!opts.enabled()) return;
  u = owner->register_buffer("u", Normalized(at::randn({rows}), opts.eps()));
  sv = owner->register_buffer("sv", at::ones({}));
}

at::Tensor SpectralNorm::Apply(const at::Tensor& weight, bool training) {
  if (!options.enabled()) return weight;
  // Weight arithmetic in the weight's dtype, also inside bf16 autocast (whose bf16 mv would
  // otherwise meet an fp32 vector in dot); the layer's own conv / linear is still autocast.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  at::Tensor mat = weight.reshape({weight.size(0), -1});
  at::Tensor u_it, v_it;
  {
    torch::NoGradGuard ng;
    at::Tensor w = mat.detach();
    u_it = u.to(w.scalar_type());
    for (int i = 0; i < options.num_iters(); ++i) {
      v_it = Normalized(at::mv(w.t(), u_it), options.eps());
      u_it = Normalized(at::mv(w, v_it), options.eps());
    }
    if (training) u.copy_(u_it);
  }
  at::Tensor sigma = at::dot(u_it, at::mv(mat, v_it));
  if (training) {
    torch::NoGradGuard ng;
    sv.copy_(sigma.detach());
  }
  return weight / sigma;
}

// ---- SNLinear ----------------------------------------------------------------------------------

SNLinearImpl::SNLinearImpl(const SNLinearOptions& o) : options(o) { reset(); }

void SNLinearImpl::reset() {
  weight = register_parameter("weight",
                              NewParameterTensor({options.out_features(), options.in_features()}));
  bias = options.bias() ? register_parameter("bias", NewParameterTensor({options.out_features()}))
                        : at::Tensor();
  DefaultInit(weight, bias, options.in_features());
  sn.Register(this, options.out_features(), options.sn());
}

at::Tensor SNLinearImpl::forward(const at::Tensor& x) {
  return at::linear(x, sn.Apply(weight, is_training()), bias);
}

// ---- SNConv2d ----------------------------------------------------------------------------------

SNConv2dImpl::SNConv2dImpl(const SNConv2dOptions& o) : options(o) { reset(); }

void SNConv2dImpl::reset() {
  const auto& k = *options.kernel_size();
  weight = register_parameter(
      "weight", NewParameterTensor({options.out_channels(), options.in_channels(), k[0], k[1]}));
  bias = options.bias() ? register_parameter("bias", NewParameterTensor({options.out_channels()}))
                        : at::Tensor();
  DefaultInit(weight, bias, options.in_channels() * k[0] * k[1]);
  sn.Register(this, options.out_channels(), options.sn());
}

at::Tensor SNConv2dImpl::forward(const at::Tensor& x) {
  return at::conv2d(x, sn.Apply(weight, is_training()), bias, /*stride=*/1, *options.padding());
}

// ---- SNConv3d ----------------------------------------------------------------------------------

SNConv3dImpl::SNConv3dImpl(const SNConv3dOptions& o) : options(o) { reset(); }

void SNConv3dImpl::reset() {
  const auto& k = *options.kernel_size();
  weight = register_parameter(
      "weight",
      NewParameterTensor({options.out_channels(), options.in_channels(), k[0], k[1], k[2]}));
  bias = options.bias() ? register_parameter("bias", NewParameterTensor({options.out_channels()}))
                        : at::Tensor();
  DefaultInit(weight, bias, options.in_channels() * k[0] * k[1] * k[2]);
  sn.Register(this, options.out_channels(), options.sn());
}

at::Tensor SNConv3dImpl::forward(const at::Tensor& x) {
  return at::conv3d(x, sn.Apply(weight, is_training()), bias, /*stride=*/1, *options.padding());
}

// ---- SNEmbedding -------------------------------------------------------------------------------

SNEmbeddingImpl::SNEmbeddingImpl(const SNEmbeddingOptions& o) : options(o) { reset(); }

void SNEmbeddingImpl::reset() {
  weight = register_parameter(
      "weight", NewParameterTensor({options.num_embeddings(), options.embedding_dim()}));
  if (!weight.is_meta()) {
    torch::NoGradGuard ng;
    weight.normal_();
  }
  sn.Register(this, options.num_embeddings(), options.sn());
}

at::Tensor SNEmbeddingImpl::forward(const at::Tensor& indices) {
  return at::embedding(sn.Apply(weight, is_training()), indices);
}

}  // namespace fc::nn
