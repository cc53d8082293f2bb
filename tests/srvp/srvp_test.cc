// SRVP model contracts (models/srvp): config rules, shapes, the loss against its parts, the
// closed-form KL, noise-keyed determinism, dt/2 generation, and one training step against the
// PyTorch peer written from the spec (same weights, same noise, float64).
#include "models/srvp/srvp.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "config/run_config.h"
#include "models/srvp/config.h"
#include "train/family.h"
#include "train/srvp_family.h"
#include "util/files.h"

namespace fc::testing {
namespace {

using framecast::SrvpConfig;
using models::srvp::Site;

SrvpConfig Tiny(bool skip = true, SrvpConfig::Backbone b = SrvpConfig::DCGAN) {
  SrvpConfig c;
  c.set_backbone(b);
  c.set_base_filters(4);
  c.set_frame_features(8);
  c.set_state_size(5);
  c.set_noise_size(3);
  c.set_inference_hidden(8);
  c.set_residual_hidden(8);
  c.set_residual_layers(2);
  c.set_content_frames(2);
  c.set_skip_connections(skip);
  c.set_obs_scale(0.5);
  models::srvp::ApplySrvpDefaults(&c);
  return c;
}

// Noise that records every draw (site, t) and replays from a seeded generator.
struct Recorder {
  std::map<std::string, at::Tensor> draws;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(11);
  models::srvp::NoiseFn fn() {
    return [this](Site s, int64_t t, at::IntArrayRef shape, const at::TensorOptions& o) {
      at::Tensor v = at::randn(shape, gen, at::kDouble);
      draws["noise/" + std::to_string(static_cast<int>(s)) + "/" + std::to_string(t)] = v;
      return v.to(o);
    };
  }
};

TEST(SrvpConfig, DefaultsAndOneLineErrorsNamingTheField) {
  SrvpConfig c;
  models::srvp::ApplySrvpDefaults(&c);
  EXPECT_EQ(c.base_filters(), 64);
  EXPECT_EQ(c.frame_features(), 128);
  EXPECT_EQ(c.residual_hidden(), 512);
  EXPECT_EQ(c.residual_layers(), 4);
  EXPECT_DOUBLE_EQ(c.residual_penalty(), 1.0);
  EXPECT_DOUBLE_EQ(c.residual_gain(), 1.41);
  EXPECT_TRUE(models::srvp::ValidateSrvp(c).ok());
  struct Case {
    std::function<void(SrvpConfig*)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](SrvpConfig* s) { s->set_image_size(32); }, "model.srvp.image_size=32"},
      {[](SrvpConfig* s) { s->set_image_channels(2); }, "model.srvp.image_channels=2"},
      {[](SrvpConfig* s) { s->set_state_size(-1); }, "model.srvp.state_size=-1"},
      {[](SrvpConfig* s) { s->set_noise_size(100000); }, "model.srvp.noise_size=100000"},
      {[](SrvpConfig* s) { s->set_euler_steps(65); }, "model.srvp.euler_steps=65"},
      {[](SrvpConfig* s) {
         s->set_dynamics(SrvpConfig::MLP);
         s->set_euler_steps(2);
       },
       "model.srvp.euler_steps=2"},
      {[](SrvpConfig* s) { s->set_residual_penalty(-1); }, "model.srvp.residual_penalty=-1"},
      {[](SrvpConfig* s) { s->set_beta_z(NAN); }, "model.srvp.beta_z=nan"},
      {[](SrvpConfig* s) { s->set_obs_scale(-0.5); }, "model.srvp.obs_scale=-0.5"},
      {[](SrvpConfig* s) { s->set_inference_layers(17); }, "model.srvp.inference_layers=17"},
      {[](SrvpConfig* s) { s->set_dynamics(static_cast<SrvpConfig::Dynamics>(9)); },
       "model.srvp.dynamics=9"},
  };
  for (const auto& k : cases) {
    SrvpConfig bad;
    k.edit(&bad);
    Status st = models::srvp::ValidateSrvp(bad);
    ASSERT_FALSE(st.ok()) << k.field;
    EXPECT_EQ(st.message().rfind(k.field, 0), 0u) << st.message();
    EXPECT_EQ(st.message().find('\n'), std::string::npos) << st.message();
  }
}

TEST(SrvpModel, ShapesOfTrainingAndGenerationForBothBackbones) {
  for (auto backbone : {SrvpConfig::DCGAN, SrvpConfig::VGG}) {
    for (bool skip : {false, true}) {
      torch::manual_seed(1);
      models::srvp::Srvp m(Tiny(skip, backbone));
      at::Tensor clip = at::rand({3, 6, 1, 64, 64});
      auto o = m->forward_train(clip);
      EXPECT_EQ(o.loss.dim(), 0);
      EXPECT_EQ(o.predictions.sizes(), clip.sizes());
      EXPECT_EQ(o.nll_per_sample.sizes(), (at::IntArrayRef{3}));
      EXPECT_TRUE(std::isfinite(o.loss.item<double>()));
      o.loss.backward();
      for (const auto& p : m->named_parameters())
        ASSERT_TRUE(p.value().grad().defined()) << p.key() << " has no gradient";
      m->eval();
      at::Tensor g = m->generate(clip.narrow(1, 0, 3), 4);
      EXPECT_EQ(g.sizes(), (at::IntArrayRef{3, 4, 1, 64, 64}));
      EXPECT_GE(g.min().item<double>(), 0.0);
      EXPECT_LE(g.max().item<double>(), 1.0);
    }
  }
}

