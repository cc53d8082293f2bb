// HVRNN config: defaults, validation messages naming the field, beta warm-up.
#include "models/hvrnn/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "hvrnn/hvrnn_testing.h"

namespace fc::models::hvrnn {
namespace {

TEST(HvrnnConfig, DefaultsAreTheSpecTables) {
  framecast::HvrnnConfig c;
  ASSERT_TRUE(ApplyHvrnnDefaults(&c).ok());
  EXPECT_EQ(c.image_channels(), 3);
  EXPECT_EQ(c.image_size(), 64);
  ASSERT_EQ(c.encoder_widths_size(), 6);
  EXPECT_EQ(c.encoder_widths(0), 64);
  EXPECT_EQ(c.encoder_widths(5), 512);
  EXPECT_EQ(c.decoder_widths(0), 512);
  EXPECT_EQ(c.decoder_widths(5), 64);
  ASSERT_EQ(c.decoder_recurrent_size(), 6);
  EXPECT_TRUE(c.decoder_recurrent(5));
  ASSERT_EQ(c.latents_size(), 3);
  EXPECT_EQ(c.latents(0).kernel(), 1);
  EXPECT_EQ(c.latents(2).kernel(), 3);
  EXPECT_EQ(c.latents(2).hidden(), 512);
  EXPECT_EQ(c.groups(), 16);
  EXPECT_TRUE(ValidateHvrnn(c).ok());
  EXPECT_TRUE(ValidateHvrnn(framecast::HvrnnConfig()).ok());  // raw config: defaults applied inside
  // A recurrent prefix pads with plain conv stages.
  framecast::HvrnnConfig p;
  p.add_decoder_recurrent(true);
  ASSERT_TRUE(ApplyHvrnnDefaults(&p).ok());
  EXPECT_EQ(p.decoder_recurrent_size(), 6);
  EXPECT_FALSE(p.decoder_recurrent(1));
  // 128x128: one more leading stage of width 32.
  framecast::HvrnnConfig big;
  big.set_image_size(128);
  ASSERT_TRUE(ApplyHvrnnDefaults(&big).ok());
  EXPECT_EQ(big.encoder_widths_size(), 7);
  EXPECT_EQ(big.encoder_widths(0), 32);
  EXPECT_EQ(big.decoder_widths(6), 32);
}

void ExpectError(const std::function<void(framecast::HvrnnConfig*)>& edit,
                 const std::string& text) {
  auto c = testing::TinyConfig();
  edit(&c);
  Status s = ValidateHvrnn(c);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
}

TEST(HvrnnConfig, ValidationNamesTheField) {
  EXPECT_TRUE(ValidateHvrnn(testing::TinyConfig()).ok());
  ExpectError([](auto* c) { c->set_encoder_widths(1, 9); },
              "model.hvrnn.encoder_widths[1]: 9 channels are not divisible by groups = 2");
  ExpectError([](auto* c) { c->set_decoder_widths(0, 7); }, "model.hvrnn.decoder_widths[0]: 7");
  ExpectError([](auto* c) { c->mutable_latents(2)->set_resolution(2); },
              "model.hvrnn.latents[2].resolution: 2 is not one of the encoder/decoder resolutions "
              "{16, 8, 4, 1}");
  ExpectError([](auto* c) { c->mutable_latents(1)->set_resolution(8); },
              "model.hvrnn.latents[2].resolution: levels are listed coarse to fine");
  ExpectError(
      [](auto* c) {
        c->set_groups(4);
        c->mutable_latents(0)->set_channels(3);
      },
      "model.hvrnn.latents[0].channels: 3 (x2) channels are not divisible by groups = 4");
  ExpectError([](auto* c) { c->mutable_latents(1)->set_hidden(5); },
              "model.hvrnn.latents[1].hidden: 5 channels");
  ExpectError([](auto* c) { c->set_groups(4); },
              "model.hvrnn.latents[0].hidden: a 1x1 level needs at least 2 channels per GroupNorm "
              "group (4 channels, groups = 4)");
  ExpectError(
      [](auto* c) {
        c->set_groups(8);
        c->mutable_latents(0)->set_hidden(16);
      },
      "model.hvrnn.encoder_widths[3]: the 1x1 stage needs at least 2 channels per GroupNorm group");
  ExpectError([](auto* c) { c->mutable_latents(1)->set_kernel(9); },
              "model.hvrnn.latents[1].kernel: must be in [1, 7]");
  ExpectError([](auto* c) { c->add_encoder_widths(8); },
              "model.hvrnn.encoder_widths: needs 4 entries (resolutions {16, 8, 4, 1}), got 5");
  ExpectError([](auto* c) { c->set_encoder_widths(2, 16); },
              "model.hvrnn.encoder_widths[2]: the 4x4 stage is a max-pool of the 8x8 stage");
  ExpectError([](auto* c) { c->set_image_size(48); },
              "model.hvrnn.image_size: must be a power of two");
  ExpectError([](auto* c) { c->set_decoder_top_kernel(9); }, "model.hvrnn.decoder_top_kernel");
  ExpectError([](auto* c) { c->set_gaussian_sigma(-1); },
              "model.hvrnn.gaussian_sigma: must be > 0");
  ExpectError([](auto* c) { c->add_decoder_recurrent(true); }, "model.hvrnn.decoder_recurrent");
  ExpectError([](auto* c) { c->set_beta_warmup_steps(-5); }, "model.hvrnn.beta_warmup_steps");
  // Without the GroupNorm on the heads, odd latent widths are fine.
  auto c = testing::TinyConfig();
  c.set_groups(4);
  c.mutable_latents(0)->set_hidden(8);
  c.set_no_gn_on_dist_head(true);
  c.mutable_latents(0)->set_channels(3);
  EXPECT_TRUE(ValidateHvrnn(c).ok()) << ValidateHvrnn(c).ToString();
}

TEST(HvrnnConfig, BetaWarmupIsLinearThenHeld) {
  framecast::HvrnnConfig c;
  EXPECT_EQ(BetaAt(c, 0), 1.0);  // no warm-up: beta_max (default 1) from the start
  c.set_beta_warmup_steps(100);
  c.set_beta_max(2.0);
  EXPECT_EQ(BetaAt(c, 0), 0.0);
  EXPECT_DOUBLE_EQ(BetaAt(c, 25), 0.5);
  EXPECT_DOUBLE_EQ(BetaAt(c, 100), 2.0);
  EXPECT_DOUBLE_EQ(BetaAt(c, 1000), 2.0);
}

}  // namespace
}  // namespace fc::models::hvrnn
