#include "data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace fc::data {
namespace {

DistributedSampler Make(int64_t n, int64_t gb, int world, int rank, int acc, uint64_t seed = 7) {
  SamplerOptions o;
  o.dataset_size = n;
  o.global_batch = gb;
  o.world_size = world;
  o.rank = rank;
  o.accumulation = acc;
  o.seed = seed;
  auto s = DistributedSampler::Make(o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return std::move(s).value();
}

// The global sample sequence of steps [0, steps) as seen by all ranks of a world.
std::vector<std::pair<int64_t, uint64_t>> Global(int64_t n, int64_t gb, int world, int acc,
                                                 int64_t steps) {
  std::vector<std::pair<int64_t, uint64_t>> seq(steps * gb);
  std::vector<int> seen(steps * gb, 0);
  for (int r = 0; r < world; ++r) {
    DistributedSampler s = Make(n, gb, world, r, acc);
    for (int64_t step = 0; step < steps; ++step) {
      for (int m = 0; m < acc; ++m) {
        for (const SampleRef& ref : s.Indices(step, m)) {
          seq[ref.position] = {ref.index, ref.key};
          seen[ref.position]++;
        }
      }
    }
  }
  for (size_t p = 0; p < seen.size(); ++p) EXPECT_EQ(seen[p], 1) << "position " << p;
  return seq;
}

TEST(Sampler, SharesAreDisjointAndCoverTheGlobalBatch) {
  const int world = 3, acc = 2;
  const int64_t gb = 12, b = 2;
  for (int64_t step : {0, 5, 41}) {
    std::set<int64_t> positions;
    for (int r = 0; r < world; ++r) {
      DistributedSampler s = Make(100, gb, world, r, acc);
      EXPECT_EQ(s.micro_batch(), b);
      for (int m = 0; m < acc; ++m) {
        auto refs = s.Indices(step, m);
        ASSERT_EQ(refs.size(), static_cast<size_t>(b));
        // Rank r, micro m: j in [(m * world + r) * b, + b).
        EXPECT_EQ(refs[0].position, step * gb + (m * world + r) * b);
        for (const auto& ref : refs) EXPECT_TRUE(positions.insert(ref.position).second);
      }
    }
    EXPECT_EQ(positions.size(), static_cast<size_t>(gb));
    EXPECT_EQ(*positions.begin(), step * gb);
    EXPECT_EQ(*positions.rbegin(), step * gb + gb - 1);
  }
}

TEST(Sampler, SameGlobalSequenceForOneTwoThreeRanks) {
  const int64_t n = 50, gb = 12, steps = 13;  // crosses three epoch boundaries
  auto one = Global(n, gb, 1, 1, steps);
  EXPECT_EQ(one, Global(n, gb, 2, 1, steps));
  EXPECT_EQ(one, Global(n, gb, 3, 1, steps));
  EXPECT_EQ(one, Global(n, gb, 2, 3, steps));
  EXPECT_EQ(one, Global(n, gb, 3, 4, steps));
}

TEST(Sampler, EveryEpochIsAFreshPermutation) {
  const int64_t n = 40;
  DistributedSampler s = Make(n, 8, 2, 0, 1);
  std::vector<std::vector<int64_t>> epochs(3);
  std::set<uint64_t> keys;
  for (int64_t p = 0; p < 3 * n; ++p) {
    SampleRef r = s.At(p);
    EXPECT_EQ(r.epoch, p / n);
    epochs[r.epoch].push_back(r.index);
    keys.insert(r.key);
  }
  for (auto& e : epochs) {
    std::vector<int64_t> sorted = e;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);  // each example once per epoch
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  EXPECT_EQ(keys.size(), static_cast<size_t>(3 * n));  // a new key per (epoch, index)
  // Another seed, another order.
  DistributedSampler t = Make(n, 8, 2, 0, 1, /*seed=*/8);
  std::vector<int64_t> other;
  for (int64_t p = 0; p < n; ++p) other.push_back(t.At(p).index);
  EXPECT_NE(other, epochs[0]);
}

TEST(Sampler, ResumeFromGlobalStepIsExactOnAnyWorld) {
  // A run on 2 ranks stopped after step 6; a resume on 3 ranks continues the same sequence.
  auto before = Global(37, 6, 2, 1, 20);
  for (int r = 0; r < 3; ++r) {
    DistributedSampler s = Make(37, 6, 3, r, 1);
    for (int64_t step = 7; step < 20; ++step) {
      for (const SampleRef& ref : s.Indices(step, 0)) {
        EXPECT_EQ(before[ref.position].first, ref.index);
        EXPECT_EQ(before[ref.position].second, ref.key);
      }
    }
  }
}

TEST(Sampler, PortablePermutationPinned) {
  // Fixed by CounterRng + Fisher-Yates; identical on every toolchain.
  std::vector<int64_t> want = {5, 7, 3, 6, 4, 8, 1, 2, 0, 9};
  EXPECT_EQ(PortablePermutation(10, 1), want);
}

TEST(Sampler, RejectsIndivisibleBatch) {
  SamplerOptions o;
  o.dataset_size = 10;
  o.global_batch = 10;
  o.world_size = 3;
  auto s = DistributedSampler::Make(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("data.global_batch=10"), std::string::npos);
}

}  // namespace
}  // namespace fc::data
