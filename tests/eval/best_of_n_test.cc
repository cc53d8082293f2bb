// Best-of-N: selection per metric, statistics, baselines, and distributed evaluation over
// in-process ranks equal to one rank (uneven shares, an empty rank, agreed failures).
#include "eval/best_of_n.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "common/ranks.h"
#include "eval/metrics.h"

namespace fc::eval {
namespace {

TEST(BestOfN, SelectBestPerDirectionWithTiesToFirst) {
  // [2 sequences, 3 samples, 2 frames]
  at::Tensor t = at::tensor({1.0, 3.0, 2.0, 2.0, 0.0, 1.0,   // seq 0: means 2, 2, 0.5
                             5.0, 5.0, 1.0, 1.0, 9.0, 0.0},  // seq 1: means 5, 1, 4.5
                            at::kDouble)
                     .reshape({2, 3, 2});
  Selection hi = SelectBest(t, Direction::kHigherIsBetter);
  EXPECT_EQ(hi.index[0].item<int64_t>(), 0);  // tie between 0 and 1: first
  EXPECT_EQ(hi.index[1].item<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(hi.score[1].item<double>(), 5.0);
  Selection lo = SelectBest(t, Direction::kLowerIsBetter);
  EXPECT_EQ(lo.index[0].item<int64_t>(), 2);
  EXPECT_EQ(lo.index[1].item<int64_t>(), 1);
  EXPECT_TRUE(at::equal(lo.curves[0], at::tensor({0.0, 1.0}, at::kDouble)));
  EXPECT_TRUE(at::equal(lo.curves[1], at::tensor({1.0, 1.0}, at::kDouble)));
}

TEST(BestOfN, SummarizeStatistics) {
  at::Tensor curves = at::tensor({1.0, 3.0, 3.0, 5.0, 5.0, 7.0}, at::kDouble).reshape({3, 2});
  MetricSummary m = Summarize("psnr", Direction::kHigherIsBetter, curves, at::tensor({0, 1, 2}));
  EXPECT_EQ(m.per_sequence, (std::vector<double>{2, 4, 6}));
  EXPECT_DOUBLE_EQ(m.mean, 4.0);
  EXPECT_NEAR(m.std, std::sqrt(8.0 / 3.0), 1e-12);
  EXPECT_NEAR(m.ci95, 1.96 * std::sqrt(8.0 / 3.0) / std::sqrt(3.0), 1e-12);
  EXPECT_EQ(m.per_frame, (std::vector<double>{3, 5}));
  EXPECT_EQ(m.best_sample, (std::vector<int64_t>{0, 1, 2}));
}

TEST(BestOfN, SharesAreDisjointAndCover) {
  for (int64_t n : {0, 1, 2, 7, 10}) {
    for (int size : {1, 2, 3, 4}) {
      int64_t next = 0, lo = n, hi = 0;
      for (int r = 0; r < size; ++r) {
        Share s = ShareOf(n, r, size);
        EXPECT_EQ(s.begin, next);
        next = s.end;
        lo = std::min(lo, s.size());
        hi = std::max(hi, s.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1);
    }
  }
}

// Per-metric selection: sample 0 keeps the texture but is offset (high SSIM, lower PSNR);
// sample 1 is the flat mean of the target (higher PSNR, low SSIM).
TEST(BestOfN, EvaluateSelectsSeparatelyPerMetric) {
  at::manual_seed(4);
  const int64_t d = 2, h = 3;
  at::Tensor clips = (0.5 + 0.02 * at::randn({2, d + h, 1, 16, 16})).clamp(0, 1);
  at::Tensor future = clips.slice(1, d, d + h);
  int64_t call = 0;
  PredictFn predict = [&](const at::Tensor& ctx, int64_t horizon, int64_t s) -> Result<at::Tensor> {
    EXPECT_EQ(ctx.sizes(), (at::IntArrayRef{2, d, 1, 16, 16}));
    EXPECT_EQ(horizon, h);
    ++call;
    if (s == 0) return future + 0.04;
    return future.mean({2, 3, 4}, true).expand_as(future).contiguous();
  };
  EvalOptions o;
  o.context = d;
  o.horizon = h;
  o.samples = 2;
  auto r = Evaluate("crafted", predict, clips, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(call, 2);
  EXPECT_EQ(r->psnr.best_sample, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r->ssim.best_sample, (std::vector<int64_t>{0, 0}));
  EXPECT_FALSE(r->lpips.available);
  EXPECT_FALSE(r->fvd.available);
  // The offset sample's PSNR is 10 log10(1 / 0.0016); the flat one must beat it.
  EXPECT_GT(r->psnr.mean, 10 * std::log10(1 / 0.0016));
  EXPECT_GT(r->ssim.mean, 0.99);
  ASSERT_EQ(r->psnr.per_frame.size(), 3u);
}

TEST(BestOfN, BaselinesOnStaticAndMovingClips) {
  at::manual_seed(5);
  const int64_t d = 3, h = 4;
  at::Tensor frame = at::rand({2, 1, 3, 12, 12});
  at::Tensor still = frame.expand({2, d + h, 3, 12, 12}).contiguous();
  EvalOptions o;
  o.context = d;
  o.horizon = h;
  o.samples = 1;
  for (auto [name, fn] : {std::pair<std::string, PredictFn>{"copy-last", CopyLastFramePredictor()},
                          {"mean-frame", MeanFramePredictor()}}) {
    auto r = Evaluate(name, fn, still, o, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->psnr.mean, kPsnrCapDb) << name;
    EXPECT_NEAR(r->ssim.mean, 1.0, 1e-12) << name;
    EXPECT_EQ(r->psnr.std, 0.0);
  }
  // Context 0.2, 0.4, 0.6 then 0.6 forever: copy-last is perfect, mean-frame is off by 0.2.
  at::Tensor ramp = at::tensor({0.2, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6}).reshape({1, 7, 1, 1, 1});
  at::Tensor clips = ramp.expand({1, 7, 1, 11, 11}).contiguous();
  auto copy = Evaluate("copy-last", CopyLastFramePredictor(), clips, o, nullptr);
  auto mean = Evaluate("mean-frame", MeanFramePredictor(), clips, o, nullptr);
  ASSERT_TRUE(copy.ok() && mean.ok());
  EXPECT_EQ(copy->psnr.mean, kPsnrCapDb);
  EXPECT_NEAR(mean->psnr.mean, 10 * std::log10(1 / 0.04), 1e-5);
  // uint8 clips are scaled by 1/255.
  auto u8 = Evaluate("copy-last", CopyLastFramePredictor(), (still * 255).round().to(at::kByte), o,
                     nullptr);
  ASSERT_TRUE(u8.ok()) << u8.status().ToString();
  EXPECT_EQ(u8->psnr.mean, kPsnrCapDb);
}

// A deterministic stochastic-looking method: sample s blends the last context frame with the
// context mean, sequence by sequence (independent of how sequences are batched).
PredictFn BlendPredictor(int64_t samples) {
  return [samples](const at::Tensor& ctx, int64_t h, int64_t s) -> Result<at::Tensor> {
    const double a = samples > 1 ? static_cast<double>(s) / static_cast<double>(samples - 1) : 1.0;
    at::Tensor last = ctx.select(1, ctx.size(1) - 1).unsqueeze(1);
    at::Tensor mean = ctx.mean(1, true);
    return (a * last + (1 - a) * mean + 0.01 * static_cast<double>(samples - 1 - s))
        .expand({-1, h, -1, -1, -1})
        .contiguous();
  };
}

void ExpectSameResult(const MethodResult& a, const MethodResult& b) {
  EXPECT_EQ(a.sequences, b.sequences);
  for (auto [x, y] : {std::pair<const MetricSummary*, const MetricSummary*>{&a.psnr, &b.psnr},
                      {&a.ssim, &b.ssim}}) {
    EXPECT_EQ(x->per_sequence.size(), y->per_sequence.size());
    for (size_t i = 0; i < x->per_sequence.size() && i < y->per_sequence.size(); ++i) {
      EXPECT_NEAR(x->per_sequence[i], y->per_sequence[i], 1e-12 * std::fabs(y->per_sequence[i]));
    }
    EXPECT_EQ(x->best_sample, y->best_sample);
    EXPECT_NEAR(x->mean, y->mean, 1e-12 * std::fabs(y->mean));
    EXPECT_NEAR(x->std, y->std, 1e-10 * std::fabs(y->std) + 1e-15);
    ASSERT_EQ(x->per_frame.size(), y->per_frame.size());
    for (size_t t = 0; t < x->per_frame.size(); ++t) {
      EXPECT_NEAR(x->per_frame[t], y->per_frame[t], 1e-12 * std::fabs(y->per_frame[t]));
    }
  }
}

TEST(BestOfN, BlurBaselineFitsTheWidthOnTrainingClips) {
  // Targets that are the last frame blurred by 2 px at t = 0 and unchanged at t = 1: the fit
  // recovers {2, 0}, and the predictor with those widths reproduces the targets.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  at::Tensor last = at::rand({4, 1, 1, 24, 24}, gen);
  auto blur2 = BlurLastFramePredictor({2.0});
  auto target0 = blur2(last, 1, 0);
  ASSERT_TRUE(target0.ok());
  at::Tensor clips = at::cat({last, target0.value(), last}, 1);  // [4, 3, 1, 24, 24]
  auto widths = FitBlurWidths(clips, 1, 2, DefaultBlurCandidates());
  ASSERT_TRUE(widths.ok()) << widths.status().ToString();
  EXPECT_EQ(widths.value(), (std::vector<double>{2.0, 0.0}));
  auto pred = BlurLastFramePredictor(widths.value())(last, 3, 0);
  ASSERT_TRUE(pred.ok());
  EXPECT_LT((pred.value().select(1, 0) - target0.value().select(1, 0)).abs().max().item<double>(),
            1e-6);
  EXPECT_EQ((pred.value().select(1, 1) - last.select(1, 0)).abs().max().item<double>(), 0.0);
  // Frames past the list keep its last width; a constant image stays constant (normalised
  // kernel, replicated borders).
  EXPECT_EQ((pred.value().select(1, 2) - last.select(1, 0)).abs().max().item<double>(), 0.0);
  auto flat = blur2(at::full({1, 1, 1, 8, 8}, 0.5), 1, 0);
  ASSERT_TRUE(flat.ok());
  EXPECT_LT((flat.value() - 0.5).abs().max().item<double>(), 1e-6);
  EXPECT_FALSE(FitBlurWidths(clips, 1, 3, DefaultBlurCandidates()).ok());  // too short
  EXPECT_FALSE(FitBlurWidths(clips, 1, 2, {}).ok());
  EXPECT_FALSE(FitBlurWidths(clips, 1, 2, {-1.0}).ok());
  EXPECT_FALSE(FitBlurWidths(clips, 1, 2, {std::nan("")}).ok());
}

TEST(BestOfN, DistributedEqualsSingleRank) {
  at::manual_seed(6);
  const int64_t n = 7, d = 2, h = 3, samples = 4;
  // Odd sequences are still (the last frame is best), even ones noise (the mean is better).
  at::Tensor clips = at::rand({n, d + h + 1, 1, 12, 12});  // one extra frame is ignored
  for (int64_t i = 1; i < n; i += 2) clips[i].copy_(clips[i][0].expand_as(clips[i]));
  EvalOptions o;
  o.context = d;
  o.horizon = h;
  o.samples = samples;
  o.batch = 2;
  auto single = Evaluate("blend", BlendPredictor(samples), clips, o, nullptr);
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  ASSERT_EQ(single->psnr.per_sequence.size(), static_cast<size_t>(n));
  std::set<int64_t> chosen(single->psnr.best_sample.begin(), single->psnr.best_sample.end());
  EXPECT_GT(chosen.size(), 1u) << "the crafted clips should prefer different samples";
  for (int ranks : {2, 3}) {
    std::vector<MethodResult> results(ranks);
    fc::testing::RunRanks(ranks, [&](int rank, dist::Communicator* comm) {
      Share s = ShareOf(n, rank, ranks);
      auto r = Evaluate("blend", BlendPredictor(samples), clips.slice(0, s.begin, s.end), o, comm);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      results[rank] = r.value();
    });
    for (int r = 0; r < ranks; ++r) {
      SCOPED_TRACE("ranks " + std::to_string(ranks) + " rank " + std::to_string(r));
      ExpectSameResult(results[r], single.value());
    }
  }
}

TEST(BestOfN, MoreRanksThanSequences) {
  at::manual_seed(7);
  at::Tensor clips = at::rand({2, 4, 1, 11, 11});
  EvalOptions o;
  o.context = 2;
  o.horizon = 2;
  o.samples = 2;
  auto single = Evaluate("blend", BlendPredictor(2), clips, o, nullptr);
  ASSERT_TRUE(single.ok());
  fc::testing::RunRanks(3, [&](int rank, dist::Communicator* comm) {
    Share s = ShareOf(2, rank, 3);
    auto r = Evaluate("blend", BlendPredictor(2), clips.slice(0, s.begin, s.end), o, comm);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ExpectSameResult(r.value(), single.value());
  });
}

TEST(BestOfN, FailureOnOneRankIsAgreed) {
  at::Tensor clips = at::rand({4, 4, 1, 11, 11});
  EvalOptions o;
  o.context = 2;
  o.horizon = 2;
  o.samples = 1;
  fc::testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    PredictFn fn = [rank](const at::Tensor& ctx, int64_t h, int64_t) -> Result<at::Tensor> {
      if (rank == 1) return Status::Internal("model exploded");
      return ctx.slice(1, 0, 1).expand({-1, h, -1, -1, -1}).contiguous();
    };
    Share s = ShareOf(4, rank, 2);
    auto r = Evaluate("flaky", fn, clips.slice(0, s.begin, s.end), o, comm);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("model exploded"), std::string::npos)
        << r.status().ToString();
  });
}

TEST(BestOfN, RejectsBadPredictionsAndOptions) {
  at::Tensor clips = at::rand({2, 4, 1, 11, 11});
  EvalOptions o;
  o.context = 2;
  o.horizon = 2;
  o.samples = 1;
  PredictFn wrong = [](const at::Tensor& ctx, int64_t, int64_t) -> Result<at::Tensor> {
    return ctx.slice(1, 0, 1);  // one frame instead of two
  };
  auto r = Evaluate("wrong", wrong, clips, o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("predict returned"), std::string::npos);
  o.horizon = 5;
  auto r2 = Evaluate("long", CopyLastFramePredictor(), clips, o, nullptr);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("context + horizon needs 7"), std::string::npos);
}

}  // namespace
}  // namespace fc::eval
