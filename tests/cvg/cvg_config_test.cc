// CvgConfig: the shipped configs default and validate, ValidateCvg names the offending field,
// ParameterSummary is fast for paper-size models, and parameter counts equal the PyTorch peer's.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cvg/cvg_testing.h"
#include "models/cvg/level.h"
#include "nn/init.h"

namespace fc::models::cvg {
namespace {

using testing::ConfigPath;
using testing::LoadCvg;
using testing::LoadRun;

TEST(CvgConfig, ShippedConfigsAreValidAndSummariesAreFast) {
  for (const char* name :
       {"cvg_tiny.pbtxt", "cvg_kinetics600.pbtxt", "cvg_ucf101.pbtxt", "cvg_bdd100k.pbtxt"}) {
    framecast::RunConfig run = LoadRun(name);
    Status s = ValidateCvgRun(run);
    EXPECT_TRUE(s.ok()) << name << ": " << s.ToString();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string summary = ParameterSummary(run.model().cvg());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(secs, 10.0) << name;
    std::printf("%s:\n%s", name, summary.c_str());
    EXPECT_NE(summary.find("level" + std::to_string(run.model().cvg().levels_size()) + ":"),
              std::string::npos)
        << summary;
  }
}

TEST(CvgConfig, KineticsGeometryFollowsTheSpec) {
  const auto c = LoadCvg("cvg_kinetics600.pbtxt");
  const LevelGeometry l1 = Geometry(c, 0), l2 = Geometry(c, 1);
  EXPECT_EQ(l1.train_frames, 24);
  EXPECT_EQ(l1.resolution, 32);
  EXPECT_EQ(l2.input_frames, 6);
  EXPECT_EQ(l2.train_frames, 12);
  EXPECT_EQ(l2.frames, 48);
  EXPECT_EQ(l2.spatial_upsample, 4);
  EXPECT_TRUE(l2.matching);
  EXPECT_EQ(c.levels(0).frame_skip(), 4);
  // Level-1 G: 4 units, the last without upsampling (4 -> 32).
  EXPECT_EQ(GeneratorUpsample(c, 0), (std::vector<bool>{true, true, true, false}));
  // D_M of level 2 sees 32x32: 6 blocks, pooling stops at 1x1.
  EXPECT_EQ(DiscriminatorDownsample(c.levels(1).matching(), 32),
            (std::vector<bool>{true, true, true, true, true, false}));
}

TEST(CvgConfig, DefaultsFillTheSpecValues) {
  framecast::CvgConfig c;
  auto* l1 = c.add_levels();
  l1->set_resolution(32);
  l1->set_frames(24);
  auto* l2 = c.add_levels();
  l2->set_resolution(128);
  l2->set_window_frames(6);
  ASSERT_TRUE(ApplyCvgDefaults(&c).ok());
  ASSERT_TRUE(ValidateCvg(c).ok()) << ValidateCvg(c).ToString();
  EXPECT_EQ(c.levels(1).frames(), 48);
  EXPECT_EQ(c.levels(1).temporal_upsample(), 2);
  EXPECT_EQ(c.levels(0).frame_skip(), 2);
  EXPECT_EQ(c.levels(0).generator().channel_multipliers_size(), 4);
  EXPECT_EQ(c.levels(1).generator().channel_multipliers_size(), 5);
  EXPECT_EQ(c.levels(0).spatial().base_channels(), 128);
  EXPECT_EQ(c.levels(1).matching().base_channels(), 96);
  EXPECT_EQ(c.levels(1).matching().channel_multipliers_size(), 6);
  EXPECT_EQ(c.levels(0).spatial_frames(), 8);
  EXPECT_EQ(c.levels(1).standing_stat_passes(), 200);
  EXPECT_EQ(c.image_channels(), 3);
}

void ExpectError(framecast::CvgConfig c, const std::string& want) {
  Status s = ValidateCvg(c);
  ASSERT_FALSE(s.ok()) << "expected an error containing " << want;
  EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
}

TEST(CvgConfig, ValidationErrorsNameTheField) {
  const auto base = LoadCvg("cvg_tiny.pbtxt");
  ASSERT_TRUE(ValidateCvg(base).ok());
  auto c = base;
  c.mutable_levels(1)->set_window_frames(30);
  ExpectError(c, "model.cvg.levels[1].window_frames=30");
  c = base;
  c.mutable_levels(1)->set_frames(15);
  ExpectError(c, "model.cvg.levels[1].frames=15: must be levels[0].frames (8) x temporal_upsample");
  c = base;
  c.mutable_levels(0)->set_resolution(32);
  ExpectError(c, "model.cvg.levels[0].resolution=32: the generator reaches 16");
  c = base;
  c.mutable_levels(1)->set_resolution(48);
  ExpectError(c, "model.cvg.levels[1].resolution=48");
  c = base;
  c.mutable_levels(0)->set_spatial_frames(9);
  ExpectError(c, "model.cvg.levels[0].spatial_frames=9");
  c = base;
  c.mutable_levels(1)->mutable_matching()->add_channel_multipliers(0);
  ExpectError(c, "model.cvg.levels[1].matching.channel_multipliers[3]=0");
  c = base;
  c.mutable_levels(0)->mutable_spatial()->clear_channel_multipliers();
  for (int i = 0; i < 6; ++i) {
    c.mutable_levels(0)->mutable_spatial()->add_channel_multipliers(1);
    c.mutable_levels(0)->mutable_spatial()->add_downsample(true);
  }
  ExpectError(
      c, "model.cvg.levels[0].spatial.downsample[4]: the map is 1x1");  // 16 -> 8 -> 4 -> 2 -> 1
  c = base;
  c.mutable_levels(0)->set_frame_skip(3);
  ExpectError(c, "model.cvg.levels[0].frame_skip=3");
  c = base;
  c.mutable_levels(1)->mutable_generator()->add_upsample(true);
  ExpectError(c, "model.cvg.levels[1].generator.upsample");
  c = base;
  c.clear_levels();
  ExpectError(c, "model.cvg.levels");

  framecast::RunConfig run = LoadRun("cvg_tiny.pbtxt");
  run.mutable_stages()->RemoveLast();
  Status s = ValidateCvgRun(run);
  EXPECT_NE(s.message().find("stages: 1 stages for 2 cascade levels"), std::string::npos)
      << s.ToString();
  run = LoadRun("cvg_tiny.pbtxt");
  run.mutable_optimizers(3)->set_network("level3/D");
  s = ValidateCvgRun(run);
  EXPECT_NE(s.message().find("optimizers[3].network=\"level3/D\""), std::string::npos)
      << s.ToString();
}

TEST(CvgConfig, ParameterCountsEqualThePyTorchPeer) {
  const std::string py = FRAMECAST_PYTHON_EXE;
  if (py.empty()) GTEST_SKIP() << "no Python configured";
  const auto c = LoadCvg("cvg_tiny.pbtxt");
  for (int level = 0; level < c.levels_size(); ++level) {
    const std::string cmd = py + " " + FRAMECAST_SOURCE_DIR + "/bench/peers/cvg_step.py " +
                            ConfigPath("cvg_tiny.pbtxt") + " --count-only --level " +
                            std::to_string(level + 1) + " 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof(buf), f) != nullptr) out += buf;
    const int rc = pclose(f);
    if (rc != 0 && out.find("No module named") != std::string::npos) {
      GTEST_SKIP() << "Python without torch: " << out;
    }
    ASSERT_EQ(rc, 0) << out;
    long long pg = -1, pd = -1;
    ASSERT_EQ(std::sscanf(out.c_str(), "{\"params_g\": %lld, \"params_d\": %lld}", &pg, &pd), 2)
        << out;
    auto lv = BuildCvgLevel(c, level, /*initialize=*/false);
    ASSERT_TRUE(lv.ok()) << lv.status().ToString();
    EXPECT_EQ(nn::CountParameters(*lv->generator), pg) << "level " << level + 1;
    EXPECT_EQ(nn::CountParameters(*lv->discriminators), pd) << "level " << level + 1;
  }
}

}  // namespace
}  // namespace fc::models::cvg
