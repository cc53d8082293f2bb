#include "models/hvrnn/hvrnn.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/pooling.h>

#include <cstdio>

#include "models/hvrnn/step_checkpoint.h"

namespace fc::models::hvrnn {

namespace nn = torch::nn;

// ---- encoder
// ---------------------------------------------------------------------------------------

EncoderImpl::EncoderImpl(const framecast::HvrnnConfig& c) {
  resolutions = EncoderResolutions(c.image_size());
  const int64_t n = static_cast<int64_t>(resolutions.size()), g = c.groups();
  auto w = [&](int64_t i) { return static_cast<int64_t>(c.encoder_widths(static_cast<int>(i))); };
  conv_in = register_module("conv_in",
                            nn::Conv2d(nn::Conv2dOptions(c.image_channels(), w(0), 3).padding(1)));
  stages = register_module("stages", nn::ModuleList());
  stages->push_back(nn::ModuleList(ResBlock(w(0), w(0), g)));
  for (int64_t i = 1; i < n - 2; ++i) {
    stages->push_back(nn::ModuleList(ResBlock(w(i - 1), w(i), g), ResBlock(w(i), w(i), g)));
  }
  stages->push_back(nn::ModuleList());  // 4x4: max-pool only
  stages->push_back(
      nn::ModuleList(ResBlock(w(n - 2), w(n - 1), g, 4), ResBlock(w(n - 1), w(n - 1), g)));
}

std::vector<at::Tensor> EncoderImpl::forward(const at::Tensor& frames) {
  std::vector<at::Tensor> out;
  at::Tensor h = conv_in(frames);
  for (size_t i = 0; i < resolutions.size(); ++i) {
    if (i > 0 && resolutions[i] != 1) h = at::max_pool2d(h, {2, 2}, {2, 2});
    for (const auto& block : *stages[i]->as<nn::ModuleList>())
      h = block->as<ResBlock>()->forward(h);
    out.push_back(h);
  }
  return out;
}

// ---- model
// -----------------------------------------------------------------------------------------

HvrnnImpl::HvrnnImpl(const framecast::HvrnnConfig& config) : config_(config) {
  const auto& c = config_;
  const int64_t g = c.groups();
  enc_res_ = EncoderResolutions(c.image_size());
  dec_res_.assign(enc_res_.rbegin(), enc_res_.rend());
  auto enc_w = [&](int64_t r) {
    return static_cast<int64_t>(c.encoder_widths(static_cast<int>(ResIndex(r))));
  };
  encoder = register_module("encoder", Encoder(c));
  prior = register_module("prior", nn::ModuleList());
  posterior = register_module("posterior", nn::ModuleList());
  prior_init = register_module("prior_init", nn::ModuleList());
  posterior_init = register_module("posterior_init", nn::ModuleList());
  for (int l = 0; l < c.latents_size(); ++l) {
    const auto& z = c.latents(l);
    int64_t zin = 0;
    for (int k = c.no_dense() ? std::max(0, l - 1) : 0; k < l; ++k) zin += c.latents(k).channels();
    const int64_t fe = enc_w(z.resolution());
    const bool gn_head = !c.no_gn_on_dist_head(), zero = !c.random_init_dist_head();
    prior->push_back(LatentNet(fe + zin, z.hidden(), z.channels(), z.kernel(), g, gn_head,
                               c.sigma_floor(), zero));
    posterior->push_back(LatentNet(fe * (c.posterior_sees_previous_frame() ? 2 : 1) + zin,
                                   z.hidden(), z.channels(), z.kernel(), g, gn_head,
                                   c.sigma_floor(), zero));
    prior_init->push_back(InitNet(fe * InitFrames(), z.hidden(), g));
    posterior_init->push_back(InitNet(fe * InitFrames(), z.hidden(), g));
  }
  dec_stages = register_module("dec_stages", nn::ModuleList());
  upconvs = register_module("upconvs", nn::ModuleList());
  dec_init = register_module("dec_init", nn::ModuleList());
  for (size_t j = 0; j < dec_res_.size(); ++j) {
    const int64_t r = dec_res_[j];
    const int64_t dw = c.decoder_widths(static_cast<int>(j));
    int64_t zin = 0;
    for (const auto& z : c.latents()) zin += z.resolution() == r ? z.channels() : 0;
    const int64_t cin = enc_w(r) + zin + (j > 0 ? dw : 0);
    const int64_t k = r == 1 ? c.decoder_top_kernel() : 3;
    if (j > 0) {
      upconvs->push_back(
          UpConv(c.decoder_widths(static_cast<int>(j - 1)), dw, g, dec_res_[j - 1] == 1));
    }
    if (c.decoder_recurrent(static_cast<int>(j))) {
      dec_stages->push_back(ConvLstmCell(cin, dw, k, g));
      dec_init->push_back(InitNet(enc_w(r) * InitFrames(), dw, g));
      dec_rec_index_.push_back(num_dec_rec_++);
    } else {
      dec_stages->push_back(ConvGnRelu(cin, dw, k, g));
      dec_rec_index_.push_back(-1);
    }
  }
  const int64_t last = c.decoder_widths(c.decoder_widths_size() - 1);
  out1 = register_module("out1", ConvGnRelu(last, last, 3, g));
  out2 = register_module("out2",
                         nn::Conv2d(nn::Conv2dOptions(last, c.image_channels(), 3).padding(1)));
}

int64_t HvrnnImpl::ResIndex(int64_t r) const {
  for (size_t i = 0; i < enc_res_.size(); ++i) {
    if (enc_res_[i] == r) return static_cast<int64_t>(i);
  }
  TORCH_CHECK(false, "Hvrnn: resolution ", r, " is not an encoder resolution");
}

int64_t HvrnnImpl::InitFrames() const {
  return config_.context_init() == framecast::HvrnnConfig::CONCAT ? config_.context_frames() : 1;
}

at::Tensor HvrnnImpl::ContextFeature(const at::Tensor& v, int64_t D) const {
  switch (config_.context_init()) {
    case framecast::HvrnnConfig::MEAN:
      return v.narrow(1, 0, D).mean(1);
    case framecast::HvrnnConfig::CONCAT:
      TORCH_CHECK(D == config_.context_frames(), "Hvrnn: context_init CONCAT was built for ",
                  config_.context_frames(), " context frames, got ", D);
      return v.narrow(1, 0, D).flatten(1, 2);  // [B, D * C, r, r], frame-major channels
    default:
      return v.select(1, D - 1);
  }
}

at::Tensor HvrnnImpl::Noise(const NoiseFn& noise, int64_t level, int64_t t, at::IntArrayRef shape,
                            const at::TensorOptions& opts) const {
  if (!noise) return at::randn(shape, opts);
  at::Tensor eps = noise(level, t, shape, opts);
  TORCH_CHECK(eps.sizes() == shape, "Hvrnn: NoiseFn returned ", eps.sizes(), " for level ", level,
              ", expected ", shape);
  return eps.to(opts);
}

std::vector<at::Tensor> HvrnnImpl::Upsampled(const std::vector<at::Tensor>& zs,
                                             int64_t level) const {
  std::vector<at::Tensor> out;
  const int64_t r = config_.latents(static_cast<int>(level)).resolution();
  for (int64_t k = config_.no_dense() ? std::max<int64_t>(0, level - 1) : 0; k < level; ++k) {
    const auto& z = zs[static_cast<size_t>(k)];
    out.push_back(z.size(2) == r ? z : at::upsample_nearest2d(z, {r, r}));
  }
  return out;
}

std::vector<at::Tensor> HvrnnImpl::InitialStates(const std::vector<at::Tensor>& ctx,
                                                 bool with_posterior) {
  const int64_t L = num_levels();
  std::vector<at::Tensor> s(static_cast<size_t>(4 * L + 2 * num_dec_rec_));
  for (int64_t l = 0; l < L; ++l) {
    const auto& f = ctx[ResIndex(config_.latents(static_cast<int>(l)).resolution())];
    std::tie(s[2 * l], s[2 * l + 1]) = prior_init[l]->as<InitNet>()->forward(f);
    if (with_posterior) {
      std::tie(s[2 * L + 2 * l], s[2 * L + 2 * l + 1]) =
          posterior_init[l]->as<InitNet>()->forward(f);
    }
  }
  for (size_t j = 0; j < dec_res_.size(); ++j) {
    const int64_t k = dec_rec_index_[j];
    if (k < 0) continue;
    std::tie(s[4 * L + 2 * k], s[4 * L + 2 * k + 1]) =
        dec_init[k]->as<InitNet>()->forward(ctx[ResIndex(dec_res_[j])]);
  }
  return s;
}

at::Tensor HvrnnImpl::Decode(const std::vector<at::Tensor>& prev, const std::vector<at::Tensor>& zs,
                             std::vector<at::Tensor>* state, size_t off) {
  at::Tensor h;
  for (size_t j = 0; j < dec_res_.size(); ++j) {
    const int64_t r = dec_res_[j];
    std::vector<at::Tensor> parts;
    if (j > 0) parts.push_back(upconvs[j - 1]->as<UpConv>()->forward(h));
    parts.push_back(prev[ResIndex(r)]);
    for (int l = 0; l < config_.latents_size(); ++l) {
      if (config_.latents(l).resolution() == r) parts.push_back(zs[l]);
    }
    at::Tensor x = at::cat(parts, 1);
    const int64_t k = dec_rec_index_[j];
    if (k >= 0) {
      auto& hs = (*state)[off + 2 * k];
      auto& cs = (*state)[off + 2 * k + 1];
      std::tie(hs, cs) = dec_stages[j]->as<ConvLstmCell>()->forward(x, hs, cs);
      h = hs;
    } else {
      h = dec_stages[j]->as<ConvGnRelu>()->forward(x);
    }
  }
  return out2(out1(h));
}

std::vector<at::Tensor> HvrnnImpl::TrainStep(const std::vector<at::Tensor>& in) {
  const size_t n = enc_res_.size(), L = static_cast<size_t>(num_levels());
  const auto first = in.begin();
  std::vector<at::Tensor> prev(first, first + n);
  std::vector<at::Tensor> state(first + n + 2 * L, in.end());
  std::vector<at::Tensor> zs, kls;
  for (size_t l = 0; l < L; ++l) {
    const auto& cur = in[n + l];
    const auto& eps = in[n + L + l];
    const int64_t ri = ResIndex(config_.latents(static_cast<int>(l)).resolution());
    auto up = Upsampled(zs, static_cast<int64_t>(l));
    std::vector<at::Tensor> qin;
    qin.push_back(cur);
    if (config_.posterior_sees_previous_frame()) qin.push_back(prev[ri]);
    qin.insert(qin.end(), up.begin(), up.end());
    std::vector<at::Tensor> pin;
    pin.push_back(prev[ri]);
    pin.insert(pin.end(), up.begin(), up.end());
    auto& ph = state[2 * l];
    auto& pc = state[2 * l + 1];
    auto& qh = state[2 * L + 2 * l];
    auto& qc = state[2 * L + 2 * l + 1];
    LatentNetOut q = posterior[l]->as<LatentNet>()->forward(at::cat(qin, 1), qh, qc);
    LatentNetOut p = prior[l]->as<LatentNet>()->forward(at::cat(pin, 1), ph, pc);
    qh = q.h, qc = q.c, ph = p.h, pc = p.c;
    zs.push_back(q.mu + q.sigma * eps);
    // The KL and its reductions in the noise's (the parameters') dtype, also under bf16 autocast.
    const auto f = eps.scalar_type();
    kls.push_back(GaussianKl(q.mu.to(f), q.sigma.to(f), p.mu.to(f), p.sigma.to(f)).sum({2, 3}));
  }
  at::Tensor logits = Decode(prev, zs, &state, 4 * L);
  std::vector<at::Tensor> out = std::move(state);
  out.insert(out.end(), kls.begin(), kls.end());
  out.push_back(logits);
  return out;
}

std::vector<at::Tensor> HvrnnImpl::StepParameters() {
  std::vector<at::Tensor> p;
  for (nn::Module* m :
       {static_cast<nn::Module*>(prior.get()), static_cast<nn::Module*>(posterior.get()),
        static_cast<nn::Module*>(dec_stages.get()), static_cast<nn::Module*>(upconvs.get()),
        static_cast<nn::Module*>(out1.get()), static_cast<nn::Module*>(out2.get())}) {
    for (const auto& t : m->parameters()) p.push_back(t);
  }
  return p;
}

TrainOutput HvrnnImpl::forward_train(const at::Tensor& clip, int64_t context, double beta,
                                     const NoiseFn& noise) {
  const auto& c = config_;
  TORCH_CHECK(clip.dim() == 5, "Hvrnn::forward_train: clip must be [B, D + T, C, H, W], got ",
              clip.sizes());
  const int64_t B = clip.size(0), N = clip.size(1), S = c.image_size();
  TORCH_CHECK(clip.size(2) == c.image_channels() && clip.size(3) == S && clip.size(4) == S,
              "Hvrnn::forward_train: clip frames are ", clip.sizes().slice(2),
              ", the model expects [", c.image_channels(), ", ", S, ", ", S, "]");
  TORCH_CHECK(context >= 1 && context < N, "Hvrnn::forward_train: context ", context,
              " must be in [1, ", N - 1, "]");
  const int64_t D = context, T = N - D, L = num_levels();
  const size_t n = enc_res_.size();

  // Teacher forcing: every frame is encoded once, in one batched call.
  auto flat = encoder(clip.reshape({B * N, clip.size(2), S, S}));
  std::vector<at::Tensor> feats, ctx;
  for (auto& f : flat) {
    feats.push_back(f.view({B, N, f.size(1), f.size(2), f.size(3)}));
    const auto& v = feats.back();
    ctx.push_back(ContextFeature(v, D));
  }
  std::vector<at::Tensor> state = InitialStates(ctx, /*with_posterior=*/true);
  const size_t n_state = state.size();
  const auto opts = clip.options();
  at::Tensor nll = at::zeros({B}, opts);
  std::vector<at::Tensor> kl_lv, kl_ch;
  for (int64_t l = 0; l < L; ++l) {
    kl_lv.push_back(at::zeros({B}, opts));
    kl_ch.push_back(at::zeros({c.latents(static_cast<int>(l)).channels()}, opts));
  }
  std::vector<at::Tensor> preds;
  std::vector<at::Tensor> params;
  if (c.checkpoint_activations()) params = StepParameters();
  for (int64_t t = 0; t < T; ++t) {
    std::vector<at::Tensor> in;
    in.reserve(n + 2 * L + n_state);
    for (size_t i = 0; i < n; ++i) in.push_back(feats[i].select(1, D - 1 + t));
    for (int64_t l = 0; l < L; ++l) {
      const int64_t r = c.latents(static_cast<int>(l)).resolution();
      in.push_back(feats[ResIndex(r)].select(1, D + t));
    }
    for (int64_t l = 0; l < L; ++l) {
      const auto& z = c.latents(static_cast<int>(l));
      in.push_back(Noise(noise, l, t, {B, z.channels(), z.resolution(), z.resolution()}, opts));
    }
    in.insert(in.end(), state.begin(), state.end());
    std::vector<at::Tensor> out =
        c.checkpoint_activations()
            ? CheckpointedCall([this](const std::vector<at::Tensor>& x) { return TrainStep(x); },
                               in, params)
            : TrainStep(in);
    state.assign(out.begin(), out.begin() + static_cast<int64_t>(n_state));
    // The likelihood in the clip's dtype (logits are bf16 under autocast).
    const at::Tensor logits = out.back().to(clip.scalar_type());
    const at::Tensor x = clip.select(1, D + t);
    if (c.likelihood() == framecast::HvrnnConfig::BERNOULLI) {
      nll = nll + at::binary_cross_entropy_with_logits(logits, x, {}, {}, at::Reduction::None)
                      .sum({1, 2, 3});
    } else {
      const double s2 = c.gaussian_sigma() * c.gaussian_sigma();
      nll = nll + 0.5 * (x - at::sigmoid(logits)).pow(2).sum({1, 2, 3}) / s2;
    }
    for (int64_t l = 0; l < L; ++l) {
      const at::Tensor& k = out[n_state + static_cast<size_t>(l)];  // [B, C_l]
      kl_lv[l] = kl_lv[l] + k.sum(1);
      kl_ch[l] = kl_ch[l] + k.detach().sum(0);
    }
    preds.push_back(at::sigmoid(logits).detach());
  }
  at::Tensor kl = kl_lv[0];
  for (int64_t l = 1; l < L; ++l) kl = kl + kl_lv[l];
  TrainOutput o;
  o.loss = (nll + beta * kl).mean();
  o.nll_per_sample = nll;
  o.kl_per_sample = kl;
  o.nll = nll.detach().mean();
  o.kl = kl.detach().mean();
  for (int64_t l = 0; l < L; ++l) {
    const int64_t r = c.latents(static_cast<int>(l)).resolution();
    o.kl_per_level.push_back(kl_lv[l].detach().mean());
    o.kl_per_channel.push_back(kl_ch[l] / static_cast<double>(B * T * r * r));
  }
  o.predictions = at::stack(preds, 1);
  return o;
}

at::Tensor HvrnnImpl::generate(const at::Tensor& context_frames, int64_t horizon,
                               const NoiseFn& noise) {
  at::NoGradGuard no_grad;
  const auto& c = config_;
  TORCH_CHECK(context_frames.dim() == 5 && context_frames.size(1) >= 1,
              "Hvrnn::generate: context_frames must be [B, D >= 1, C, H, W], got ",
              context_frames.sizes());
  const int64_t B = context_frames.size(0), D = context_frames.size(1), S = c.image_size();
  TORCH_CHECK(context_frames.size(2) == c.image_channels() && context_frames.size(3) == S &&
                  context_frames.size(4) == S,
              "Hvrnn::generate: frames are ", context_frames.sizes().slice(2),
              ", the model expects [", c.image_channels(), ", ", S, ", ", S, "]");
  TORCH_CHECK(horizon >= 0, "Hvrnn::generate: horizon must be >= 0");
  const int64_t L = num_levels();
  auto flat = encoder(context_frames.reshape({B * D, c.image_channels(), S, S}));
  std::vector<at::Tensor> ctx, prev;
  for (auto& f : flat) {
    auto v = f.view({B, D, f.size(1), f.size(2), f.size(3)});
    ctx.push_back(ContextFeature(v, D));
    prev.push_back(v.select(1, D - 1));
  }
  std::vector<at::Tensor> state = InitialStates(ctx, /*with_posterior=*/false);
  std::vector<at::Tensor> frames;
  const auto opts = context_frames.options();
  for (int64_t t = 0; t < horizon; ++t) {
    std::vector<at::Tensor> zs;
    for (int64_t l = 0; l < L; ++l) {
      const auto& z = c.latents(static_cast<int>(l));
      auto up = Upsampled(zs, l);
      std::vector<at::Tensor> pin;
      pin.push_back(prev[ResIndex(z.resolution())]);
      pin.insert(pin.end(), up.begin(), up.end());
      LatentNetOut p =
          prior[l]->as<LatentNet>()->forward(at::cat(pin, 1), state[2 * l], state[2 * l + 1]);
      state[2 * l] = p.h;
      state[2 * l + 1] = p.c;
      zs.push_back(p.mu + p.sigma * Noise(noise, l, t,
                                          {B, z.channels(), z.resolution(), z.resolution()}, opts));
    }
    at::Tensor x = at::sigmoid(Decode(prev, zs, &state, static_cast<size_t>(4 * L)));
    frames.push_back(x);
    if (t + 1 < horizon) prev = encoder(x);
  }
  if (frames.empty()) return at::empty({B, 0, c.image_channels(), S, S}, opts);
  return at::stack(frames, 1);
}

// ---- summaries
// -------------------------------------------------------------------------------------

int64_t CountParameters(nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::string ParameterSummary(HvrnnImpl& m) {
  std::string out;
  char line[160];
  auto row = [&](const std::string& name, int64_t count) {
    std::snprintf(line, sizeof(line), "%-34s %12lld %9.2fM\n", name.c_str(),
                  static_cast<long long>(count), static_cast<double>(count) / 1e6);
    out += line;
  };
  std::snprintf(line, sizeof(line), "%-34s %12s %10s\n", "module", "parameters", "millions");
  out += line;
  int64_t total = 0;
  auto add = [&](const std::string& name, int64_t count) {
    row(name, count);
    total += count;
  };
  add("encoder", CountParameters(*m.encoder));
  int64_t dec = CountParameters(*m.dec_stages) + CountParameters(*m.upconvs) +
                CountParameters(*m.out1) + CountParameters(*m.out2);
  add("decoder", dec);
  const auto& c = m.config();
  for (int l = 0; l < c.latents_size(); ++l) {
    const auto& z = c.latents(l);
    const std::string tag = " level " + std::to_string(l + 1) + " (" +
                            std::to_string(z.resolution()) + "x" + std::to_string(z.resolution()) +
                            ":" + std::to_string(z.channels()) + ")";
    add("prior" + tag, CountParameters(*m.prior[l]));
    add("posterior" + tag, CountParameters(*m.posterior[l]));
  }
  add("init nets", CountParameters(*m.prior_init) + CountParameters(*m.posterior_init) +
                       CountParameters(*m.dec_init));
  row("total", total);
  return out;
}

}  // namespace fc::models::hvrnn
