#include "models/srvp/networks.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/init.h>

namespace fc::models::srvp {

namespace F = torch::nn::functional;
using framecast::SrvpConfig;

ConvBlockImpl::ConvBlockImpl(int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t p,
                             bool transposed, bool with_bn, Act a)
    : act(a) {
  // A bias only where no batch norm follows (the last layers).
  if (transposed) {
    deconv = register_module(
        "conv",
        torch::nn::ConvTranspose2d(
            torch::nn::ConvTranspose2dOptions(cin, cout, k).stride(s).padding(p).bias(!with_bn)));
  } else {
    conv = register_module(
        "conv", torch::nn::Conv2d(
                    torch::nn::Conv2dOptions(cin, cout, k).stride(s).padding(p).bias(!with_bn)));
  }
  if (with_bn) bn = register_module("bn", dist::SyncBatchNorm(cout));
}

at::Tensor ConvBlockImpl::forward(const at::Tensor& x) {
  at::Tensor y = conv ? conv->forward(x) : deconv->forward(x);
  if (bn) y = bn->forward(y);
  switch (act) {
    case kLeakyRelu:
      return F::leaky_relu(y, F::LeakyReLUFuncOptions().negative_slope(0.2));
    case kTanh:
      return at::tanh(y);
    case kSigmoid:
      return at::sigmoid(y);
    case kNone:
      return y;
  }
  return y;
}

namespace {

using Act = ConvBlockImpl::Act;

torch::nn::ModuleList Stage(std::initializer_list<ConvBlock> blocks) {
  torch::nn::ModuleList l;
  for (const auto& b : blocks) l->push_back(b);
  return l;
}

at::Tensor RunStage(torch::nn::ModuleListImpl& stage, at::Tensor x) {
  for (const auto& m : stage) x = m->as<ConvBlockImpl>()->forward(x);
  return x;
}

ConvBlock Conv3(int64_t cin, int64_t cout) {
  return ConvBlock(cin, cout, 3, 1, 1, false, true, Act::kLeakyRelu);
}

}  // namespace

EncoderImpl::EncoderImpl(const SrvpConfig& c) : backbone(c.backbone()) {
  const int64_t nf = c.base_filters(), nc = c.image_channels();
  stages = register_module("stages", torch::nn::ModuleList());
  if (backbone == SrvpConfig::DCGAN) {
    stages->push_back(Stage({ConvBlock(nc, nf, 4, 2, 1, false, false, Act::kLeakyRelu)}));
    stages->push_back(Stage({ConvBlock(nf, 2 * nf, 4, 2, 1, false, true, Act::kLeakyRelu)}));
    stages->push_back(Stage({ConvBlock(2 * nf, 4 * nf, 4, 2, 1, false, true, Act::kLeakyRelu)}));
    stages->push_back(Stage({ConvBlock(4 * nf, 8 * nf, 4, 2, 1, false, true, Act::kLeakyRelu)}));
  } else {
    stages->push_back(Stage({Conv3(nc, nf), Conv3(nf, nf)}));
    stages->push_back(Stage({Conv3(nf, 2 * nf), Conv3(2 * nf, 2 * nf)}));
    stages->push_back(Stage({Conv3(2 * nf, 4 * nf), Conv3(4 * nf, 4 * nf), Conv3(4 * nf, 4 * nf)}));
    stages->push_back(Stage({Conv3(4 * nf, 8 * nf), Conv3(8 * nf, 8 * nf), Conv3(8 * nf, 8 * nf)}));
  }
  out = register_module("out",
                        ConvBlock(8 * nf, c.frame_features(), 4, 1, 0, false, true, Act::kTanh));
}

EncoderOutput EncoderImpl::forward(const at::Tensor& frames) {
  EncoderOutput o;
  at::Tensor h = frames;
  const bool vgg = backbone == SrvpConfig::VGG;
  for (size_t i = 0; i < stages->size(); ++i) {
    if (vgg && i > 0) h = F::max_pool2d(h, F::MaxPool2dFuncOptions(2));
    h = RunStage(*stages[i]->as<torch::nn::ModuleListImpl>(), h);
    o.skips.push_back(h);
  }
  if (vgg) h = F::max_pool2d(h, F::MaxPool2dFuncOptions(2));
  o.features = out->forward(h).flatten(1);
  return o;
}

DecoderImpl::DecoderImpl(const SrvpConfig& c, int64_t input_size)
    : backbone(c.backbone()), skip(c.skip_connections()) {
  const int64_t nf = c.base_filters(), nc = c.image_channels(), m = skip ? 2 : 1;
  in = register_module("in", ConvBlock(input_size, 8 * nf, 4, 1, 0, true, true, Act::kLeakyRelu));
  stages = register_module("stages", torch::nn::ModuleList());
  if (backbone == SrvpConfig::DCGAN) {
    auto up = [](int64_t cin, int64_t cout) {
      return ConvBlock(cin, cout, 4, 2, 1, true, true, Act::kLeakyRelu);
    };
    stages->push_back(Stage({up(8 * nf * m, 4 * nf)}));
    stages->push_back(Stage({up(4 * nf * m, 2 * nf)}));
    stages->push_back(Stage({up(2 * nf * m, nf)}));
    stages->push_back(Stage({ConvBlock(nf * m, nc, 4, 2, 1, true, false, Act::kSigmoid)}));
  } else {
    stages->push_back(
        Stage({Conv3(8 * nf * m, 8 * nf), Conv3(8 * nf, 8 * nf), Conv3(8 * nf, 4 * nf)}));
    stages->push_back(
        Stage({Conv3(4 * nf * m, 4 * nf), Conv3(4 * nf, 4 * nf), Conv3(4 * nf, 2 * nf)}));
    stages->push_back(Stage({Conv3(2 * nf * m, 2 * nf), Conv3(2 * nf, nf)}));
    stages->push_back(
        Stage({Conv3(nf * m, nf), ConvBlock(nf, nc, 3, 1, 1, true, false, Act::kSigmoid)}));
  }
}

at::Tensor DecoderImpl::forward(const at::Tensor& input, const std::vector<at::Tensor>& skips) {
  at::Tensor h = in->forward(input.view({input.size(0), input.size(1), 1, 1}));
  const bool vgg = backbone == SrvpConfig::VGG;
  auto up2 = [](const at::Tensor& x) {
    return F::interpolate(x, F::InterpolateFuncOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kNearest));
  };
  if (vgg) h = up2(h);
  const size_t n = stages->size();
  for (size_t i = 0; i < n; ++i) {
    if (skip) h = at::cat({h, skips[n - 1 - i]}, 1);
    h = RunStage(*stages[i]->as<torch::nn::ModuleListImpl>(), h);
    if (vgg && i + 1 < n) h = up2(h);
  }
  return h;
}

