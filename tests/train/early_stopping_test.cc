// EarlyStopping (train/early_stopping.h): direction, min_delta, patience, non-finite values, and a
// state carried through a manifest (as a resume carries it) stopping where an uninterrupted one
// does.
#include "train/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace fc::train {
namespace {

framecast::EarlyStoppingConfig Config(int patience, double min_delta = 0) {
  framecast::EarlyStoppingConfig c;
  c.set_metric("fid");
  c.set_patience(patience);
  c.set_min_delta(min_delta);
  return c;
}

// The evaluation (1-based) at which the stage stops, or 0.
int StopsAt(const framecast::EarlyStoppingConfig& c, bool higher, const std::vector<double>& v) {
  framecast::ckpt::StageStatus state;
  EarlyStopping es(c, higher, &state);
  for (size_t i = 0; i < v.size(); ++i)
    if (es.Record(static_cast<int64_t>(10 * (i + 1)), v[i]).stop) return static_cast<int>(i + 1);
  return 0;
}

TEST(EarlyStopping, LowerIsBetterWithPatience) {
  // Best at evaluation 2 (5.0); 3 and 4 do not improve; patience 2 stops at 4.
  EXPECT_EQ(StopsAt(Config(2), false, {9, 5, 6, 5, 1}), 4);
  // Every evaluation improves: never stops.
  EXPECT_EQ(StopsAt(Config(1), false, {9, 8, 7, 6}), 0);
  // Patience 3: the improvement at 4 resets the count.
  EXPECT_EQ(StopsAt(Config(3), false, {9, 9.5, 9.5, 8, 8, 8, 8}), 7);
}

TEST(EarlyStopping, HigherIsBetterAndMinDelta) {
  EXPECT_EQ(StopsAt(Config(1), true, {1, 2, 3, 2.5}), 4);
  // Gains of 0.05 do not count with min_delta 0.1.
  EXPECT_EQ(StopsAt(Config(2, 0.1), true, {1, 1.05, 1.08, 1.3}), 3);
  EXPECT_EQ(StopsAt(Config(2, 0.1), true, {1, 1.2, 1.4, 1.6}), 0);
}

TEST(EarlyStopping, NonFiniteNeverImprovesAndFirstFiniteIsBest) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(StopsAt(Config(2), false, {nan, nan}), 2);
  EXPECT_EQ(StopsAt(Config(2), false, {nan, 3, inf, nan}), 4);
  framecast::ckpt::StageStatus state;
  EarlyStopping es(Config(5), false, &state);
  EXPECT_FALSE(es.Record(10, nan).improved);
  EXPECT_TRUE(es.Record(20, 100).improved);  // first finite value: the best however large
  EXPECT_EQ(state.best_step(), 20);
  EXPECT_EQ(state.best_value(), 100);
  EXPECT_EQ(es.Describe(), "best fid 100 at step 20, 0/5 evaluation(s) without improvement");
}

TEST(EarlyStopping, NoMetricRecordsButNeverStops) {
  framecast::EarlyStoppingConfig c;  // metric empty
  framecast::ckpt::StageStatus state;
  EarlyStopping es(c, false, &state);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(es.Record(i, 5).stop);
  EXPECT_FALSE(state.stopped_early());
}

TEST(EarlyStopping, StateThroughAManifestStopsAtTheSameEvaluation) {
  const std::vector<double> v = {9, 5, 6, 7, 4, 4.5, 4.2, 4.1, 4.3};
  const auto c = Config(3);
  const int uninterrupted = StopsAt(c, false, v);
  ASSERT_EQ(uninterrupted, 8);
  for (size_t cut = 1; cut < static_cast<size_t>(uninterrupted); ++cut) {
    framecast::ckpt::StageStatus first;
    EarlyStopping a(c, false, &first);
    for (size_t i = 0; i < cut; ++i) ASSERT_FALSE(a.Record(static_cast<int64_t>(i), v[i]).stop);
    // A checkpoint's manifest holds the state; the resumed run reads it back.
    framecast::ckpt::Manifest m;
    *m.add_stages() = first;
    framecast::ckpt::Manifest back;
    ASSERT_TRUE(back.ParseFromString(m.SerializeAsString()));
    framecast::ckpt::StageStatus resumed = back.stages(0);
    EarlyStopping b(c, false, &resumed);
    int stopped = 0;
    for (size_t i = cut; i < v.size() && !stopped; ++i)
      if (b.Record(static_cast<int64_t>(i), v[i]).stop) stopped = static_cast<int>(i + 1);
    EXPECT_EQ(stopped, uninterrupted) << "cut after evaluation " << cut;
    EXPECT_TRUE(resumed.stopped_early());
    EXPECT_EQ(resumed.best_step(), 4);
  }
}

}  // namespace
}  // namespace fc::train
