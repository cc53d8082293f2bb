#include "eval/frame_classifier.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/optim/adam.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "eval/eval_testing.h"

namespace fc::eval {
namespace {

// Two classes told apart by where the bright square is (left / right half).
std::pair<at::Tensor, at::Tensor> Squares(int64_t n, int64_t size) {
  at::Tensor x = at::zeros({n, 1, size, size});
  at::Tensor y = at::arange(n, at::kLong).remainder(2);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t col = y[i].item<int64_t>() == 0 ? 1 : size / 2 + 1;
    x[i].narrow(1, 2 + i % 3, 4).narrow(2, col, 4).fill_(1.0);
  }
  return {x, y};
}

TEST(FrameClassifier, TrainsSavesAndReloadsTheSameNetwork) {
  torch::manual_seed(0);
  auto m = MakeFrameClassifier({1, 16, 2, 8});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  std::vector<at::Tensor> params;
  for (const auto& p : m.value()->parameters()) params.push_back(p);
  EXPECT_EQ(params.size(), 8u);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2));
  auto [x, y] = Squares(32, 16);
  for (int step = 0; step < 60; ++step) {
    adam.zero_grad();
    auto out = m.value()->forward({x}).toTuple();
    at::cross_entropy_loss(out->elements()[0].toTensor(), y).backward();
    adam.step();
  }
  auto wrapped = TorchScriptClassifier::Wrap(*m.value(), "in memory");
  auto before = wrapped->Run(x);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  auto acc = ClassAccuracy(before->logits, y);
  ASSERT_TRUE(acc.ok());
  EXPECT_GE(acc.value(), 0.95);  // the task is trivially separable
  EXPECT_EQ(before->features.sizes(), at::IntArrayRef({32, 32}));  // 4 x width

  const std::string dir = testing::MakeTempDir();
  m.value()->save(dir + "/c.pt");
  auto loaded = TorchScriptClassifier::Load(dir + "/c.pt", at::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded.value()->channels(), 1);
  EXPECT_EQ(loaded.value()->image_size(), 16);
  auto after = loaded.value()->Run(x);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(at::allclose(before->logits, after->logits, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(before->features, after->features, 1e-6, 1e-6));
  // A frame of another size is refused with the file's name.
  auto wrong = loaded.value()->Run(at::zeros({2, 1, 32, 32}));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(dir + "/c.pt: made for 1x16x16 frames, got 1x32x32"),
            std::string::npos)
      << wrong.status().message();
}

TEST(FrameClassifier, BadArchivesGetOneLineErrorsNamingTheFile) {
  const std::string dir = testing::MakeTempDir();
  auto missing = TorchScriptClassifier::Load(dir + "/none.pt", at::kCPU);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("classifier TorchScript " + dir + "/none.pt"),
            std::string::npos);
  testing::WriteText(dir + "/junk.pt", "PK\x03\x04 not really a zip archive");
  auto junk = TorchScriptClassifier::Load(dir + "/junk.pt", at::kCPU);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().message().find('\n'), std::string::npos) << junk.status().message();
  EXPECT_NE(junk.status().message().find(dir + "/junk.pt"), std::string::npos);
  auto directory = TorchScriptClassifier::Load(dir, at::kCPU);
  EXPECT_FALSE(directory.ok());
  ASSERT_EQ(mkfifo((dir + "/fifo.pt").c_str(), 0600), 0);  // no writer: must not hang
  auto fifo = TorchScriptClassifier::Load(dir + "/fifo.pt", at::kCPU);
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("fifo.pt: not a regular file"), std::string::npos)
      << fifo.status().message();
  // A loadable archive whose forward returns the wrong thing.
  torch::jit::Module bad(c10::QualifiedName("__torch__.Bad"));
  bad.define("def forward(self, x):\n    return x.sum()\n");
  bad.save(dir + "/scalar.pt");
  auto scalar = TorchScriptClassifier::Load(dir + "/scalar.pt", at::kCPU);
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  auto r = scalar.value()->Run(at::zeros({3, 1, 8, 8}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("scalar.pt: forward returned logits of 0 dims"),
            std::string::npos)
      << r.status().message();
  torch::jit::Module raising(c10::QualifiedName("__torch__.Raises"));
  raising.define("def forward(self, x):\n    return torch.mm(x, x)\n");
  raising.save(dir + "/raises.pt");
  auto rr = TorchScriptClassifier::Load(dir + "/raises.pt", at::kCPU).value()->Run(at::zeros({3, 1, 8, 8}));
  ASSERT_FALSE(rr.ok());
  EXPECT_EQ(rr.status().message().find('\n'), std::string::npos) << rr.status().message();
}

TEST(FrameClassifier, InceptionScoreAndAccuracyOnKnownDistributions) {
  // Confident and evenly spread over K classes: IS = K. Uniform predictions: IS = 1.
  const int64_t K = 5, n = 50;
  at::Tensor labels = at::arange(n, at::kLong).remainder(K);
  at::Tensor sharp = at::one_hot(labels, K).to(at::kDouble) * 60.0;
  auto is = InceptionScore(sharp, 1);
  ASSERT_TRUE(is.ok());
  EXPECT_NEAR(is->mean, K, 1e-6);
  EXPECT_NEAR(is->std, 0, 1e-9);
  auto flat = InceptionScore(at::zeros({n, K}, at::kDouble), 5);
  ASSERT_TRUE(flat.ok());
  EXPECT_NEAR(flat->mean, 1.0, 1e-12);
  // Every sample the same class: confident but no diversity, IS = 1.
  auto mode = InceptionScore(at::one_hot(at::zeros({n}, at::kLong), K).to(at::kDouble) * 60, 2);
  EXPECT_NEAR(mode->mean, 1.0, 1e-6);
  // Two classes of probability (0.9, 0.1) / (0.1, 0.9) evenly: IS = exp(ln 2 - H(0.9)).
  at::Tensor two = at::zeros({4, 2}, at::kDouble);
  for (int i = 0; i < 4; ++i) two[i][i % 2] = std::log(9.0);
  const double h = -(0.9 * std::log(0.9) + 0.1 * std::log(0.1));
  EXPECT_NEAR(InceptionScore(two, 1)->mean, std::exp(std::log(2.0) - h), 1e-9);
  EXPECT_NEAR(ClassAccuracy(sharp, labels).value(), 1.0, 1e-12);
  EXPECT_NEAR(ClassAccuracy(sharp, (labels + 1).remainder(K)).value(), 0.0, 1e-12);
  EXPECT_FALSE(InceptionScore(sharp, n + 1).ok());
  EXPECT_FALSE(InceptionScore(at::full({3, 2}, NAN, at::kDouble), 1).ok());
  EXPECT_FALSE(ClassAccuracy(sharp, labels.narrow(0, 0, 3)).ok());
  EXPECT_FALSE(MakeFrameClassifier({1, 4, 10, 8}).ok());  // too small a frame
}

}  // namespace
}  // namespace fc::eval
