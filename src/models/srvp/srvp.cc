#include "models/srvp/srvp.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace fc::models::srvp {

using framecast::SrvpConfig;

namespace {

// Standard deviation of a Gaussian head's raw output.
at::Tensor Scale(const at::Tensor& raw) { return torch::nn::functional::softplus(raw) + 1e-8; }

}  // namespace

at::Tensor GaussianKl(const at::Tensor& mq, const at::Tensor& sq, const at::Tensor& mp,
                      const at::Tensor& sp) {
  return at::log(sp / sq) + (sq * sq + (mq - mp) * (mq - mp)) / (2 * sp * sp) - 0.5;
}

SrvpImpl::SrvpImpl(const SrvpConfig& config) : config_(config) {
  const SrvpConfig& c = config_;
  const int64_t nhx = c.frame_features(), ny = c.state_size(), nz = c.noise_size();
  const int64_t nh = c.inference_hidden(), k = c.content_frames();
  if (k < 1) throw std::invalid_argument("model.srvp.content_frames: must be >= 1");
  const int64_t nw = c.no_content() ? 0 : nh;
  encoder = register_module("encoder", Encoder(c));
  decoder = register_module("decoder", Decoder(c, nw + ny));
  q_y = register_module("q_y", Mlp(k * nhx, nh, 2 * ny, c.inference_layers()));
  if (!c.no_noise()) {
    inf_z = register_module("inf_z",
                            torch::nn::LSTM(torch::nn::LSTMOptions(nhx, nh).batch_first(true)));
    q_z = register_module("q_z", torch::nn::Linear(nh, 2 * nz));
    p_z = register_module("p_z", Mlp(ny, c.residual_hidden(), 2 * nz, c.residual_layers()));
  }
  if (c.dynamics() == SrvpConfig::GRU) {
    gru = register_module("gru", torch::nn::GRUCell(nz, ny));
  } else {
    dynamics = register_module("dynamics", Mlp(ny + (c.no_noise() ? 0 : nz), c.residual_hidden(),
                                               ny, c.residual_layers()));
  }
  if (!c.no_content()) {
    w_proj = register_module("w_proj", torch::nn::Linear(nhx, nh));
    w_inf = register_module("w_inf", torch::nn::Linear(nh, nh));
  }
  // Spec 2.6: N(0, 0.02) in the encoder and decoder, orthogonal f with gain res_gain, framework
  // defaults elsewhere.
  InitSrvpWeights(*encoder);
  InitSrvpWeights(*decoder);
  if (dynamics) {
    torch::NoGradGuard ng;
    for (const auto& m : *dynamics->linears) {
      auto* l = m->as<torch::nn::LinearImpl>();
      torch::nn::init::orthogonal_(l->weight, c.residual_gain());
      l->bias.zero_();
    }
  }
}

at::Tensor SrvpImpl::Draw(const NoiseFn& noise, Site site, int64_t t, at::IntArrayRef shape,
                          const at::TensorOptions& o) const {
  return noise ? noise(site, t, shape, o).to(o) : at::randn(shape, o);
}

at::Tensor SrvpImpl::Content(const at::Tensor& feats) {
  return at::tanh(w_inf->forward(at::relu(w_proj->forward(feats)).sum(1)));
}

at::Tensor SrvpImpl::Advance(at::Tensor y, const at::Tensor& z, int64_t steps, at::Tensor* penalty,
                             std::vector<at::Tensor>* states) {
  const double dt = 1.0 / static_cast<double>(steps);
  for (int64_t s = 0; s < steps; ++s) {
    at::Tensor next;
    if (gru) {
      next = gru->forward(z, y);
    } else {
      at::Tensor in = z.defined() ? at::cat({y, z}, 1) : y;
      at::Tensor f = dynamics->forward(in);
      next = config_.dynamics() == SrvpConfig::RESIDUAL ? y + dt * f : f;
    }
    if (penalty) *penalty = *penalty + (next - y).norm(2, {1});
    y = next;
    if (states) states->push_back(y);
  }
  return y;
}

at::Tensor SrvpImpl::Decode(const at::Tensor& ys, const at::Tensor& w,
                            const std::vector<at::Tensor>& skips) {
  const int64_t B = ys.size(0), N = ys.size(1);
  at::Tensor in = ys;
  if (w.defined()) in = at::cat({w.unsqueeze(1).expand({B, N, w.size(1)}), ys}, 2);
  std::vector<at::Tensor> rep;
  for (const auto& s : skips) {
    std::vector<int64_t> shape = {B, N};
    for (int64_t d = 1; d < s.dim(); ++d) shape.push_back(s.size(d));
    rep.push_back(s.unsqueeze(1).expand(shape).flatten(0, 1));
  }
  at::Tensor x = decoder->forward(in.flatten(0, 1), rep);
  return x.view({B, N, x.size(1), x.size(2), x.size(3)});
}

