// GPU checks of the training step (label gpu; skipped without a CUDA device or in a CPU-only
// build): the CUDA step equals the CPU reference step for each model family in fp32, and the
// hvrnn step replayed from a captured CUDA graph equals the eager step.
//
// Tolerance: TF32 is disabled, so the CUDA and CPU kernels differ only in summation order and
// algorithm choice: 1e-4 norm-wise relative on losses, gradients and parameters after a step.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include "train/performance_testing.h"

namespace fc::testing {
namespace {

class GpuStep : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef FRAMECAST_WITH_CUDA
    GTEST_SKIP() << "CPU-only build: GPU test skipped";
#endif
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU test skipped";
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  const at::Device gpu_{at::kCUDA, 0};
  const at::Device cpu_{at::kCPU};
};

constexpr double kTol = 1e-4;

TEST_F(GpuStep, HvrnnCudaStepEqualsCpuStep) {
  // Keyed noise is drawn on the CPU for both; cuDNN autotuning off for the comparison.
  auto c = TinyHvrnnConfig("cudnn_benchmark: false");
  auto ref = MakeHvrnn(c, cpu_);
  auto dev = MakeHvrnn(c, gpu_);
  ASSERT_TRUE(ref && dev);
  for (int64_t s = 0; s < 2; ++s) {
    auto a = ref->Step(s, s);
    auto b = dev->Step(s, s);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
    EXPECT_NEAR(Scalar(b.value(), "loss"), Scalar(a.value(), "loss"),
                kTol * std::abs(Scalar(a.value(), "loss")));
    EXPECT_LT(NormRelDiff(FlatGrads(*dev->model()), FlatGrads(*ref->model())), kTol) << s;
  }
  EXPECT_LT(NormRelDiff(FlatParams(*dev->model()), FlatParams(*ref->model())), kTol);
}

TEST_F(GpuStep, CvgCudaStepEqualsCpuStep) {
  auto c = TinyCvgConfig("cudnn_benchmark: false");
  auto ref = MakeCvg(c, cpu_);
  auto dev = MakeCvg(c, gpu_);
  ASSERT_TRUE(ref && dev);
  for (int stage = 0; stage < 2; ++stage) {
    ASSERT_TRUE(ref->Seek(stage, stage).ok());
    ASSERT_TRUE(dev->Seek(stage, stage).ok());
    auto a = ref->Step(stage, 0, stage);
    auto b = dev->Step(stage, 0, stage);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
    for (size_t i = 0; i < 4; ++i) {
      const double x = a.value().scalars[i].second, y = b.value().scalars[i].second;
      EXPECT_NEAR(y, x, kTol * std::max(1.0, std::abs(x))) << a.value().scalars[i].first;
    }
    EXPECT_LT(NormRelDiff(FlatParams(*dev->level(stage).generator),
                          FlatParams(*ref->level(stage).generator)),
              kTol);
    EXPECT_LT(NormRelDiff(FlatParams(*dev->level(stage).discriminators),
                          FlatParams(*ref->level(stage).discriminators)),
              kTol);
    if (stage == 0) {
      ASSERT_TRUE(ref->EndStage(0).ok());
      ASSERT_TRUE(dev->EndStage(0).ok());
    }
  }
}

// Graph replay vs eager on the GPU: same initialisation and batch, the CUDA generator reseeded
// before each step (the graph draws the same philox stream as eager kernels). Steps 1 (capture +
// first replay) and 2 (replay only) agree to 1e-4 in loss, gradients and parameters.
TEST_F(GpuStep, HvrnnGraphReplayEqualsEager) {
  auto eager_cfg = TinyHvrnnConfig("cudnn_benchmark: false");
  auto graph_cfg = TinyHvrnnConfig("cudnn_benchmark: false cuda_graphs: true");
  train::HvrnnReplicaOptions o;
  o.device = gpu_;
  o.fixed_batch = FixedBatch(4, 5, 32, 11);
  auto eager = train::HvrnnReplica::Create(eager_cfg, nullptr, o);
  auto graph = train::HvrnnReplica::Create(graph_cfg, nullptr, o);
  ASSERT_TRUE(eager.ok() && graph.ok());
  auto& e = *eager.value();
  auto& g = *graph.value();
  for (int64_t s = 0; s < 3; ++s) {
    torch::cuda::manual_seed_all(100 + s);
    auto a = e.Step(s, s);
    torch::cuda::manual_seed_all(100 + s);
    auto b = g.Step(s, s);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
    EXPECT_TRUE(g.graph_captured());
    EXPECT_NEAR(Scalar(b.value(), "loss"), Scalar(a.value(), "loss"),
                kTol * std::abs(Scalar(a.value(), "loss")))
        << "step " << s;
    EXPECT_LT(NormRelDiff(FlatGrads(*g.model()), FlatGrads(*e.model())), kTol) << "step " << s;
    EXPECT_LT(NormRelDiff(FlatParams(*g.model()), FlatParams(*e.model())), kTol) << "step " << s;
  }
}

// bf16 on the GPU: the step stays close to the fp32 GPU step (2e-2 on the gradients).
TEST_F(GpuStep, HvrnnBf16CloseToFp32) {
  auto fp32 = MakeHvrnn(TinyHvrnnConfig(""), gpu_);
  auto bf16 = MakeHvrnn(TinyHvrnnConfig("precision: BF16 channels_last: true"), gpu_);
  ASSERT_TRUE(fp32 && bf16);
  auto a = fp32->Step(0, 0);
  auto b = bf16->Step(0, 0);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString() << b.status().ToString();
  EXPECT_LT(NormRelDiff(FlatGrads(*bf16->model()), FlatGrads(*fp32->model())), 2e-2);
}

}  // namespace
}  // namespace fc::testing
