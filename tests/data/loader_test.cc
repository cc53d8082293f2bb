#include "data/loader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

namespace fc::data {
namespace {

// Clip i: T=2 frames of 1x2x2 pixels holding i % 256 (and key % 7 in frame 1); `corrupt` indices
// fail as a damaged file would.
class FakeSource : public ClipSource {
 public:
  FakeSource(int64_t n, std::set<int64_t> corrupt) : n_(n), corrupt_(std::move(corrupt)) {}
  int64_t size() const override { return n_; }
  int64_t channels() const override { return 1; }
  int64_t image_size() const override { return 2; }
  int64_t num_classes() const override { return 3; }
  Result<Clip> Get(int64_t index, uint64_t key) const override {
    calls.fetch_add(1);
    if (corrupt_.count(index)) {
      return Status::Corruption("clips/seq" + std::to_string(index) +
                                ".frames: CRC-32C mismatch at byte offset 12");
    }
    Clip c;
    c.frames = at::full({2, 1, 2, 2}, index % 256, at::kByte);
    c.frames[1].fill_(static_cast<int64_t>(key % 7));
    c.label = index % 3;
    return c;
  }
  std::string Describe() const override { return "fake"; }
  mutable std::atomic<int64_t> calls{0};

 private:
  int64_t n_;
  std::set<int64_t> corrupt_;
};

DistributedSampler Sampler(int64_t n, int64_t gb, int world, int rank, int acc) {
  SamplerOptions o;
  o.dataset_size = n;
  o.global_batch = gb;
  o.world_size = world;
  o.rank = rank;
  o.accumulation = acc;
  o.seed = 3;
  return DistributedSampler::Make(o).value();
}

TEST(Loader, DeliversMicroBatchesInOrderWithTheSamplersExamples) {
  auto src = std::make_shared<FakeSource>(30, std::set<int64_t>{});
  DistributedSampler s = Sampler(30, 8, 2, 1, 2);  // b = 2
  Loader loader(src, s, LoaderOptions{3, 3, false, false});
  loader.Start(4);
  for (int64_t step = 4; step < 12; ++step) {
    for (int m = 0; m < 2; ++m) {
      auto b = loader.Next();
      ASSERT_TRUE(b.ok()) << b.status().message();
      EXPECT_EQ(b.value().global_step, step);
      EXPECT_EQ(b.value().micro, m);
      auto refs = s.Indices(step, m);
      ASSERT_EQ(b.value().frames.sizes(), at::IntArrayRef({2, 2, 1, 2, 2}));
      EXPECT_EQ(b.value().frames.scalar_type(), at::kFloat);
      for (int j = 0; j < 2; ++j) {
        EXPECT_EQ(b.value().indices[j], refs[j].index);
        EXPECT_FLOAT_EQ(b.value().frames[j][0][0][0][0].item<float>(), refs[j].index / 255.0f);
        EXPECT_FLOAT_EQ(b.value().frames[j][1][0][0][0].item<float>(), (refs[j].key % 7) / 255.0f);
        EXPECT_EQ(b.value().labels[j].item<int64_t>(), refs[j].index % 3);
      }
    }
  }
}

TEST(Loader, RestartAfterResumeMatchesAnUninterruptedRun) {
  auto src = std::make_shared<FakeSource>(17, std::set<int64_t>{});
  DistributedSampler s = Sampler(17, 4, 1, 0, 1);
  Loader a(src, s, LoaderOptions{2, 2, false, false});
  a.Start(0);
  std::vector<at::Tensor> run;
  for (int i = 0; i < 10; ++i) run.push_back(a.Next().value().frames);
  Loader b(src, s, LoaderOptions{1, 1, false, false});
  b.Start(0);
  (void)b.Next();
  b.Start(6);  // reposition mid-stream
  for (int i = 6; i < 10; ++i) {
    auto x = b.Next();
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(x.value().global_step, i);
    EXPECT_TRUE(at::equal(x.value().frames, run[i])) << "step " << i;
  }
}

TEST(Loader, PrefetchesExactlyPrefetchBatchesAhead) {
  auto src = std::make_shared<FakeSource>(100, std::set<int64_t>{});
  DistributedSampler s = Sampler(100, 4, 1, 0, 1);
  Loader loader(src, s, LoaderOptions{2, 3, false, false});
  loader.Start(0);
  auto wait_for = [&](int64_t calls) {
    for (int i = 0; i < 2000 && src->calls.load() < calls; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return src->calls.load();
  };
  // Before any Next(): three batches (12 clips) decoded ahead, then the workers wait.
  EXPECT_EQ(wait_for(12), 12);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(src->calls.load(), 12);
  ASSERT_TRUE(loader.Next().ok());
  EXPECT_EQ(wait_for(16), 16);  // one consumed, one more decoded
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(src->calls.load(), 16);
}

TEST(Loader, CorruptClipsStopWithTheFileNameOrAreSkippedAndCounted) {
  std::set<int64_t> bad = {1, 2, 5, 11};
  auto src = std::make_shared<FakeSource>(20, bad);
  DistributedSampler s = Sampler(20, 4, 1, 0, 1);
  // Default: the first corrupt clip is an error naming the file.
  {
    Loader loader(src, s, LoaderOptions{2, 2, false, false});
    loader.Start(0);
    Status first;
    for (int i = 0; i < 5 && first.ok(); ++i) {
      auto b = loader.Next();
      if (!b.ok()) first = b.status();
    }
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.code(), Status::Code::kCorruption);
    EXPECT_NE(first.message().find(".frames: CRC-32C mismatch at byte offset 12"),
              std::string::npos)
        << first.message();
    EXPECT_NE(first.message().find("clips/seq"), std::string::npos);
    EXPECT_EQ(loader.skipped(), 0);
  }
  // skip_corrupt: every corrupt example of the epoch is replaced by the next of the permutation.
  Loader loader(src, s, LoaderOptions{2, 2, true, false});
  loader.Start(0);
  int64_t expected_skips = 0;
  for (int step = 0; step < 5; ++step) {  // one epoch: 5 x 4 = 20 examples
    auto b = loader.Next();
    ASSERT_TRUE(b.ok()) << b.status().message();
    auto refs = s.Indices(step, 0);
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(bad.count(b.value().indices[j]), 0u);
      int64_t k = 0;
      while (bad.count(s.Permuted(0, refs[j].position % 20 + k))) ++k;
      EXPECT_EQ(b.value().indices[j], s.Permuted(0, refs[j].position % 20 + k));
      expected_skips += k;
    }
  }
  EXPECT_EQ(loader.skipped(), expected_skips);
  EXPECT_GE(loader.skipped(), static_cast<int64_t>(bad.size()));
}

}  // namespace
}  // namespace fc::data