TrainOutput SrvpImpl::forward_train(const at::Tensor& clip, const NoiseFn& noise) {
  const SrvpConfig& c = config_;
  const int64_t B = clip.size(0), T = clip.size(1), k = c.content_frames();
  const int64_t nhx = c.frame_features(), ny = c.state_size(), nz = c.noise_size();
  if (T <= k)
    throw std::invalid_argument("srvp: a training clip needs more than content_frames frames");
  EncoderOutput enc = encoder->forward(clip.flatten(0, 1));
  at::Tensor feats = enc.features.view({B, T, nhx});
  const auto opts = feats.options();

  auto qy = q_y->forward(feats.narrow(1, 0, k).reshape({B, k * nhx})).chunk(2, -1);
  at::Tensor mu_y = qy[0], s_y = Scale(qy[1]);
  at::Tensor y = mu_y + s_y * Draw(noise, Site::kY1, 0, {B, ny}, opts);
  at::Tensor kl_y = GaussianKl(mu_y, s_y, at::zeros_like(mu_y), at::ones_like(s_y)).sum(1);

  at::Tensor w;
  if (!c.no_content()) {
    at::Tensor idx = Draw(noise, Site::kContentOrder, 0, {B, T}, opts)
                         .argsort(/*dim=*/static_cast<int64_t>(1))
                         .narrow(1, 0, k);
    w = Content(feats.gather(1, idx.unsqueeze(-1).expand({B, k, nhx})));
  }
  at::Tensor hz;
  if (!c.no_noise()) hz = std::get<0>(inf_z->forward(feats));

  at::Tensor penalty = at::zeros({B}, opts), kl_z = at::zeros({B}, opts);
  std::vector<at::Tensor> states = {y};
  for (int64_t t = 1; t < T; ++t) {
    at::Tensor z;
    if (!c.no_noise()) {
      auto q = q_z->forward(hz.select(1, t)).chunk(2, -1);
      at::Tensor mq = q[0], sq = Scale(q[1]);
      z = mq + sq * Draw(noise, Site::kZ, t, {B, nz}, opts);
      auto p = p_z->forward(y).chunk(2, -1);
      kl_z = kl_z + GaussianKl(mq, sq, p[0], Scale(p[1])).sum(1);
    }
    y = Advance(y, z, c.euler_steps(), &penalty, nullptr);
    states.push_back(y);
  }
  std::vector<at::Tensor> skips;
  if (c.skip_connections()) {
    at::Tensor f = Draw(noise, Site::kSkipFrame, 0, {B, T}, opts).argmax(1);
    at::Tensor rows = at::arange(B, f.options()) * T + f;
    for (const auto& s : enc.skips) skips.push_back(s.index_select(0, rows));
  }
  at::Tensor xhat = Decode(at::stack(states, 1), w, skips);

  const double sigma = c.obs_scale();
  const double constant = std::log(sigma) + 0.5 * std::log(2 * M_PI);
  at::Tensor diff = (clip - xhat) / sigma;
  at::Tensor nll = (0.5 * diff * diff + constant).flatten(1).sum(1);
  at::Tensor per = nll + c.beta_y() * kl_y + c.beta_z() * kl_z + c.residual_penalty() * penalty;
  TrainOutput o;
  o.loss = per.mean();
  o.nll_per_sample = nll;
  o.kl_per_sample = kl_y + kl_z;
  {
    at::NoGradGuard ng;
    o.nll = nll.mean().detach();
    o.kl_y = kl_y.mean().detach();
    o.kl_z = kl_z.mean().detach();
    o.residual = penalty.mean().detach();
    o.predictions = xhat.detach();
  }
  return o;
}