TEST(SrvpModel, LossIsTheSumOfItsPartsAndTheKlIsClosedForm) {
  torch::manual_seed(2);
  SrvpConfig c = Tiny();
  c.set_beta_y(0.5);
  c.set_beta_z(2.0);
  c.set_residual_penalty(0.25);
  models::srvp::Srvp m(c);
  m->to(at::kDouble);
  at::Tensor clip = at::rand({2, 5, 1, 64, 64}, at::kDouble);
  auto o = m->forward_train(clip);
  const double want = (o.nll + 0.5 * o.kl_y + 2.0 * o.kl_z + 0.25 * o.residual).item<double>();
  EXPECT_NEAR(o.loss.item<double>(), want, 1e-9 * std::abs(want));
  // NLL of the decoded means: 0.5 ((x - g) / s)^2 + log s + log(2 pi) / 2 per pixel.
  at::Tensor d = (clip - o.predictions) / 0.5;
  const double nll =
      (0.5 * d * d + std::log(0.5) + 0.5 * std::log(2 * M_PI)).sum().item<double>() / 2;
  EXPECT_NEAR(o.nll.item<double>(), nll, 1e-9 * std::abs(nll));
  // KL(N(1, 2^2) || N(0, 1)) = log(1/2) + (4 + 1) / 2 - 1/2.
  at::Tensor one = at::ones({1}, at::kDouble);
  EXPECT_NEAR(models::srvp::GaussianKl(one, 2 * one, 0 * one, one).item<double>(),
              std::log(0.5) + 2.5 - 0.5, 1e-15);
  EXPECT_NEAR(models::srvp::GaussianKl(one, one, one, one).item<double>(), 0.0, 1e-15);
}

TEST(SrvpModel, SameNoiseSameOutputsAndDtHalfKeepsTheIntegerFrames) {
  torch::manual_seed(3);
  models::srvp::Srvp m(Tiny());
  m->eval();
  at::Tensor ctx = at::rand({2, 3, 1, 64, 64});
  auto noise = [](uint64_t seed) {
    auto gen = std::make_shared<at::Generator>(at::make_generator<at::CPUGeneratorImpl>(seed));
    return models::srvp::NoiseFn(
        [gen](Site, int64_t, at::IntArrayRef shape, const at::TensorOptions& o) {
          return at::randn(shape, *gen, at::kFloat).to(o);
        });
  };
  at::Tensor a = m->generate(ctx, 5, noise(7));
  at::Tensor b = m->generate(ctx, 5, noise(7));
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, m->generate(ctx, 5, noise(8))));
  // dt/2: every sub-step decoded gives twice the frames; the frames at integer times are those of
  // the same dt/2 roll-out decoded only there (z is drawn once per frame interval).
  at::Tensor fine = m->generate(ctx, 5, noise(7), 2, /*every_substep=*/true);
  at::Tensor at_frames = m->generate(ctx, 5, noise(7), 2, /*every_substep=*/false);
  ASSERT_EQ(fine.size(1), 10);
  ASSERT_EQ(at_frames.size(1), 5);
  EXPECT_LT((fine.index({at::indexing::Slice(), at::indexing::Slice(1, at::indexing::None, 2)}) -
             at_frames)
                .abs()
                .max()
                .item<double>(),
            1e-5);
  // MLP dynamics have no step size.
  SrvpConfig mc = Tiny();
  mc.set_dynamics(SrvpConfig::MLP);
  models::srvp::Srvp mlp(mc);
  mlp->eval();
  EXPECT_THROW(mlp->generate(ctx, 2, {}, 2), std::invalid_argument);
}

TEST(SrvpModel, AblationsBuildAndTrain) {
  for (int variant = 0; variant < 4; ++variant) {
    SrvpConfig c = Tiny(false);
    if (variant == 0) c.set_dynamics(SrvpConfig::MLP);
    if (variant == 1) c.set_dynamics(SrvpConfig::GRU);
    if (variant == 2) c.set_no_noise(true);
    if (variant == 3) c.set_no_content(true);
    torch::manual_seed(4);
    models::srvp::Srvp m(c);
    auto o = m->forward_train(at::rand({2, 4, 1, 64, 64}));
    ASSERT_TRUE(std::isfinite(o.loss.item<double>())) << "variant " << variant;
    o.loss.backward();
    if (variant == 2) EXPECT_EQ(o.kl_z.item<double>(), 0.0);
    if (variant == 2) EXPECT_FALSE(m->p_z);
    if (variant == 3) EXPECT_FALSE(m->w_proj);
  }
}

