#include "eval/likelihood.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/ranks.h"
#include "eval/best_of_n.h"

namespace fc::eval {
namespace {

// A stand-in model whose per-sequence (NLL, KL) are known functions of the clip and its global
// index: NLL = sum of the target frames, KL = index + 1.
ElboFn KnownElbo(int64_t context, std::vector<int64_t>* seen = nullptr) {
  return [context, seen](const at::Tensor& clips, int64_t first) -> Result<at::Tensor> {
    const int64_t b = clips.size(0);
    if (seen) seen->push_back(first);
    at::Tensor nll = clips.narrow(1, context, clips.size(1) - context).to(at::kDouble).sum({1, 2, 3, 4});
    at::Tensor kl = at::arange(first, first + b, at::kDouble) + 1;
    return at::stack({nll, kl}, 1);
  };
}

TEST(HeldOutElbo, MeansStdAndBitsPerDimOverSequences) {
  at::manual_seed(3);
  const int64_t n = 7, D = 2, T = 3;
  at::Tensor clips = at::randint(0, 256, {n, D + T, 1, 4, 4}, at::kByte);
  std::vector<int64_t> seen;
  auto r = HeldOutElbo("m", KnownElbo(D, &seen), clips, 0, D, 3, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 3, 6}));  // batches of 3, keyed by global index
  at::Tensor x = (clips.to(at::kFloat) / 255.0).to(at::kDouble);  // the float32 frames it sees
  at::Tensor nll = x.narrow(1, D, T).sum({1, 2, 3, 4});
  at::Tensor kl = at::arange(1, n + 1, at::kDouble);
  at::Tensor e = nll + kl;
  EXPECT_EQ(r->sequences, n);
  EXPECT_EQ(r->horizon, T);
  EXPECT_EQ(r->dims_per_video, T * 16);
  EXPECT_NEAR(r->nll, nll.mean().item<double>(), 1e-9);
  EXPECT_NEAR(r->kl, 4.0, 1e-12);
  EXPECT_NEAR(r->neg_elbo, e.mean().item<double>(), 1e-9);
  EXPECT_NEAR(r->neg_elbo_std, e.std(/*unbiased=*/false).item<double>(), 1e-9);
  EXPECT_NEAR(r->bits_per_dim, r->neg_elbo / (T * 16 * std::log(2.0)), 1e-12);
  EXPECT_NE(FormatElbo(r.value()).find("nats/video"), std::string::npos);
}

TEST(HeldOutElbo, EveryRankCountGivesTheSameResult) {
  at::manual_seed(4);
  const int64_t n = 5, D = 1;
  at::Tensor clips = at::rand({n, 3, 1, 4, 4});
  auto single = HeldOutElbo("m", KnownElbo(D), clips, 0, D, 2, nullptr);
  ASSERT_TRUE(single.ok());
  for (int ranks : {2, 3, 6}) {  // 6 > n: a rank with no sequences
    fc::testing::RunRanks(ranks, [&](int rank, dist::Communicator* comm) {
      Share s = ShareOf(n, rank, ranks);
      auto r = HeldOutElbo("m", KnownElbo(D), clips.slice(0, s.begin, s.end), s.begin, D, 2, comm);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->sequences, n);
      EXPECT_NEAR(r->neg_elbo, single->neg_elbo, 1e-9);
      EXPECT_NEAR(r->neg_elbo_std, single->neg_elbo_std, 1e-9);
      EXPECT_NEAR(r->kl, single->kl, 1e-12);
    });
  }
}

TEST(HeldOutElbo, FailuresAndBadValuesAreAgreedErrors) {
  at::Tensor clips = at::rand({4, 3, 1, 4, 4});
  fc::testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    ElboFn fn = [rank](const at::Tensor& c, int64_t) -> Result<at::Tensor> {
      if (rank == 1) return at::full({c.size(0), 2}, NAN, at::kDouble);
      return at::zeros({c.size(0), 2}, at::kDouble);
    };
    Share s = ShareOf(4, rank, 2);
    auto r = HeldOutElbo("m", fn, clips.slice(0, s.begin, s.end), s.begin, 1, 4, comm);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("non-finite value for sequence 2"), std::string::npos)
        << r.status().ToString();
  });
  ElboFn wrong = [](const at::Tensor& c, int64_t) -> Result<at::Tensor> {
    return at::zeros({c.size(0)}, at::kDouble);
  };
  EXPECT_FALSE(HeldOutElbo("m", wrong, clips, 0, 1, 4, nullptr).ok());
  EXPECT_FALSE(HeldOutElbo("m", KnownElbo(1), clips, 0, 3, 4, nullptr).ok());  // no target frame
  EXPECT_FALSE(HeldOutElbo("m", KnownElbo(1), clips, 0, 1, 0, nullptr).ok());  // batch 0
  EXPECT_FALSE(HeldOutElbo("m", KnownElbo(1), clips.slice(0, 0, 0), 0, 1, 4, nullptr).ok());
}

}  // namespace
}  // namespace fc::eval