at::Tensor SrvpImpl::generate(const at::Tensor& context, int64_t horizon, const NoiseFn& noise,
                              int64_t euler_steps, bool every_substep) {
  torch::NoGradGuard ng;
  const SrvpConfig& c = config_;
  const int64_t B = context.size(0), C0 = context.size(1), k = c.content_frames();
  const int64_t nhx = c.frame_features(), ny = c.state_size(), nz = c.noise_size();
  const int64_t steps = euler_steps > 0 ? euler_steps : c.euler_steps();
  if (C0 < k) throw std::invalid_argument("srvp: generation needs at least content_frames frames");
  if (steps != c.euler_steps() && c.dynamics() != SrvpConfig::RESIDUAL)
    throw std::invalid_argument("srvp: another dt needs dynamics RESIDUAL");
  EncoderOutput enc = encoder->forward(context.flatten(0, 1));
  at::Tensor feats = enc.features.view({B, C0, nhx});
  const auto opts = feats.options();
  auto qy = q_y->forward(feats.narrow(1, 0, k).reshape({B, k * nhx})).chunk(2, -1);
  at::Tensor y = qy[0] + Scale(qy[1]) * Draw(noise, Site::kY1, 0, {B, ny}, opts);
  at::Tensor w;
  if (!c.no_content()) w = Content(feats.narrow(1, C0 - k, k));
  std::vector<at::Tensor> skips;
  if (c.skip_connections()) {
    at::Tensor rows =
        at::arange(B, at::TensorOptions().dtype(at::kLong).device(opts.device())) * C0 + (C0 - 1);
    for (const auto& s : enc.skips) skips.push_back(s.index_select(0, rows));
  }
  at::Tensor hz;
  if (!c.no_noise()) hz = std::get<0>(inf_z->forward(feats));
  for (int64_t t = 1; t < C0; ++t) {
    at::Tensor z;
    if (!c.no_noise()) {
      auto q = q_z->forward(hz.select(1, t)).chunk(2, -1);
      z = q[0] + Scale(q[1]) * Draw(noise, Site::kZ, t, {B, nz}, opts);
    }
    y = Advance(y, z, steps, nullptr, nullptr);
  }
  std::vector<at::Tensor> states;
  for (int64_t t = C0; t < C0 + horizon; ++t) {
    at::Tensor z;
    if (!c.no_noise()) {
      auto p = p_z->forward(y).chunk(2, -1);
      z = p[0] + Scale(p[1]) * Draw(noise, Site::kZ, t, {B, nz}, opts);
    }
    y = Advance(y, z, steps, nullptr, every_substep ? &states : nullptr);
    if (!every_substep) states.push_back(y);
  }
  if (states.empty())
    return at::empty({B, 0, context.size(2), context.size(3), context.size(4)}, context.options());
  return Decode(at::stack(states, 1), w, skips).clamp(0, 1);
}

int64_t CountParameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::string ParameterSummary(SrvpImpl& m) {
  std::string out;
  char line[160];
  auto row = [&](const std::string& name, int64_t count) {
    std::snprintf(line, sizeof(line), "%-34s %12lld %9.2fM\n", name.c_str(),
                  static_cast<long long>(count), static_cast<double>(count) / 1e6);
    out += line;
  };
  std::snprintf(line, sizeof(line), "%-34s %12s %10s\n", "module", "parameters", "millions");
  out += line;
  const auto& c = m.config();
  const char* backbone = c.backbone() == SrvpConfig::VGG ? "vgg" : "dcgan";
  int64_t total = 0;
  auto add = [&](const std::string& name, const torch::nn::Module* mod) {
    if (!mod) return;
    const int64_t n = CountParameters(*mod);
    row(name, n);
    total += n;
  };
  add(std::string("encoder h (") + backbone + ")", m.encoder.get());
  add(std::string("decoder g (") + backbone + (c.skip_connections() ? ", skips)" : ")"),
      m.decoder.get());
  add("q(y_1) MLP", m.q_y.get());
  if (m.inf_z) {
    row("q(z) LSTM + head", CountParameters(*m.inf_z) + CountParameters(*m.q_z));
    total += CountParameters(*m.inf_z) + CountParameters(*m.q_z);
    add("p(z | y) MLP", m.p_z.get());
  }
  const char* dyn = c.dynamics() == SrvpConfig::GRU   ? "dynamics (GRU)"
                    : c.dynamics() == SrvpConfig::MLP ? "dynamics f (MLP)"
                                                      : "dynamics f (residual)";
  if (m.gru) add(dyn, m.gru.get());
  if (m.dynamics) add(dyn, m.dynamics.get());
  if (m.w_proj) {
    const int64_t n = CountParameters(*m.w_proj) + CountParameters(*m.w_inf);
    row("content c", n);
    total += n;
  }
  row("total", total);
  return out;
}

}  // namespace fc::models::srvp
