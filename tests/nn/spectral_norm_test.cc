// Spectral normalisation: sigma converges to the largest singular value, u moves only in training
// mode, the state round-trips, and eval forwards are pure.
#include "nn/spectral_norm.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <sstream>

#include "common/ranks.h"
#include "nn/init.h"

using fc::testing::RelDiff;

namespace fc::nn {
namespace {

double LargestSingularValue(const at::Tensor& w) {
  return at::linalg_svdvals(w.reshape({w.size(0), -1}).to(at::kDouble))[0].item<double>();
}

TEST(SpectralNorm, SigmaConvergesAndNormalisedWeightHasUnitNorm) {
  torch::manual_seed(1);
  SNConv2d conv(SNConv2dOptions(6, 10, 3));
  SNLinear lin(SNLinearOptions(12, 7));
  SNConv3d conv3(SNConv3dOptions(3, 5, 3));
  SNEmbedding emb(SNEmbeddingOptions(9, 4));
  for (int i = 0; i < 60; ++i) {
    conv(at::randn({1, 6, 5, 5}));
    lin(at::randn({2, 12}));
    conv3(at::randn({1, 3, 3, 4, 4}));
    emb(at::arange(9));
  }
  const std::pair<SpectralNorm*, at::Tensor> cases[] = {{&conv->sn, conv->weight},
                                                        {&lin->sn, lin->weight},
                                                        {&conv3->sn, conv3->weight},
                                                        {&emb->sn, emb->weight}};
  for (const auto& [sn, w] : cases) {
    const double s = LargestSingularValue(w);
    EXPECT_NEAR(sn->sv.item<double>(), s, 1e-3 * s);
    EXPECT_NEAR(LargestSingularValue(sn->Apply(w, /*training=*/false).detach()), 1.0, 1e-3);
  }
}

TEST(SpectralNorm, UUpdatesOnlyInTrainingMode) {
  torch::manual_seed(2);
  SNLinear lin(SNLinearOptions(8, 6));
  at::Tensor u0 = lin->sn.u.clone(), sv0 = lin->sn.sv.clone();
  lin->eval();
  at::Tensor x = at::randn({3, 8});
  at::Tensor y1 = lin(x), y2 = lin(x);
  EXPECT_TRUE(at::equal(lin->sn.u, u0));
  EXPECT_TRUE(at::equal(lin->sn.sv, sv0));
  EXPECT_TRUE(at::equal(y1, y2)) << "eval forwards must be pure";
  lin->train();
  lin(x);
  EXPECT_FALSE(at::equal(lin->sn.u, u0));
  EXPECT_FALSE(at::equal(lin->sn.sv, sv0));
  EXPECT_NEAR(lin->sn.u.norm().item<double>(), 1.0, 1e-6);
}

TEST(SpectralNorm, GradientTreatsSingularVectorsAsConstants) {
  // The standard SN gradient: d/dW of f(W / (u^T W v)) with the iterated u, v held constant.
  torch::manual_seed(3);
  SNLinear lin(SNLinearOptions(4, 3).bias(false));
  lin->to(at::kDouble);
  lin->eval();  // fixed u: a deterministic function of W
  at::Tensor x = at::randn({2, 4}, at::kDouble);
  lin(x).pow(2).sum().backward();
  at::Tensor w = lin->weight.detach().clone().requires_grad_(true);
  at::Tensor v = at::mv(w.detach().t(), lin->sn.u);
  v = v / v.norm();
  at::Tensor u = at::mv(w.detach(), v);
  u = u / u.norm();
  at::linear(x, w / at::dot(u, at::mv(w, v))).pow(2).sum().backward();
  EXPECT_LT(RelDiff(lin->weight.grad(), w.grad()), 1e-12);
}

TEST(SpectralNorm, StateRoundTripReproducesOutputs) {
  torch::manual_seed(4);
  SNConv2d a(SNConv2dOptions(3, 4, 3));
  for (int i = 0; i < 3; ++i) a(at::randn({1, 3, 6, 6}));
  std::stringstream ss;
  torch::save(a, ss);
  torch::manual_seed(99);
  SNConv2d b(SNConv2dOptions(3, 4, 3));
  torch::load(b, ss);
  EXPECT_TRUE(at::equal(a->sn.u, b->sn.u));
  EXPECT_TRUE(at::equal(a->sn.sv, b->sn.sv));
  a->eval();
  b->eval();
  at::Tensor x = at::randn({2, 3, 6, 6});
  EXPECT_TRUE(at::equal(a(x), b(x)));
  // Identical state + identical training forwards: identical u on every "rank".
  a->train();
  b->train();
  a(at::randn({1, 3, 6, 6}));
  b(at::randn({2, 3, 6, 6}));  // different data, same weights
  EXPECT_TRUE(at::equal(a->sn.u, b->sn.u)) << "u must depend only on the weights";
}

TEST(SpectralNorm, DisabledIsAPlainLayerWithoutBuffers) {
  SNLinear lin(SNLinearOptions(5, 2).sn(SpectralNormOptions().enabled(false)));
  EXPECT_EQ(lin->buffers().size(), 0u);
  at::Tensor x = at::randn({3, 5});
  EXPECT_TRUE(at::allclose(lin(x), at::linear(x, lin->weight, lin->bias)));
}

TEST(Init, OrthogonalAndMeta) {
  torch::manual_seed(5);
  SNLinear lin(SNLinearOptions(16, 8));
  EXPECT_EQ(InitOrthogonal(*lin), 1);
  at::Tensor w = lin->weight.detach();
  EXPECT_TRUE(at::allclose(w.matmul(w.t()), at::eye(8), 1e-5, 1e-5));
  EXPECT_EQ(lin->bias.abs().sum().item<double>(), 0.0);
  {
    MetaInitGuard meta;
    SNConv2d big(SNConv2dOptions(2048, 2048, 3));
    EXPECT_TRUE(big->weight.is_meta());
    EXPECT_EQ(CountParameters(*big), 2048 * 2048 * 9 + 2048);
    EXPECT_EQ(InitOrthogonal(*big), 0);
  }
  EXPECT_FALSE(MetaInitActive());
}

}  // namespace
}  // namespace fc::nn