std::string RunPeer(const std::string& args, int* rc) {
  const std::string cmd = std::string(FRAMECAST_PYTHON) + " " + FRAMECAST_SOURCE_DIR +
                          "/bench/peers/srvp_step.py " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return "";
  }
  char buf[512];
  std::string out;
  while (fgets(buf, sizeof(buf), p)) out += buf;
  *rc = pclose(p);
  return out;
}

// One step of framecast's model and of the PyTorch peer from the same weights, frames and noise,
// in float64: the peer recomputes the loss and every gradient and compares (bench/peers/
// srvp_step.py --check: loss within 1e-9 relative, each gradient within 1e-7 relative L2).
TEST(SrvpModel, OneStepEqualsThePyTorchPeer) {
  const std::string dir = "srvp-peer-check";
  ASSERT_TRUE(fc::RemoveTree(dir).ok());
  ASSERT_TRUE(fc::MakeDirs(dir).ok());
  struct Variant {
    const char* name;
    const char* model;
  };
  for (const Variant& v :
       {Variant{"dcgan_skips_dt_half",
                "backbone: DCGAN skip_connections: true euler_steps: 2 residual_penalty: 0.5"},
        {"vgg", "backbone: VGG beta_y: 0.5 beta_z: 2"},
        {"gru_no_content", "dynamics: GRU no_content: true"}}) {
    const std::string cfg_path = dir + "/" + v.name + ".pbtxt";
    {
      std::ofstream f(cfg_path);
      f << "name: \"peer\"\ndata { global_batch: 2 context_frames: 2 predicted_frames: 2 "
           "moving_mnist {} }\nmodel { srvp { base_filters: 4 frame_features: 8 state_size: 5 "
           "noise_size: 3 inference_hidden: 8 residual_hidden: 8 residual_layers: 2 obs_scale: 0.5 "
        << v.model << " } }\noptimizers { adam {} lr: 1e-3 }\nstages { steps: 1 }\n";
    }
    train::InstallFamilyConfigHooks();
    auto cfg = config::LoadRunConfig(cfg_path, {}, /*validate=*/false);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    torch::manual_seed(5);
    models::srvp::Srvp m(cfg.value().model().srvp());
    m->to(at::kDouble);
    // Batch-norm statistics move away from their initial values first, so the peer must load
    // them too (they are buffers of the state).
    {
      torch::NoGradGuard ng;
      m->forward_train(at::rand({2, 4, 1, 64, 64}, at::kDouble));
    }
    Recorder rec;
    at::Tensor frames = at::rand({2, 4, 1, 64, 64}, at::kDouble);
    c10::Dict<std::string, at::Tensor> blob;
    for (const auto& p : m->named_parameters())
      blob.insert("state/" + p.key(), p.value().detach().clone());
    for (const auto& b : m->named_buffers()) blob.insert("state/" + b.key(), b.value().clone());
    auto o = m->forward_train(frames, rec.fn());
    o.loss.backward();
    blob.insert("frames", frames);
    blob.insert("loss", o.loss.detach());
    for (const auto& [k, t] : rec.draws) blob.insert(k, t);
    for (const auto& p : m->named_parameters()) blob.insert("grad/" + p.key(), p.value().grad());
    const std::string file = dir + "/" + v.name + ".pt";
    {
      std::vector<char> bytes = torch::pickle_save(c10::IValue(blob));
      std::ofstream f(file, std::ios::binary);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    int rc = 0;
    const std::string out = RunPeer(cfg_path + " --check " + file, &rc);
    EXPECT_EQ(rc, 0) << v.name << ": " << out;
    EXPECT_NE(out.find("\"max_grad_rel_diff\""), std::string::npos) << out;
  }
}

TEST(SrvpModel, ParameterCountsEqualThePeerForEveryConfig) {
  train::InstallFamilyConfigHooks();
  for (const char* name :
       {"srvp_smmnist_tiny", "srvp_smmnist", "srvp_kth", "srvp_human36m", "srvp_bair"}) {
    const std::string path = std::string(FRAMECAST_SOURCE_DIR) + "/configs/" + name + ".pbtxt";
    auto cfg = config::LoadRunConfig(path, {}, /*validate=*/false);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    models::srvp::Srvp m(cfg.value().model().srvp());
    int rc = 0;
    const std::string out = RunPeer(path + " --count-only", &rc);
    ASSERT_EQ(rc, 0) << out;
    const auto pos = out.find("\"params\": ");
    ASSERT_NE(pos, std::string::npos) << out;
    EXPECT_EQ(std::stoll(out.substr(pos + 10)), models::srvp::CountParameters(*m)) << name;
  }
}

}  // namespace
}  // namespace fc::testing
