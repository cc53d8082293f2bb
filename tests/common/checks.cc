#include "common/checks.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/functional/batchnorm.h>
#include <torch/nn/modules/batchnorm.h>

#include "common/ranks.h"
#include "dist/sync_batch_norm.h"
#include "train/demo.h"

namespace fc::testing {

namespace {

// (r + 1) * (i % 7 + 1): sums and averages over up to 12 ranks are exact even in bfloat16.
at::Tensor Pattern(int64_t count, int rank, at::ScalarType dtype, at::Device device) {
  at::Tensor i = at::arange(count, at::kLong);
  return ((i.remainder(7) + 1) * (rank + 1)).to(dtype).to(device);
}

void ExpectExactly(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.numel(), want.numel()) << what;
  if (got.numel() == 0) return;
  at::Tensor g = got.cpu().to(at::kDouble).reshape({-1}), w = want.to(at::kDouble).reshape({-1});
  int64_t wrong = (g != w).sum().item<int64_t>();
  EXPECT_EQ(wrong, 0) << what << ": " << wrong << " of " << got.numel()
                      << " elements wrong; first got " << g[0].item<double>() << " want "
                      << w[0].item<double>();
}

}  // namespace

void CheckCollectivesExact(dist::Communicator* comm, int64_t count, at::ScalarType dtype,
                           at::Device device) {
  const int P = comm->size(), r = comm->rank();
  const std::string tag = std::string(c10::toString(dtype)) + " x" + std::to_string(count) +
                          " on " + device.str() + " rank " + std::to_string(r) + "/" +
                          std::to_string(P);
  at::Tensor base = (at::arange(count, at::kLong).remainder(7) + 1).to(at::kDouble);

  at::Tensor t = Pattern(count, r, dtype, device);
  ASSERT_TRUE(comm->AllReduce(t, dist::ReduceOp::kSum)->Wait().ok());
  ExpectExactly(t, base * (P * (P + 1) / 2), "all-reduce sum " + tag);

  if (at::isFloatingType(dtype)) {
    t = Pattern(count, r, dtype, device);
    ASSERT_TRUE(comm->AllReduce(t, dist::ReduceOp::kAvg)->Wait().ok());
    ExpectExactly(t, base * (P + 1) / 2.0, "all-reduce avg " + tag);
  }

  t = Pattern(count, r, dtype, device);
  ASSERT_TRUE(comm->Broadcast(t, P - 1)->Wait().ok());
  ExpectExactly(t, base * P, "broadcast " + tag);

  at::Tensor in = Pattern(count, r, dtype, device);
  at::Tensor out = at::full({count * P}, -1, at::TensorOptions().dtype(dtype).device(device));
  ASSERT_TRUE(comm->AllGather(in, out)->Wait().ok());
  std::vector<at::Tensor> want;
  for (int q = 0; q < P; ++q) want.push_back(base * (q + 1));
  ExpectExactly(out, at::cat(want), "all-gather " + tag);

  EXPECT_TRUE(comm->Barrier().ok());
}

void CheckTrainingMatchesSingleProcess(dist::Communicator* comm, int64_t steps, int64_t b,
                                       int64_t accumulation, double rel_tol, at::Device device,
                                       at::ScalarType dtype) {
  const int P = comm->size();
  train::DemoOptions o;
  o.per_rank_batch = b;
  o.accumulation = accumulation;
  o.image_size = 16;
  o.width = 8;
  o.lr = 0.05;
  o.device = device;
  o.dtype = dtype;
  auto dp = train::DemoTrainer::Create(comm, o);
  ASSERT_TRUE(dp.ok()) << dp.status().ToString();
  train::DemoOptions ro = o;
  ro.per_rank_batch = b * P;
  auto ref = train::DemoTrainer::Create(nullptr, ro);
  ASSERT_TRUE(ref.ok());
  // The reference starts from the replicas' common state (rank 0's, broadcast at construction).
  CopyState(*dp.value()->net(), *ref.value()->net());
  for (int64_t s = 0; s < steps; ++s) {
    auto l1 = dp.value()->Step(s);
    ASSERT_TRUE(l1.ok()) << l1.status().ToString();
    ASSERT_TRUE(ref.value()->Step(s).ok());
  }
  auto dpp = dp.value()->net()->named_parameters();
  auto rfp = ref.value()->net()->named_parameters();
  double worst = 0;
  std::string worst_name;
  for (auto& item : dpp) {
    double d = RelDiff(item.value(), rfp[item.key()]);
    if (d > worst) worst = d, worst_name = item.key();
  }
  auto dpb = dp.value()->net()->named_buffers();
  auto rfb = ref.value()->net()->named_buffers();
  for (auto& item : dpb) {
    double d = RelDiff(item.value(), rfb[item.key()]);
    if (d > worst) worst = d, worst_name = item.key();
  }
  EXPECT_LE(worst, rel_tol) << "after " << steps << " steps on " << P << " ranks, " << worst_name
                            << " differs from single-process training by " << worst;
  // Bitwise identical replicas.
  at::Tensor mine = FlatState(*dp.value()->net());
  at::Tensor all = at::empty({mine.numel() * P}, mine.options());
  ASSERT_TRUE(comm->AllGather(mine, all)->Wait().ok());
  for (int q = 0; q < P; ++q) {
    EXPECT_TRUE(at::equal(all.narrow(0, q * mine.numel(), mine.numel()), mine))
        << "rank " << comm->rank() << " differs bitwise from rank " << q;
  }
}

