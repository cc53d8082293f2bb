// The HVRNN model: shapes (16x16, 64x64 encoder, 128x128), the loss against its parts, teacher
// forcing, generation, ancestral dependence, batch-split invariance (what data parallelism relies
// on), activation checkpointing, parameter counts against the PyTorch peer, CUDA.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "hvrnn/hvrnn_testing.h"
#include "models/hvrnn/hvrnn.h"
#include "proto/config.pb.h"

namespace fc::models::hvrnn {
namespace {

using testing::MaxAbsDiff;
using testing::TinyConfig;

// Per-sample noise: sample i of a batch starting at global index `first` gets row first + i of a
// fixed [total, ...] draw per (level, t), so a sub-batch sees exactly its rows of the whole.
NoiseFn SampleNoise(int64_t total, int64_t first, uint64_t seed) {
  return [=](int64_t level, int64_t t, at::IntArrayRef shape, const at::TensorOptions& o) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003 + level * 1009 + t);
    std::vector<int64_t> full(shape.begin(), shape.end());
    full[0] = total;
    return at::randn(full, gen, o.device(at::kCPU)).narrow(0, first, shape[0]).to(o);
  };
}

Hvrnn MakeModel(const framecast::HvrnnConfig& c, uint64_t seed = 7) {
  at::manual_seed(seed);
  Hvrnn m(c);
  m->to(at::kDouble);
  return m;
}

at::Tensor Clip(int64_t B, int64_t N, int64_t S, uint64_t seed = 11) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand({B, N, 1, S, S}, gen, at::TensorOptions().dtype(at::kDouble));
}

TEST(HvrnnModel, ShapesAt16) {
  auto c = TinyConfig();
  Hvrnn m = MakeModel(c);
  auto clip = Clip(2, 5, 16);
  auto o = m->forward_train(clip, 2, 0.5, SampleNoise(2, 0, 1));
  EXPECT_EQ(o.loss.dim(), 0);
  EXPECT_EQ(o.predictions.sizes(), (at::IntArrayRef{2, 3, 1, 16, 16}));
  ASSERT_EQ(o.kl_per_level.size(), 3u);
  ASSERT_EQ(o.kl_per_channel.size(), 3u);
  for (const auto& k : o.kl_per_channel) EXPECT_EQ(k.sizes(), (at::IntArrayRef{4}));
  auto taps = m->encoder(clip.view({10, 1, 16, 16}));
  ASSERT_EQ(taps.size(), 4u);
  const int64_t res[] = {16, 8, 4, 1};
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(taps[i].sizes(), (at::IntArrayRef{10, 8, res[i], res[i]}));
  auto g = m->generate(clip.narrow(1, 0, 2), 4, SampleNoise(2, 0, 2));
  EXPECT_EQ(g.sizes(), (at::IntArrayRef{2, 4, 1, 16, 16}));
  EXPECT_EQ(m->generate(clip.narrow(1, 0, 2), 0).size(1), 0);
}

TEST(HvrnnModel, DefaultEncoderTapsAt64) {
  framecast::HvrnnConfig c;
  ASSERT_TRUE(ApplyHvrnnDefaults(&c).ok());
  Encoder enc(c);
  auto taps = enc(at::rand({1, 3, 64, 64}));
  const int64_t res[] = {64, 32, 16, 8, 4, 1}, ch[] = {64, 128, 256, 512, 512, 512};
  ASSERT_EQ(taps.size(), 6u);
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(taps[i].sizes(), (at::IntArrayRef{1, ch[i], res[i], res[i]}));
}

