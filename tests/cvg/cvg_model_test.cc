// CVG modules on the tiny config: shapes of both levels' generators and discriminators, the
// frozen level-1 generator under level-2 training, standing statistics at the unrolled length,
// the low-resolution injection, the pyramid operators and the hinge loss.
#include <gtest/gtest.h>

#include "common/ranks.h"
#include "cvg/cvg_testing.h"
#include "dist/sync_batch_norm.h"
#include "models/cvg/level.h"
#include "models/cvg/level1_generator.h"
#include "models/cvg/loss.h"
#include "models/cvg/pyramid.h"
#include "models/cvg/upscale_generator.h"
#include "nn/standing_stats.h"

namespace fc::models::cvg {
namespace {

using fc::testing::FlatState;
using fc::testing::RelDiff;
using testing::LoadCvg;

constexpr int64_t kB = 3;

at::Tensor Labels(int64_t b) { return at::arange(b, at::kLong) % 10; }

TEST(CvgModel, Level1ShapesAndScores) {
  torch::manual_seed(41);
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  auto lv = BuildCvgLevel(c, 0);
  ASSERT_TRUE(lv.ok()) << lv.status().ToString();
  EXPECT_EQ(lv->generator_network, "level1/G");
  EXPECT_EQ(lv->discriminator_network, "level1/D");
  at::Tensor y = Labels(kB);
  at::Tensor x = lv->generator->Generate(SampleNoise(*lv->generator, kB, {}, {}), y, {});
  EXPECT_EQ(x.sizes(), at::IntArrayRef({kB, 8, 1, 16, 16}));
  EXPECT_LE(x.abs().max().item<double>(), 1.0);
  EXPECT_FALSE(lv->discriminators->matching);
  DiscriminatorBatch b{x, {}, y, SampleFrames(kB, 8, c.levels(0).spatial_frames())};
  at::Tensor s = lv->discriminators->forward(b);
  EXPECT_EQ(s.sizes(), at::IntArrayRef({kB, 4 + 8}));  // D_S frames, D_T steps (PER_LOCATION)
  // Per-frame / per-time-step scores.
  EXPECT_EQ(lv->discriminators->spatial(x, b.frame_idx, y).sizes(), at::IntArrayRef({kB, 4}));
  EXPECT_EQ(lv->discriminators->temporal(x, y).sizes(), at::IntArrayRef({kB, 8}));
  // Gradients reach G through both discriminators.
  HingeGeneratorLoss(s).backward();
  for (const auto& p : lv->generator->named_parameters()) {
    EXPECT_TRUE(p.value().grad().defined()) << p.key();
  }
}

TEST(CvgModel, Level2ShapesInjectionAndMatchingInput) {
  torch::manual_seed(42);
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  auto lv = BuildCvgLevel(c, 1);
  ASSERT_TRUE(lv.ok()) << lv.status().ToString();
  auto* g = dynamic_cast<UpscaleGenerator*>(lv->generator.get());
  ASSERT_NE(g, nullptr);
  at::Tensor y = Labels(kB), z = SampleNoise(*g, kB, {}, {});
  at::Tensor low = at::rand({kB, 4, 1, 16, 16}) * 2 - 1;
  g->eval();  // deterministic for the comparison below (running stats are the initial ones)
  at::Tensor x = g->forward(z, y, low);
  EXPECT_EQ(x.sizes(), at::IntArrayRef({kB, 8, 1, 32, 32}));
  // Injection only up to the input's resolution (16): units at 4, 8, 16 inject, the last (32)
  // injects only after its 3-D block.
  int injecting = 0;
  for (const auto& i : g->inject) injecting += i ? 1 : 0;
  EXPECT_EQ(injecting, 7);
  // The output depends on the low-resolution input.
  EXPECT_GT(RelDiff(g->forward(z, y, -low), x), 1e-3);
  // D_M on a real pair built with the pyramid: both halves identical.
  at::Tensor real = at::rand({kB, 8, 1, 32, 32}) * 2 - 1;
  at::Tensor real_low = PyramidDown(real, 2, 16);
  EXPECT_EQ(real_low.sizes(), at::IntArrayRef({kB, 4, 1, 16, 16}));
  DiscriminatorBatch b{real, real_low, y, SampleFrames(kB, 8, 4)};
  // PER_LOCATION: one column per D_S frame (4), D_T step (8) and D_M step (the 4 low-res steps).
  const at::Tensor scores = lv->discriminators->forward(b);
  const int64_t matching_steps =
      lv->discriminators->matching->forward(at::cat({real_low, real_low}, 2), y).size(1);
  EXPECT_EQ(matching_steps, 4);
  EXPECT_EQ(scores.sizes(), at::IntArrayRef({kB, 4 + 8 + matching_steps}));
  // Wrong input length for the BN statistics: a clear error.
  EXPECT_THROW(g->forward(z, y, at::zeros({kB, 5, 1, 16, 16})), c10::Error);
}

TEST(CvgModel, FrozenLevel1GetsNoGradientAndKeepsItsState) {
  torch::manual_seed(43);
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  auto l1 = BuildCvgLevel(c, 0);
  auto l2 = BuildCvgLevel(c, 1);
  ASSERT_TRUE(l1.ok() && l2.ok());
  // Give level 1 non-trivial running statistics, then freeze it.
  l1->generator->train();
  l1->generator->Generate(SampleNoise(*l1->generator, kB, {}, {}), Labels(kB), {});
  FreezeGenerator(*l1->generator);
  const at::Tensor before = FlatState(*l1->generator);
  at::Generator gen = at::detail::createCPUGenerator(7);
  at::Tensor y = Labels(kB);
  at::Tensor low = SampleLevelInput(c, {l1->generator.get()}, kB, y, gen, at::TensorOptions());
  EXPECT_EQ(low.sizes(), at::IntArrayRef({kB, 4, 1, 16, 16}));  // the 4-frame training window
  EXPECT_FALSE(low.requires_grad());
  // One level-2 G step's backward.
  at::Tensor x = l2->generator->Generate(SampleNoise(*l2->generator, kB, gen, {}), y, low);
  DiscriminatorBatch b{x, low, y, SampleFrames(kB, 8, 4, gen)};
  HingeGeneratorLoss(l2->discriminators->forward(b)).backward();
  for (const auto& p : l1->generator->named_parameters()) {
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
  }
  EXPECT_TRUE(at::equal(FlatState(*l1->generator), before))
      << "parameters and buffers (SN vectors, BN statistics) must not change";
  for (const auto& p : l2->generator->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(CvgModel, StandingStatisticsAtTheUnrolledLength) {
  torch::manual_seed(44);
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  auto l2 = BuildCvgLevel(c, 1);
  ASSERT_TRUE(l2.ok());
  auto& g = *l2->generator;
  const int64_t full_in = c.levels(0).frames();  // 8 -> 16 frames at inference
  g.SetFrames(full_in * 2);
  EXPECT_EQ(g.frames(), 16);
  at::Tensor y = Labels(kB);
  int passes = 0;
  const int bns = nn::AccumulateStandingStats(g, 3, [&] {
    ++passes;
    g.Generate(SampleNoise(g, kB, {}, {}), y, at::rand({kB, full_in, 1, 16, 16}) * 2 - 1);
  });
  EXPECT_EQ(passes, 3);
  EXPECT_EQ(bns, 3 * 3 * 2 + 1);  // 3 units x 3 blocks x 2 cBN + the head BN
  EXPECT_FALSE(g.is_training());
  at::Tensor x = g.Generate(SampleNoise(g, kB, {}, {}), y, at::zeros({kB, full_in, 1, 16, 16}));
  EXPECT_EQ(x.sizes(), at::IntArrayRef({kB, 16, 1, 32, 32}));
  for (const auto& buf : g.named_buffers()) {
    if (buf.key().find("running_mean") != std::string::npos) {
      EXPECT_EQ(buf.value().numel() % 16, 0) << buf.key();
    }
  }
}

TEST(CvgModel, GeneratorBatchNormSyncsAcrossRanks) {
  // The generator's BNs attach to a communicator; 2 ranks x 2 clips == 1 process x 4 clips.
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  torch::manual_seed(45);
  at::Tensor z = at::randn({4, 16}), y = Labels(4);
  torch::manual_seed(46);
  Level1Generator ref(c, 0);
  at::Tensor want = ref.forward(z, y);
  // The replicas are built here: the global generator is not for concurrent seeding.
  std::vector<std::shared_ptr<Level1Generator>> replicas;
  for (int r = 0; r < 2; ++r) {
    torch::manual_seed(46);
    replicas.push_back(std::make_shared<Level1Generator>(c, 0));
  }
  fc::testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    Level1Generator& g = *replicas[rank];
    EXPECT_EQ(dist::AttachSyncBatchNorm(g, comm), 3 * 2 * 2 + 1);
    at::Tensor out = g.forward(z.narrow(0, 2 * rank, 2), y.narrow(0, 2 * rank, 2));
    EXPECT_LT(RelDiff(out, want.narrow(0, 2 * rank, 2)), 1e-4) << "rank " << rank;
  });
}

TEST(CvgModel, PyramidWindowsAndFrameSampling) {
  at::Tensor clip = at::arange(2 * 6, at::kFloat).view({2, 6, 1, 1, 1}).expand({2, 6, 1, 4, 4});
  at::Tensor down = PyramidDown(clip.contiguous(), 2, 2);
  EXPECT_EQ(down.sizes(), at::IntArrayRef({2, 3, 1, 2, 2}));
  EXPECT_EQ(down[0][1][0][0][0].item<float>(), 2.0f);  // frames 0, 2, 4; constant frames stay
  at::Tensor w = CropWindows(clip, at::tensor({1, 3}, at::kLong), 2);
  EXPECT_EQ(w[0][0][0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(w[1][1][0][0][0].item<float>(), 10.0f);
  at::Generator gen = at::detail::createCPUGenerator(3);
  at::Tensor idx = SampleFrames(5, 8, 4, gen);
  EXPECT_EQ(idx.sizes(), at::IntArrayRef({5, 4}));
  EXPECT_TRUE(at::all(idx.diff(1, 1) > 0).item<bool>()) << "distinct and sorted";
  EXPECT_TRUE(at::all(idx < 8).item<bool>());
  at::Tensor starts = RandomWindowStarts(100, 8, 4, gen);
  EXPECT_TRUE(at::all(starts <= 4).item<bool>() && at::all(starts >= 0).item<bool>());
}

TEST(CvgModel, HingeLoss) {
  at::Tensor real = at::tensor({2.0, 0.5, -1.0, 1.0}).view({2, 2});
  at::Tensor fake = at::tensor({-2.0, 0.0, 1.0, -0.5}).view({2, 2});
  // real: relu(1 - s) = 0, 0.5, 2, 0 -> 0.625; fake: relu(1 + s) = 0, 1, 2, 0.5 -> 0.875.
  EXPECT_NEAR(HingeDiscriminatorLoss(real, fake).item<double>(), 1.5, 1e-7);
  EXPECT_NEAR(HingeGeneratorLoss(fake).item<double>(), 0.375, 1e-7);
}

}  // namespace
}  // namespace fc::models::cvg