void CheckSyncBatchNormMatchesBatchNorm(dist::Communicator* comm, const std::vector<int64_t>& split,
                                        int64_t T, at::Device device, double tol) {
  const int P = comm->size(), r = comm->rank();
  ASSERT_EQ(static_cast<int>(split.size()), P);
  const int64_t C = 4, H = 5, W = 3;
  int64_t total = 0, offset = 0;
  for (int q = 0; q < P; ++q) {
    if (q == r) offset = total;
    total += split[q];
  }
  std::vector<int64_t> shape =
      T > 0 ? std::vector<int64_t>{total, T, C, H, W} : std::vector<int64_t>{total, C, H, W};
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
  at::Tensor X = at::randn(shape, gen) * 2 + 1;
  at::Tensor G = at::randn(shape, gen);
  at::Tensor weight = 1 + 0.1 * at::arange(C, at::kFloat), bias = 0.05 * at::arange(C, at::kFloat);

  // Data-parallel: this rank's slice through SyncBatchNorm attached to the communicator.
  dist::SyncBatchNorm bn(dist::SyncBatchNormOptions(C).time_steps(T));
  {
    torch::NoGradGuard ng;
    bn->weight.copy_(weight);
    bn->bias.copy_(bias);
  }
  bn->to(device);
  bn->set_communicator(comm);
  bn->train();
  at::Tensor x = X.narrow(0, offset, split[r]).to(device).requires_grad_(true);
  at::Tensor y = bn(x);
  (y * G.narrow(0, offset, split[r]).to(device)).sum().backward();

  // Reference: one process, the whole batch, LibTorch's own batch norm.
  at::Tensor Xr = X.clone().requires_grad_(true);
  at::Tensor wr = weight.clone().requires_grad_(true), br = bias.clone().requires_grad_(true);
  const int64_t K = T > 0 ? T : 1;
  std::vector<at::Tensor> rms, rvs, ys;
  for (int64_t t = 0; t < K; ++t) {
    at::Tensor rm = at::zeros({C}), rv = at::ones({C});
    at::Tensor xt = T > 0 ? Xr.select(1, t) : Xr;
    ys.push_back(torch::nn::functional::batch_norm(xt, rm, rv,
                                                   torch::nn::functional::BatchNormFuncOptions()
                                                       .weight(wr)
                                                       .bias(br)
                                                       .training(true)
                                                       .momentum(0.1)
                                                       .eps(1e-5)));
    rms.push_back(rm);
    rvs.push_back(rv);
  }
  at::Tensor Yr = T > 0 ? at::stack(ys, 1) : ys[0];
  (Yr * G).sum().backward();

  const std::string tag = "rank " + std::to_string(r) + " split " + std::to_string(split[r]) +
                          (T > 0 ? " per-time-step T=" + std::to_string(T) : "");
  if (split[r] > 0) {
    EXPECT_LE(RelDiff(y, Yr.narrow(0, offset, split[r])), tol) << "forward, " << tag;
    EXPECT_LE(RelDiff(x.grad(), Xr.grad().narrow(0, offset, split[r])), tol)
        << "input grad, " << tag;
  } else {
    EXPECT_EQ(y.numel(), 0);
  }
  // Weight/bias gradients are local contributions: their sum over ranks is the reference's.
  at::Tensor gw = bn->weight.grad().defined() ? bn->weight.grad().clone()
                                              : at::zeros({C}, at::TensorOptions().device(device));
  at::Tensor gb = bn->bias.grad().defined() ? bn->bias.grad().clone()
                                            : at::zeros({C}, at::TensorOptions().device(device));
  ASSERT_TRUE(comm->AllReduce(gw, dist::ReduceOp::kSum)->Wait().ok());
  ASSERT_TRUE(comm->AllReduce(gb, dist::ReduceOp::kSum)->Wait().ok());
  EXPECT_LE(RelDiff(gw, wr.grad()), tol) << "weight grad, " << tag;
  EXPECT_LE(RelDiff(gb, br.grad()), tol) << "bias grad, " << tag;
  EXPECT_LE(RelDiff(bn->running_mean, at::cat(rms)), tol) << "running mean, " << tag;
  EXPECT_LE(RelDiff(bn->running_var, at::cat(rvs)), tol) << "running var, " << tag;
}

}  // namespace fc::testing