TEST(HvrnnModel, ShapesAt128) {
  auto c = TinyConfig(128, /*three_levels=*/false);
  c.mutable_latents(0)->set_resolution(1);
  auto* l = c.add_latents();
  l->set_resolution(32);
  l->set_channels(4);
  ASSERT_TRUE(ApplyHvrnnDefaults(&c).ok());
  ASSERT_TRUE(ValidateHvrnn(c).ok()) << ValidateHvrnn(c).ToString();
  Hvrnn m(c);
  auto clip = at::rand({1, 2, 1, 128, 128});
  auto taps = m->encoder(clip.view({2, 1, 128, 128}));
  const int64_t res[] = {128, 64, 32, 16, 8, 4, 1};
  ASSERT_EQ(taps.size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(taps[i].size(2), res[i]);
  auto o = m->forward_train(clip, 1, 1.0);
  EXPECT_EQ(o.predictions.sizes(), (at::IntArrayRef{1, 1, 1, 128, 128}));
  EXPECT_EQ(m->generate(clip.narrow(1, 0, 1), 2).sizes(), (at::IntArrayRef{1, 2, 1, 128, 128}));
  EXPECT_EQ(m->dec_stages->size(), 7u);
}

TEST(HvrnnModel, LossEqualsItsParts) {
  for (auto lik : {framecast::HvrnnConfig::GAUSSIAN, framecast::HvrnnConfig::BERNOULLI}) {
    auto c = TinyConfig();
    c.set_likelihood(lik);
    c.set_gaussian_sigma(0.5);
    Hvrnn m = MakeModel(c);
    const int64_t B = 3, D = 2, T = 3;
    auto clip = Clip(B, D + T, 16);
    const double beta = 0.37;
    auto o = m->forward_train(clip, D, beta, SampleNoise(B, 0, 3));
    EXPECT_NEAR(o.loss.item<double>(), o.nll.item<double>() + beta * o.kl.item<double>(), 1e-9);
    double kl_sum = 0;
    for (size_t l = 0; l < 3; ++l) {
      kl_sum += o.kl_per_level[l].item<double>();
      const int64_t r = c.latents(static_cast<int>(l)).resolution();
      EXPECT_NEAR(o.kl_per_channel[l].sum().item<double>() * T * r * r,
                  o.kl_per_level[l].item<double>(), 1e-9);
      EXPECT_GE(o.kl_per_channel[l].min().item<double>(), -1e-12);
    }
    EXPECT_NEAR(o.kl.item<double>(), kl_sum, 1e-9);
    auto x = clip.narrow(1, D, T), p = o.predictions;
    double nll;
    if (lik == framecast::HvrnnConfig::GAUSSIAN) {
      nll = (0.5 * (x - p).pow(2).sum() / 0.25 / B).item<double>();
    } else {
      nll = (-(x * at::log(p) + (1 - x) * at::log(1 - p))).sum().item<double>() / B;
    }
    EXPECT_NEAR(o.nll.item<double>(), nll, 1e-7 * std::max(1.0, nll));
    EXPECT_GE(p.min().item<double>(), 0.0);
    EXPECT_LE(p.max().item<double>(), 1.0);
  }
}

TEST(HvrnnModel, TeacherForcingPredictionAtTIgnoresLaterFrames) {
  Hvrnn m = MakeModel(TinyConfig());
  const int64_t D = 2, T = 4;
  auto clip = Clip(2, D + T, 16);
  auto base = m->forward_train(clip, D, 1.0, SampleNoise(2, 0, 4)).predictions;
  for (int64_t t = 0; t + 1 < T; ++t) {
    auto changed = clip.clone();
    changed.select(1, D + t + 1).uniform_();  // only x_{t+1} (0-based step t + 1)
    auto p = m->forward_train(changed, D, 1.0, SampleNoise(2, 0, 4)).predictions;
    EXPECT_EQ(MaxAbsDiff(p.narrow(1, 0, t + 1), base.narrow(1, 0, t + 1)), 0.0) << "t " << t;
    // The prediction at t + 1 sees x_{t+1} through the posterior, so it does change.
    EXPECT_GT(MaxAbsDiff(p.select(1, t + 1), base.select(1, t + 1)), 0.0) << "t " << t;
  }
}

TEST(HvrnnModel, GenerateIsDeterministicGivenNoiseAndUsesOnlyContext) {
  Hvrnn m = MakeModel(TinyConfig());
  auto clip = Clip(2, 6, 16);
  auto ctx = clip.narrow(1, 0, 2);
  at::manual_seed(100);
  auto a = m->generate(ctx, 5, SampleNoise(2, 0, 5));
  at::manual_seed(200);  // the default generator must not matter
  auto b = m->generate(ctx.clone(), 5, SampleNoise(2, 0, 5));
  EXPECT_EQ(MaxAbsDiff(a, b), 0.0);
  auto c = m->generate(ctx, 5, SampleNoise(2, 0, 6));
  EXPECT_GT(MaxAbsDiff(a, c), 0.0);
  EXPECT_FALSE(a.requires_grad());
  // Prefix consistency: a shorter horizon gives the first frames of a longer one, so step t never
  // depends on anything beyond the context and its own earlier samples.
  auto short_run = m->generate(ctx, 3, SampleNoise(2, 0, 5));
  EXPECT_EQ(MaxAbsDiff(short_run, a.narrow(1, 0, 3)), 0.0);
  // Per-sample independence: sample 1 alone equals row 1 of the batch.
  auto one = m->generate(ctx.narrow(0, 1, 1), 5, SampleNoise(2, 1, 5));
  EXPECT_LT(MaxAbsDiff(one, a.narrow(0, 1, 1)), 1e-12);
}

TEST(HvrnnModel, AncestralDependenceAcrossLevels) {
  for (bool no_dense : {false, true}) {
    auto c = TinyConfig();
    c.set_no_dense(no_dense);
    Hvrnn m = MakeModel(c);
    auto clip = Clip(2, 3, 16);
    auto base = m->forward_train(clip, 2, 1.0, SampleNoise(2, 0, 8));
    // Replace only level 0's noise (at step 0).
    NoiseFn alt = [&](int64_t level, int64_t t, at::IntArrayRef shape, const at::TensorOptions& o) {
      auto eps = SampleNoise(2, 0, 8)(level, t, shape, o);
      return level == 0 ? eps + 1.0 : eps;
    };
    auto o = m->forward_train(clip, 2, 1.0, alt);
    EXPECT_EQ(o.kl_per_level[0].item<double>(), base.kl_per_level[0].item<double>());
    // Level 1 takes z^1 in both modes; level 2 takes it directly (dense) or through z^2.
    EXPECT_NE(o.kl_per_level[1].item<double>(), base.kl_per_level[1].item<double>());
    EXPECT_NE(o.kl_per_level[2].item<double>(), base.kl_per_level[2].item<double>());
  }
  // Dense: level 3's nets read z^1 and z^2 (4 + 4 extra channels); no_dense: z^2 only.
  auto dense = TinyConfig();
  auto sparse = TinyConfig();
  sparse.set_no_dense(true);
  Hvrnn a(dense), b(sparse);
  EXPECT_EQ(a->prior[2]->as<LatentNet>()->conv_in->weight.size(1), 8 + 8);
  EXPECT_EQ(b->prior[2]->as<LatentNet>()->conv_in->weight.size(1), 8 + 4);
  EXPECT_EQ(a->posterior[2]->as<LatentNet>()->conv_in->weight.size(1), 8 + 8);
}

std::vector<at::Tensor> Grads(Hvrnn& m) {
  std::vector<at::Tensor> g;
  for (auto& p : m->parameters())
    g.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
  return g;
}

TEST(HvrnnModel, ConcatenatedBatchEqualsMeanOfHalves) {
  // The data-parallel property: with per-sample noise, loss and gradients of the whole batch
  // equal the mean over equal-sized sub-batches (GroupNorm only, no batch statistics).
  auto c = TinyConfig();
  c.set_context_init(framecast::HvrnnConfig::MEAN);
  Hvrnn m = MakeModel(c);
  const int64_t B = 4;
  auto clip = Clip(B, 5, 16);
  auto run = [&](int64_t first, int64_t count) {
    m->zero_grad();
    auto o = m->forward_train(clip.narrow(0, first, count), 2, 0.8, SampleNoise(B, first, 9));
    o.loss.backward();
    return std::make_pair(o.loss.item<double>(), Grads(m));
  };
  auto [all_loss, all_grad] = run(0, B);
  auto [a_loss, a_grad] = run(0, B / 2);
  auto [b_loss, b_grad] = run(B / 2, B / 2);
  EXPECT_NEAR(all_loss, 0.5 * (a_loss + b_loss), 1e-9 * std::abs(all_loss));
  double worst = 0;
  for (size_t i = 0; i < all_grad.size(); ++i) {
    auto mean = 0.5 * (a_grad[i] + b_grad[i]);
    const double scale = std::max(1e-6, all_grad[i].abs().max().item<double>());
    worst = std::max(worst, MaxAbsDiff(all_grad[i], mean) / scale);
  }
  EXPECT_LT(worst, 1e-9);
}

TEST(HvrnnModel, DistributionHeadsStartAtZeroSoPosteriorEqualsPrior) {
  // Default: every [mu, sigma] head starts at zero, so the posterior equals the prior for any input
  // and the KL is exactly 0 at step 0 (no random mismatch for the warm-up to squeeze out); the
  // likelihood's gradient still reaches the heads. random_init_dist_head restores LibTorch's init.
  auto zero = TinyConfig();
  zero.set_random_init_dist_head(false);
  auto random = zero;
  random.set_random_init_dist_head(true);
  for (bool gn : {true, false}) {
    SCOPED_TRACE(gn ? "GN head" : "no GN head");
    zero.set_no_gn_on_dist_head(!gn);
    random.set_no_gn_on_dist_head(!gn);
    Hvrnn mz = MakeModel(zero), mr = MakeModel(random);
    auto clip = Clip(2, 4, 16);
    auto oz = mz->forward_train(clip, 2, 1.0, SampleNoise(2, 0, 2));
    EXPECT_EQ(oz.kl.item<double>(), 0.0);
    EXPECT_GT(mr->forward_train(clip, 2, 1.0, SampleNoise(2, 0, 2)).kl.item<double>(), 1e-3);
    oz.loss.backward();
    // The posterior heads learn from the likelihood at once (the prior's gradient is zero while
    // q = p, and follows once the posterior has moved).
    for (const auto& m : *mz->posterior) {
      const auto* net = m->as<LatentNet>();
      const at::Tensor& g = gn ? net->norm_head->weight.grad() : net->head->weight.grad();
      ASSERT_TRUE(g.defined());
      EXPECT_GT(g.abs().max().item<double>(), 0.0);
    }
  }
}

TEST(HvrnnModel, ConcatContextInitSeesEveryContextFrame) {
  // CONCAT: each init net reads all D context frames' features, so its input is D x the tap
  // width, and the prediction depends on an earlier context frame (the motion), which LAST
  // ignores.
  const int64_t D = 3;
  auto last = TinyConfig();
  auto concat = TinyConfig();
  concat.set_context_init(framecast::HvrnnConfig::CONCAT);
  concat.set_context_frames(D);
  ASSERT_TRUE(ValidateHvrnn(concat).ok()) << ValidateHvrnn(concat).ToString();
  Hvrnn ml = MakeModel(last), mc = MakeModel(concat);
  // One 1x1 conv per init net widens by (D - 1) x in x hidden weights.
  int64_t extra = 0;
  for (auto* list : {&mc->prior_init, &mc->posterior_init, &mc->dec_init}) {
    for (const auto& m : **list) {
      const auto& w = m->as<InitNet>()->conv1->weight;
      extra += (D - 1) * w.size(0) * (w.size(1) / D);
    }
  }
  EXPECT_EQ(CountParameters(*mc), CountParameters(*ml) + extra);

  auto clip = Clip(2, D + 2, 16);
  auto moved = clip.clone();
  moved.select(1, 0).copy_(Clip(2, 1, 16, 99).select(1, 0));  // only the first context frame
  auto gen = [](Hvrnn& m, const at::Tensor& x) {
    at::manual_seed(5);
    return m->generate(x.narrow(1, 0, D), 2);
  };
  EXPECT_GT(MaxAbsDiff(gen(mc, clip), gen(mc, moved)), 1e-6);
  EXPECT_EQ(MaxAbsDiff(gen(ml, clip), gen(ml, moved)), 0.0);
  auto o = mc->forward_train(clip, D, 0.5, SampleNoise(2, 0, 3));
  EXPECT_TRUE(std::isfinite(o.loss.item<double>()));
  // Built for D frames: another context length is refused, not silently misread.
  EXPECT_THROW(mc->generate(clip.narrow(1, 0, D - 1), 1), c10::Error);

  auto bad = concat;
  bad.set_context_frames(0);
  EXPECT_NE(ValidateHvrnn(bad).ToString().find("model.hvrnn.context_frames"), std::string::npos);
}

TEST(HvrnnModel, CheckpointActivationsGivesIdenticalLossAndGradients) {
  auto c = TinyConfig();
  c.set_posterior_sees_previous_frame(true);
  c.set_decoder_recurrent(2, false);  // mixed recurrent / plain decoder stages
  auto clip = Clip(2, 5, 16);
  auto run = [&](bool ckpt) {
    auto cc = c;
    cc.set_checkpoint_activations(ckpt);
    Hvrnn m = MakeModel(cc, 21);
    auto o = m->forward_train(clip, 2, 0.6, SampleNoise(2, 0, 10));
    o.loss.backward();
    return std::make_tuple(o.loss.item<double>(), Grads(m), o.predictions);
  };
  auto [l0, g0, p0] = run(false);
  auto [l1, g1, p1] = run(true);
  EXPECT_EQ(l0, l1);
  EXPECT_EQ(MaxAbsDiff(p0, p1), 0.0);
  ASSERT_EQ(g0.size(), g1.size());
  int nonzero = 0;
  for (size_t i = 0; i < g0.size(); ++i) {
    const double scale = std::max(1e-12, g0[i].abs().max().item<double>());
    EXPECT_LT(MaxAbsDiff(g0[i], g1[i]) / scale, 1e-12) << "parameter " << i;
    nonzero += g0[i].abs().max().item<double>() > 0;
  }
  EXPECT_GT(nonzero, static_cast<int>(g0.size()) * 3 / 4);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

int64_t PeerCount(const std::string& config_path) {
  const std::string cmd = std::string(FRAMECAST_PYTHON) + " " + FRAMECAST_SOURCE_DIR +
                          "/bench/peers/hvrnn_step.py " + config_path + " --count-only";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[256] = {0};
  std::string out;
  while (fgets(buf, sizeof(buf), p)) out += buf;
  if (pclose(p) != 0) return -2;
  auto pos = out.find("\"params\": ");
  if (pos == std::string::npos) return -3;
  return std::stoll(out.substr(pos + 10));
}

TEST(HvrnnModel, ParameterCountEqualsPythonPeer) {
  for (const char* name : {"hvrnn_smmnist_tiny", "hvrnn_bair_decoder_1convlstm"}) {
    const std::string path = std::string(FRAMECAST_SOURCE_DIR) + "/configs/" + name + ".pbtxt";
    framecast::RunConfig run;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(ReadFile(path), &run)) << path;
    auto c = run.model().hvrnn();
    ASSERT_TRUE(ApplyHvrnnDefaults(&c).ok());
    if (c.context_frames() == 0) c.set_context_frames(run.data().context_frames());  // as the run does
    ASSERT_TRUE(ValidateHvrnn(c).ok()) << path << ": " << ValidateHvrnn(c).ToString();
    Hvrnn m(c);
    EXPECT_EQ(CountParameters(*m), PeerCount(path)) << path;
  }
}

TEST(HvrnnModel, LastContextInitParameterCountEqualsPythonPeer) {
  // The tiny config (context_init CONCAT) read with LAST: init nets see the last context frame.
  const std::string src = std::string(FRAMECAST_SOURCE_DIR) + "/configs/hvrnn_smmnist_tiny.pbtxt";
  std::string text = ReadFile(src);
  const std::string key = "context_init: CONCAT";
  const auto pos = text.find(key);
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, key.size(), "context_init: LAST");
  const std::string path = ::testing::TempDir() + "/hvrnn_last.pbtxt";
  std::ofstream(path) << text;
  framecast::RunConfig run;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &run));
  auto c = run.model().hvrnn();
  ASSERT_TRUE(ApplyHvrnnDefaults(&c).ok());
  c.set_context_frames(run.data().context_frames());
  ASSERT_TRUE(ValidateHvrnn(c).ok()) << ValidateHvrnn(c).ToString();
  Hvrnn m(c);
  EXPECT_EQ(CountParameters(*m), PeerCount(path));
}

