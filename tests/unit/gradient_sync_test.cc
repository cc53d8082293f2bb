// GradientSync on in-process ranks: equivalence with single-process training, accumulation,
// unused parameters, parameter mismatch, bucket layout.
#include "dist/gradient_sync.h"

#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "common/checks.h"
#include "common/ranks.h"

namespace fc::testing {
namespace {

TEST(GradientSync, TrainingMatchesSingleProcess) {
  for (int ranks : {2, 3}) {
    RunRanks(ranks, [](int, dist::Communicator* c) {
      CheckTrainingMatchesSingleProcess(c, /*steps=*/6, /*b=*/4, /*accumulation=*/1, 1e-9, at::kCPU,
                                        at::kDouble);
    });
  }
}

TEST(GradientSync, NoSyncAccumulationMatchesLargerBatch) {
  RunRanks(2, [](int, dist::Communicator* c) {
    // Float64: in float32 the summation order of the larger reference batch differs by ~1e-7 per
    // step, and on some CPUs a BN bias near zero turns that into a 1e-4 relative difference.
    CheckTrainingMatchesSingleProcess(c, /*steps=*/4, /*b=*/3, /*accumulation=*/3, 1e-9, at::kCPU,
                                      at::kDouble);
  });
}

struct TwoHeads : torch::nn::Module {
  TwoHeads() {
    a = register_module("a", torch::nn::Linear(4, 3));
    b = register_module("b", torch::nn::Linear(4, 3));
  }
  torch::nn::Linear a{nullptr}, b{nullptr};
};

TEST(GradientSync, UnusedParameterGetsZerosAndNoHang) {
  RunRanks(3, [](int rank, dist::Communicator* c) {
    torch::manual_seed(1);
    auto m = std::make_shared<TwoHeads>();
    dist::GradientSyncOptions o;
    o.first_bucket_bytes = 16;  // several buckets, so an unused one sits between used ones
    o.bucket_bytes = 16;
    auto sync = dist::GradientSync::Create(*m, c, o, "two-heads");
    ASSERT_TRUE(sync.ok()) << sync.status().ToString();
    sync.value()->ZeroGrad();
    at::Tensor x = at::ones({2, 4});
    // Rank 0 uses both heads, the others only head a; nobody uses b on ranks 1, 2.
    at::Tensor loss = m->a(x).sum();
    if (rank == 0) loss = loss + m->b(x).sum();
    loss.backward();
    ASSERT_TRUE(sync.value()->Finish().ok());
    // b's gradient: rank 0 contributes 2 per weight row element (sum over batch of x=1), others 0.
    EXPECT_TRUE(at::allclose(m->b->weight.grad(), at::full({3, 4}, 2.0 / 3)));
    EXPECT_TRUE(at::allclose(m->a->weight.grad(), at::full({3, 4}, 2.0)));
  });
}

TEST(GradientSync, RankWithNoGradientAtAllStillSynchronises) {
  RunRanks(2, [](int rank, dist::Communicator* c) {
    auto m = std::make_shared<TwoHeads>();
    auto sync = dist::GradientSync::Create(*m, c, {}, "two-heads");
    ASSERT_TRUE(sync.ok());
    sync.value()->ZeroGrad();
    if (rank == 0) m->a(at::ones({1, 4})).sum().backward();
    ASSERT_TRUE(sync.value()->Finish().ok());  // rank 1 synchronises zeros here
    EXPECT_TRUE(at::allclose(m->a->bias.grad(), at::full({3}, 0.5)));
  });
}

TEST(GradientSync, ParameterMismatchNamesRanksAndParameter) {
  RunRanks(2, [](int rank, dist::Communicator* c) {
    torch::nn::Linear lin(4, rank == 0 ? 3 : 5);
    auto sync = dist::GradientSync::Create(*lin, c, {}, "g");
    ASSERT_FALSE(sync.ok());
    const std::string& m = sync.status().message();
    EXPECT_NE(m.find("on rank 1"), std::string::npos) << m;
    EXPECT_NE(m.find("weight"), std::string::npos) << m;
    EXPECT_NE(m.find("[5, 4]"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 4]"), std::string::npos) << m;
  });
}

TEST(GradientSync, InitialStateBroadcastFromRankZero) {
  RunRanks(3, [](int rank, dist::Communicator* c) {
    torch::nn::Linear lin(4, 3);
    {
      torch::NoGradGuard ng;
      lin->weight.fill_(rank + 1.0);
    }
    auto sync = dist::GradientSync::Create(*lin, c, {}, "g");
    ASSERT_TRUE(sync.ok());
    EXPECT_TRUE(at::equal(lin->weight, at::ones({3, 4})));
  });
}

TEST(GradientSync, BucketsFollowCapsInReverseOrder) {
  RunRanks(1, [](int, dist::Communicator* c) {
    torch::nn::Sequential seq(torch::nn::Linear(256, 256), torch::nn::Linear(256, 256),
                              torch::nn::Linear(256, 256));
    dist::GradientSyncOptions o;
    o.first_bucket_bytes = 256 * 256 * 4;       // exactly the last weight
    o.bucket_bytes = 2 * 256 * 256 * 4 + 4096;  // two weights and their biases
    auto sync = dist::GradientSync::Create(*seq, c, o, "seq");
    ASSERT_TRUE(sync.ok());
    // Reverse registration order: bias2 opens bucket 0, weight2 would overflow its 256 KiB cap;
    // bucket 1 takes weight2, bias1, weight1, bias0 (526336 B <= cap); weight0 opens bucket 2.
    ASSERT_EQ(sync.value()->num_buckets(), 3);
    EXPECT_EQ(sync.value()->bucket_bytes(0), 256 * 4);
    EXPECT_EQ(sync.value()->bucket_bytes(1), (2 * 256 * 256 + 2 * 256) * 4);
    EXPECT_EQ(sync.value()->bucket_bytes(2), 256 * 256 * 4);
    EXPECT_EQ(sync.value()->total_bytes(), 3 * (256 * 256 + 256) * 4);
  });
}

TEST(GradientSync, GradientsAreBucketViewsAfterZeroGrad) {
  RunRanks(2, [](int, dist::Communicator* c) {
    torch::nn::Linear lin(4, 3);
    auto sync = dist::GradientSync::Create(*lin, c, {}, "g");
    ASSERT_TRUE(sync.ok());
    at::Tensor g0 = lin->weight.grad();
    lin(at::ones({2, 4})).sum().backward();
    ASSERT_TRUE(sync.value()->Finish().ok());
    EXPECT_TRUE(lin->weight.grad().is_same(g0));  // accumulated straight into the bucket
    sync.value()->ZeroGrad();
    EXPECT_EQ(lin->weight.grad().abs().sum().item<double>(), 0.0);
  });
}

}  // namespace
}  // namespace fc::testing

namespace fc::testing {
namespace {

// bf16 on the wire (dist.gradient_dtype: GRADIENT_BF16): the averaged gradient goes through bf16:
// within bf16's relative precision (2^-8) of the fp32 path, norm-wise, and not equal to it (the
// compression happened), on 3 ranks. Error feedback compensates each rank's cast to bf16, not the
// rounding of the reduction itself (the sum is formed in bf16, as NCCL's bf16 all-reduce does): on
// one rank, where the reduction adds no rounding, the summed gradients of 64 steps of the same
// gradient stay within a few bf16 ulps in total (relative 2e-4) with it, while without it the
// systematic rounding of every step adds up.
// The summed gradients after `steps` synchronised steps on `ranks` in-process ranks (one fresh
// RunRanks per configuration), rank 0's copy.
at::Tensor SyncedGradients(int ranks, at::ScalarType wire, bool feedback, int steps) {
  at::Tensor out;
  RunRanks(ranks, [&](int rank, dist::Communicator* c) {
    auto m = std::make_shared<TwoHeads>();
    {
      // Fixed weights, not the global generator (the in-process ranks share it across threads).
      torch::NoGradGuard ng;
      int k = 0;
      for (auto& p : m->parameters())
        p.copy_(at::linspace(-0.7, 0.9, p.numel()).reshape(p.sizes()) * (1 + 0.1 * k++));
    }
    dist::GradientSyncOptions o;
    o.wire_dtype = wire;
    o.error_feedback = feedback;
    auto sync = dist::GradientSync::Create(*m, c, o, "bf16");
    ASSERT_TRUE(sync.ok()) << sync.status().ToString();
    // Inputs that differ per rank, with values bf16 cannot hold exactly.
    at::Tensor x = at::linspace(0.1, 1.7, 8).reshape({2, 4}) * (1.0 + 0.123457 * rank);
    at::Tensor sum = at::zeros({24});
    for (int s = 0; s < steps; ++s) {
      sync.value()->ZeroGrad();
      (m->a(x).pow(2).sum() + m->b(x).sum()).backward();
      ASSERT_TRUE(sync.value()->Finish().ok());
      sum += at::cat({m->a->weight.grad().flatten(), m->b->weight.grad().flatten()});
    }
    if (rank == 0) out = sum;
  });
  return out;
}

TEST(GradientSync, Bf16WireIsCloseToFp32AndErrorFeedbackBoundsTheDrift) {
  const at::Tensor fp32 = SyncedGradients(3, at::kFloat, false, 1);
  const at::Tensor bf16 = SyncedGradients(3, at::kBFloat16, false, 1);
  ASSERT_TRUE(fp32.defined() && bf16.defined());
  const double rel = ((bf16 - fp32).norm() / fp32.norm()).item<double>();
  EXPECT_LT(rel, 1.0 / 256) << "one step on 3 ranks, bf16 wire vs fp32";
  EXPECT_GT(rel, 0.0) << "the gradient did not go through bf16";
  const at::Tensor ref = SyncedGradients(1, at::kFloat, false, 64);
  const double drift =
      ((SyncedGradients(1, at::kBFloat16, false, 64) - ref).norm() / ref.norm()).item<double>();
  const double fed =
      ((SyncedGradients(1, at::kBFloat16, true, 64) - ref).norm() / ref.norm()).item<double>();
  EXPECT_LT(fed, 2e-4) << "error feedback, 64 steps (plain bf16: " << drift << ")";
  EXPECT_LT(fed, drift / 4) << "error feedback must beat plain bf16 (" << drift << ")";
}

}  // namespace
}  // namespace fc::testing