MlpImpl::MlpImpl(int64_t in, int64_t hidden, int64_t out, int64_t layers) {
  linears = register_module("linears", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) {
    const int64_t a = i == 0 ? in : hidden, b = i + 1 == layers ? out : hidden;
    linears->push_back(torch::nn::Linear(a, b));
  }
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  at::Tensor h = x;
  for (size_t i = 0; i < linears->size(); ++i) {
    if (i > 0) h = at::relu(h);
    h = linears[i]->as<torch::nn::LinearImpl>()->forward(h);
  }
  return h;
}

void InitSrvpWeights(torch::nn::Module& m) {
  torch::NoGradGuard ng;
  for (auto& mod : m.modules(/*include_self=*/true)) {
    if (auto* c = mod->as<torch::nn::Conv2dImpl>()) {
      c->weight.normal_(0, 0.02);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* d = mod->as<torch::nn::ConvTranspose2dImpl>()) {
      d->weight.normal_(0, 0.02);
      if (d->bias.defined()) d->bias.zero_();
    } else if (auto* l = mod->as<torch::nn::LinearImpl>()) {
      l->weight.normal_(0, 0.02);
      if (l->bias.defined()) l->bias.zero_();
    } else if (auto* b = mod->as<dist::SyncBatchNormImpl>()) {
      if (b->weight.defined()) b->weight.normal_(1, 0.02);
      if (b->bias.defined()) b->bias.zero_();
    }
  }
}

}  // namespace fc::models::srvp
