#include "data/moving_mnist.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "data/idx.h"
#include "data/sources.h"
#include "data/test_util.h"

namespace fc::data {
namespace {

using framecast::MovingMnistData;

// Ten 28x28 glyphs: filled boxes of different sizes (every glyph has ink at its border rows so
// placements are visible).
at::Tensor Glyphs(int n = 10) {
  at::Tensor g = at::zeros({n, 28, 28}, at::kByte);
  for (int i = 0; i < n; ++i) g[i].narrow(0, 2, 20 + i % 6).narrow(1, 3, 18 + i % 7).fill_(200);
  return g;
}

MovingMnist Make(MovingMnistData::Convention c, int digit_size, int num_digits = 2,
                 int max_speed = 4) {
  MovingMnistOptions o;
  o.convention = c;
  o.digit_size = digit_size;
  o.num_digits = num_digits;
  o.max_speed = max_speed;
  auto m = MovingMnist::Create(Glyphs(), at::arange(10, at::kLong), o);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m).value();
}

TEST(MovingMnist, PureFunctionOfSeedAndIndex) {
  for (auto c : {MovingMnistData::SVG, MovingMnistData::SRVP, MovingMnistData::DETERMINISTIC}) {
    MovingMnist m = Make(c, c == MovingMnistData::SRVP ? 28 : 32);
    at::Tensor a = m.Generate(7, 3, 20), b = m.Generate(7, 3, 20);
    EXPECT_TRUE(at::equal(a, b));
    EXPECT_EQ(a.sizes(), at::IntArrayRef({20, 1, 64, 64}));
    EXPECT_FALSE(at::equal(a, m.Generate(7, 4, 20)));
    EXPECT_FALSE(at::equal(a, m.Generate(8, 3, 20)));
    // A longer clip starts with the shorter one.
    EXPECT_TRUE(at::equal(a, m.Generate(7, 3, 30).narrow(0, 0, 20)));
  }
}

TEST(MovingMnist, PinnedValuesAcrossToolchains) {
  // The draw sequence is fixed by CounterRng; these pin it (a change breaks reproducibility of
  // every Moving-MNIST run).
  MovingMnist m = Make(MovingMnistData::SVG, 32);
  std::vector<DigitTrack> tr;
  m.Generate(42, 0, 3, &tr);
  ASSERT_EQ(tr.size(), 2u);
  std::vector<int64_t> got = {tr[0].digit, tr[0].x[0], tr[0].y[0], tr[0].dx[0], tr[0].dy[0],
                              tr[1].digit, tr[1].x[0], tr[1].y[0], tr[1].dx[0], tr[1].dy[0]};
  std::vector<int64_t> want = {3, 0, 15, 4, 0, 7, 7, 28, 1, 3};
  EXPECT_EQ(got, want);
}

TEST(MovingMnist, DigitsDrawnAtTheirTrajectoryAndClippedSum) {
  MovingMnist m = Make(MovingMnistData::SVG, 32, 1);
  std::vector<DigitTrack> tr;
  at::Tensor clip = m.Generate(1, 2, 10, &tr);
  at::Tensor sprite = m.Sprite(tr[0].digit);
  for (int t = 0; t < 10; ++t) {
    at::Tensor expect = at::zeros({64, 64}, at::kByte);
    expect.narrow(0, tr[0].y[t], 32).narrow(1, tr[0].x[t], 32).copy_(sprite);
    EXPECT_TRUE(at::equal(clip[t][0], expect)) << "frame " << t;
  }
  // Two digits: the frame is the sum clipped to 255.
  MovingMnist m2 = Make(MovingMnistData::SRVP, 28, 2);
  at::Tensor c2 = m2.Generate(5, 9, 8, &tr);
  for (int t = 0; t < 8; ++t) {
    at::Tensor sum = at::zeros({64, 64}, at::kInt);
    for (const auto& d : tr) {
      sum.narrow(0, d.y[t], 28).narrow(1, d.x[t], 28).add_(m2.Sprite(d.digit).to(at::kInt));
    }
    EXPECT_TRUE(at::equal(c2[t][0], sum.clamp_max(255).to(at::kByte))) << "frame " << t;
  }
}

TEST(MovingMnist, PilBilinearResizeMatchesHandComputedValues) {
  // 2 -> 4 upsampling of [0, 255]: PIL gives 0, 64, 191, 255 (weights 0.75/0.25 at the inner
  // pixels, edge pixels replicate).
  at::Tensor src = at::tensor({0, 255}, at::kByte).reshape({1, 2}).expand({2, 2}).contiguous();
  at::Tensor out = ResizeBilinearPil(src, 2, 4);
  EXPECT_TRUE(at::equal(out[0], at::tensor({0, 64, 191, 255}, at::kByte))) << out;
  // Identity size is a copy; constant images stay constant.
  at::Tensor c = at::full({28, 28}, 77, at::kByte);
  EXPECT_TRUE(at::equal(ResizeBilinearPil(c, 32, 32), at::full({32, 32}, 77, at::kByte)));
}

// SVG and DETERMINISTIC: clamp -> draw -> move, checked frame by frame from the trajectory.
void CheckSvgRules(const MovingMnist& m, bool deterministic) {
  const int lim = 64 - 32, ms = 4;
  int bounces = 0;
  for (int64_t idx = 0; idx < 200; ++idx) {
    std::vector<DigitTrack> tr;
    m.Generate(11, idx, 30, &tr);
    for (const auto& d : tr) {
      EXPECT_GE(d.x[0], 0);
      EXPECT_LE(d.x[0], lim - 1);
      for (int t = 0; t < 30; ++t) {
        ASSERT_GE(d.x[t], 0);
        ASSERT_LE(d.x[t], lim - 1);  // the digit stays inside the 64-px frame
        ASSERT_GE(d.y[t], 0);
        ASSERT_LE(d.y[t], lim - 1);
        ASSERT_LE(std::abs(d.dx[t]), ms);
        ASSERT_LE(std::abs(d.dy[t]), ms);
        if (t == 29) break;
        const int rx = d.x[t] + d.dx[t], ry = d.y[t] + d.dy[t];
        const bool vy = ry < 0 || ry >= lim, vx = rx < 0 || rx >= lim;
        ASSERT_EQ(d.bounced[t + 1] != 0, vx || vy);
        if (!vx && !vy) {  // free flight: exact integer motion, same velocity
          ASSERT_EQ(d.x[t + 1], rx);
          ASSERT_EQ(d.y[t + 1], ry);
          ASSERT_EQ(d.dx[t + 1], d.dx[t]);
          ASSERT_EQ(d.dy[t + 1], d.dy[t]);
          continue;
        }
        ++bounces;
        ASSERT_EQ(d.y[t + 1], ry < 0 ? 0 : (ry >= lim ? lim - 1 : ry));
        ASSERT_EQ(d.x[t + 1], rx < 0 ? 0 : (rx >= lim ? lim - 1 : rx));
        if (deterministic) {  // the component at the wall is negated, the other kept
          ASSERT_EQ(d.dy[t + 1], vy ? -d.dy[t] : d.dy[t]);
          ASSERT_EQ(d.dx[t + 1], vx ? -d.dx[t] : d.dx[t]);
        } else {
          // The later (horizontal) check redraws dy too, so the vertical sign rule is only
          // visible when x did not also bounce.
          if (vx) {
            ASSERT_TRUE(rx < 0 ? d.dx[t + 1] >= 1 : d.dx[t + 1] <= -1);
          }
          if (vy && !vx) {
            ASSERT_TRUE(ry < 0 ? d.dy[t + 1] >= 1 : d.dy[t + 1] <= -1);
          }
        }
      }
    }
  }
  EXPECT_GT(bounces, 100);
}

TEST(MovingMnist, SvgBounceRules) { CheckSvgRules(Make(MovingMnistData::SVG, 32), false); }
TEST(MovingMnist, DeterministicNegatesAtWalls) {
  CheckSvgRules(Make(MovingMnistData::DETERMINISTIC, 32), true);
}

TEST(MovingMnist, SvgRedrawsAreRandomDeterministicAreNot) {
  // Stochastic: after bounces the speed magnitude changes sometimes; deterministic: never.
  for (auto c : {MovingMnistData::SVG, MovingMnistData::DETERMINISTIC}) {
    MovingMnist m = Make(c, 32);
    int changed = 0;
    for (int64_t idx = 0; idx < 100; ++idx) {
      std::vector<DigitTrack> tr;
      m.Generate(3, idx, 30, &tr);
      for (const auto& d : tr) {
        for (int t = 1; t < 30; ++t) {
          if (std::abs(d.dx[t]) + std::abs(d.dy[t]) != std::abs(d.dx[0]) + std::abs(d.dy[0])) {
            ++changed;
          }
        }
      }
    }
    if (c == MovingMnistData::SVG) {
      EXPECT_GT(changed, 0);
    } else {
      EXPECT_EQ(changed, 0);
    }
  }
}

TEST(MovingMnist, SrvpExactReflection) {
  MovingMnist m = Make(MovingMnistData::SRVP, 28);
  const double lim = 64 - 28, eps = 1e-8;
  int bounces = 0, single = 0, matched = 0;
  for (int64_t idx = 0; idx < 200; ++idx) {
    std::vector<DigitTrack> tr;
    m.Generate(5, idx, 30, &tr);
    for (const auto& d : tr) {
      EXPECT_EQ(d.fx[0], std::floor(d.fx[0]));  // integer start in [0, L]
      for (int t = 0; t < 30; ++t) {
        ASSERT_GE(d.fx[t], -eps);
        ASSERT_LE(d.fx[t], lim + eps);
        ASSERT_GE(d.fy[t], -eps);
        ASSERT_LE(d.fy[t], lim + eps);
        ASSERT_EQ(d.x[t], static_cast<int>(std::nearbyint(d.fx[t])));
        ASSERT_EQ(d.y[t], static_cast<int>(std::nearbyint(d.fy[t])));
        ASSERT_LE(std::abs(d.dx[t]), 4);
        ASSERT_LE(std::abs(d.dy[t]), 4);
        if (t == 29) break;
        const double rx = d.fx[t] + d.dx[t], ry = d.fy[t] + d.dy[t];
        const bool out_l = rx<-eps, out_r = rx> lim + eps;
        const bool out_u = ry<-eps, out_b = ry> lim + eps;
        if (!(out_l || out_r || out_u || out_b)) {
          ASSERT_DOUBLE_EQ(d.fx[t + 1], rx);
          ASSERT_DOUBLE_EQ(d.fy[t + 1], ry);
          ASSERT_EQ(d.dx[t + 1], d.dx[t]);
          ASSERT_EQ(d.dy[t + 1], d.dy[t]);
          continue;
        }
        ++bounces;
        ASSERT_TRUE(d.bounced[t + 1]);
        // Only one wall crossed: the new normal component points away from it, and the digit
        // ends at crossing point + new velocity x remaining time (sub-step reflection) whenever
        // that point is inside (one reflection).
        if ((out_l || out_r) != (out_u || out_b)) {
          const bool horiz = out_l || out_r;
          const double wall = horiz ? (out_l ? 0.0 : lim) : (out_u ? 0.0 : lim);
          const double from = horiz ? d.fx[t] : d.fy[t];
          const double v = horiz ? d.dx[t] : d.dy[t];
          const double p = 1.0 - (wall - from) / v;  // remaining time after the crossing
          const double cx = d.fx[t] + d.dx[t] * (1.0 - p), cy = d.fy[t] + d.dy[t] * (1.0 - p);
          const double nx = cx + d.dx[t + 1] * p, ny = cy + d.dy[t + 1] * p;
          const int vn = horiz ? d.dx[t + 1] : d.dy[t + 1];
          // (A second reflection in a corner can also end inside: those are the few misses.)
          if (nx >= -eps && nx <= lim + eps && ny >= -eps && ny <= lim + eps) {
            ++single;
            if (std::abs(d.fx[t + 1] - nx) < 1e-9 && std::abs(d.fy[t + 1] - ny) < 1e-9) {
              ++matched;
              ASSERT_TRUE(out_l || out_u ? vn >= 0 : vn <= 0);
            }
          }
        }
      }
    }
  }
  EXPECT_GT(bounces, 100);
  EXPECT_GT(single, bounces / 2);
  EXPECT_GE(matched, single * 9 / 10);
}

TEST(MovingMnist, CreateRejectsBadOptions) {
  MovingMnistOptions o;
  o.convention = MovingMnistData::SRVP;
  o.digit_size = 32;
  auto r = MovingMnist::Create(Glyphs(), at::Tensor(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("data.moving_mnist.digit_size"), std::string::npos);
  o.convention = MovingMnistData::SVG;
  o.num_digits = 0;
  r = MovingMnist::Create(Glyphs(), at::Tensor(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "data.moving_mnist.num_digits: must be >= 1");
}

TEST(MovingMnistSource, TrainStreamAndFixedTestSet) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteIdx(dir / "train.gz", Glyphs(), true).ok());
  ASSERT_TRUE(WriteIdx(dir / "test", Glyphs(7), false).ok());
  framecast::DataConfig c;
  c.set_global_batch(4);
  c.mutable_moving_mnist()->set_train_digits(dir / "train.gz");
  c.mutable_moving_mnist()->set_test_digits(dir / "test");
  c.set_eval_sequences(5);
  ASSERT_TRUE(ApplyDataDefaults(&c).ok());
  EXPECT_EQ(c.epoch_size(), 2400);
  EXPECT_EQ(c.moving_mnist().train_labels(), "");  // own digits: no default labels
  ASSERT_TRUE(ValidateData(c).ok()) << ValidateData(c).message();
  auto train = MakeTrainSource(c, 15);
  auto test = MakeTestSource(c, 30);
  ASSERT_TRUE(train.ok()) << train.status().message();
  ASSERT_TRUE(test.ok()) << test.status().message();
  EXPECT_EQ(train.value()->size(), 2400);
  EXPECT_EQ(test.value()->size(), 5);
  EXPECT_EQ(train.value()->channels(), 1);
  EXPECT_EQ(train.value()->image_size(), 64);
  auto a = train.value()->Get(3, 99).value().frames;
  EXPECT_EQ(a.sizes(), at::IntArrayRef({15, 1, 64, 64}));
  EXPECT_TRUE(at::equal(a, train.value()->Get(3, 99).value().frames));
  EXPECT_FALSE(at::equal(a, train.value()->Get(3, 98).value().frames));  // key = randomness
  // The test set ignores the key and uses test_seed (42).
  auto t0 = test.value()->Get(2, 1).value().frames;
  EXPECT_TRUE(at::equal(t0, test.value()->Get(2, 12345).value().frames));
  EXPECT_EQ(t0.size(0), 30);
  EXPECT_FALSE(test.value()->Get(5, 0).ok());
}

TEST(MovingMnistSource, ValidationNamesFieldAndPath) {
  framecast::DataConfig c;
  c.set_global_batch(4);
  c.mutable_moving_mnist()->set_train_digits("/nonexistent/train.gz");
  ASSERT_TRUE(ApplyDataDefaults(&c).ok());
  Status s = ValidateData(c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "data.moving_mnist.train_digits: /nonexistent/train.gz: no such file");
  c.mutable_moving_mnist()->set_num_digits(-1);
  EXPECT_EQ(ValidateData(c).message(), "data.moving_mnist.num_digits: must be >= 1");
  framecast::DataConfig d;
  d.mutable_clips()->set_path("/nonexistent/ds");
  ASSERT_TRUE(ApplyDataDefaults(&d).ok());
  EXPECT_NE(ValidateData(d).message().find("data.clips.path: /nonexistent/ds/manifest.pbtxt"),
            std::string::npos);
}

TEST(MovingMnistSource, BannerNamesTheSubstituteDataset) {
  framecast::DataConfig c;
  c.set_global_batch(4);
  c.mutable_moving_mnist();
  ASSERT_TRUE(ApplyDataDefaults(&c).ok());  // Debian's Fashion-MNIST items
  const std::string note = DescribeSubstitute(c);
  EXPECT_NE(note.find("substitute dataset"), std::string::npos) << note;
  EXPECT_NE(note.find(kDefaultTrainImages), std::string::npos) << note;
  c.mutable_moving_mnist()->set_train_digits("/data/Fashion/train-images.gz");
  EXPECT_NE(DescribeSubstitute(c).find("Fashion-MNIST items"), std::string::npos);
  c.mutable_moving_mnist()->set_train_digits("/data/mnist/train-images-idx3-ubyte.gz");
  EXPECT_EQ(DescribeSubstitute(c), "");  // the papers' digits: nothing to say
  framecast::DataConfig d;
  d.mutable_clips()->set_path("/data/bair");
  EXPECT_EQ(DescribeSubstitute(d), "");
  framecast::DataConfig b;
  b.mutable_procedural_blobs();
  EXPECT_NE(DescribeSubstitute(b).find("synthetic"), std::string::npos);
}

}  // namespace
}  // namespace fc::data