TEST(HvrnnModel, ParameterSummaryTotals) {
  Hvrnn m = MakeModel(TinyConfig());
  const std::string s = ParameterSummary(*m);
  int64_t total = -1, sum = 0;
  std::istringstream in(s);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    auto pos = line.find_first_of("0123456789", 30);
    ASSERT_NE(pos, std::string::npos) << line;
    const int64_t v = std::stoll(line.substr(pos));
    if (line.rfind("total", 0) == 0) {
      total = v;
    } else {
      sum += v;
    }
  }
  EXPECT_EQ(total, CountParameters(*m)) << s;
  EXPECT_EQ(sum, total) << s;
  EXPECT_NE(s.find("prior level 3 (8x8:4)"), std::string::npos) << s;
  EXPECT_NE(s.find("posterior level 1 (1x1:4)"), std::string::npos) << s;
}

TEST(HvrnnModel, RunsOnCudaLikeOnCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  Hvrnn m = MakeModel(TinyConfig());
  auto clip = Clip(2, 4, 16);
  auto cpu = m->forward_train(clip, 2, 1.0, SampleNoise(2, 0, 12));
  cpu.loss.backward();
  auto g_cpu = Grads(m);
  m->zero_grad();
  m->to(at::Device(at::kCUDA));
  auto gpu = m->forward_train(clip.cuda(), 2, 1.0, SampleNoise(2, 0, 12));
  gpu.loss.backward();
  EXPECT_NEAR(gpu.loss.item<double>(), cpu.loss.item<double>(),
              1e-8 * std::abs(cpu.loss.item<double>()));
  auto g_gpu = Grads(m);
  for (size_t i = 0; i < g_cpu.size(); ++i) {
    const double scale = std::max(1e-9, g_cpu[i].abs().max().item<double>());
    EXPECT_LT(MaxAbsDiff(g_gpu[i].cpu(), g_cpu[i]) / scale, 1e-6) << i;
  }
  auto gen = m->generate(clip.narrow(1, 0, 2).cuda(), 3, SampleNoise(2, 0, 13));
  EXPECT_TRUE(gen.is_cuda());
  auto c2 = m->forward_train(clip.cuda(), 2, 1.0);  // default noise on the device
  EXPECT_TRUE(std::isfinite(c2.loss.item<double>()));
}

}  // namespace
}  // namespace fc::models::hvrnn
