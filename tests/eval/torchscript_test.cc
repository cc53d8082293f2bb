// TorchScript I3D / LPIPS path with random-weight stand-ins scripted by the venv's torch:
// shapes, preprocessing, FVD ~0 for a set against itself and larger for a shifted set, LPIPS
// selection, distributed FVD equal to one rank, and one-line load errors naming the file.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "common/ranks.h"
#include "eval/best_of_n.h"
#include "eval/eval_testing.h"
#include "eval/frechet.h"
#include "eval/metrics.h"
#include "eval/torchscript_features.h"

namespace fc::eval {
namespace {

// A tiny I3D-shaped 3-D CNN with StyleGAN-V's forward signature, and an "LPIPS" that returns
// the mean squared difference in [-1, 1] (4 x MSE in [0, 1]) as [N, 1, 1, 1].
const char* kMakeModules = R"PY(
import sys
import torch

class I3d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=(3, 8, 8), stride=(1, 8, 8))
        self.fc = torch.nn.Linear(8, 12)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        assert x.dim() == 5 and x.shape[1] == 3 and x.shape[3] == 224 and x.shape[4] == 224
        assert bool(x.min() >= -1.0) and bool(x.max() <= 1.0)
        h = torch.tanh(self.conv(x)).mean(dim=[2, 3, 4])
        y = self.fc(h)
        if return_features:
            return y
        return torch.softmax(y, dim=1)

class Lpips(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        assert a.shape[1] == 3
        return ((a - b) ** 2).mean(dim=[1, 2, 3]).view(-1, 1, 1, 1)

torch.manual_seed(0)
torch.jit.script(I3d()).save(sys.argv[1] + "/i3d.pt")
torch.jit.script(Lpips()).save(sys.argv[1] + "/lpips.pt")
print("ok")
)PY";

class TorchScriptTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir());
    int rc = 0;
    std::string out = testing::RunPython(*dir_, "make_modules", kMakeModules, *dir_, &rc);
    ok_ = rc == 0;
    if (!ok_) log_ = new std::string(out);
  }
  void SetUp() override { ASSERT_TRUE(ok_) << "scripting the stand-in modules failed: " << *log_; }
  static std::string I3dPath() { return *dir_ + "/i3d.pt"; }
  static std::string LpipsPath() { return *dir_ + "/lpips.pt"; }
  static std::string* dir_;
  static std::string* log_;
  static bool ok_;
};
std::string* TorchScriptTest::dir_ = nullptr;
std::string* TorchScriptTest::log_ = nullptr;
bool TorchScriptTest::ok_ = false;

TEST_F(TorchScriptTest, I3dFeaturesShapesAndDistances) {
  auto i3d = TorchScriptI3d::Load(I3dPath(), at::kCPU);
  ASSERT_TRUE(i3d.ok()) << i3d.status().ToString();
  at::manual_seed(10);
  at::Tensor clips = at::rand({18, 6, 1, 32, 32});  // grey, more than one batch of 16
  auto f = (*i3d)->Features(clips);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f.value().sizes(), (at::IntArrayRef{18, 12}));
  EXPECT_EQ(f.value().scalar_type(), at::kDouble);
  // Batching does not change a clip's features.
  auto f1 = (*i3d)->Features(clips.slice(0, 17, 18));
  ASSERT_TRUE(f1.ok());
  EXPECT_LT((f1.value()[0] - f.value()[17]).abs().max().item<double>(), 1e-5);
  // Preprocessing: [-1, 1], 3 channels, 224x224, time second.
  at::Tensor x = I3dPreprocess(clips.slice(0, 0, 2));
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{2, 3, 6, 224, 224}));
  EXPECT_GE(x.min().item<float>(), -1.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  auto same = FrechetDistance(f.value(), f.value());
  auto shifted_f = (*i3d)->Features((clips * 0.5 + 0.5));
  ASSERT_TRUE(same.ok() && shifted_f.ok());
  auto shifted = FrechetDistance(f.value(), shifted_f.value());
  ASSERT_TRUE(shifted.ok());
  EXPECT_LT(same.value(), 1e-9);
  EXPECT_GT(shifted.value(), 1e-3);
  EXPECT_FALSE((*i3d)->Features(at::rand({2, 6, 2, 32, 32})).ok());  // 2 channels
}

TEST_F(TorchScriptTest, LoadErrorsAreOneLineAndNameTheFile) {
  auto missing = TorchScriptI3d::Load(*dir_ + "/nope.pt", at::kCPU);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status().message().find(*dir_ + "/nope.pt"), std::string::npos);
  testing::WriteText(*dir_ + "/garbage.pt", "this is not a zip archive");
  auto bad = TorchScriptLpips::Load(*dir_ + "/garbage.pt", at::kCPU);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(*dir_ + "/garbage.pt"), std::string::npos);
  EXPECT_EQ(bad.status().message().find('\n'), std::string::npos) << bad.status().message();
  // The LPIPS archive has the wrong forward for I3D.
  auto wrong = TorchScriptI3d::Load(LpipsPath(), at::kCPU);
  ASSERT_FALSE(wrong.ok());
  // Evaluate reports the missing file.
  EvalOptions o;
  o.context = 1;
  o.horizon = 1;
  o.samples = 1;
  o.lpips_path = *dir_ + "/missing_lpips.pt";
  auto r = Evaluate("m", CopyLastFramePredictor(), at::rand({2, 2, 1, 11, 11}), o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing_lpips.pt"), std::string::npos);
}

// Each clip carries its index in pixel (0, 0) of frame 0 so an oracle can return its future.
at::Tensor IndexedClips(int64_t n, int64_t t) {
  at::Tensor clips = at::rand({n, t, 1, 16, 16});
  for (int64_t i = 0; i < n; ++i) clips[i][0][0][0][0] = static_cast<double>(i) / 100.0;
  return clips;
}

TEST_F(TorchScriptTest, EvaluateWithLpipsAndFvd) {
  at::manual_seed(11);
  const int64_t n = 6, d = 2, h = 3;
  at::Tensor clips = IndexedClips(n, d + h);
  EvalOptions o;
  o.context = d;
  o.horizon = h;
  o.samples = 3;
  o.batch = 4;
  o.fvd_draws = 2;
  o.i3d_path = I3dPath();
  o.lpips_path = LpipsPath();
  // Sample 1 is the oracle; samples 0 and 2 are noisy.
  PredictFn oracle = [&](const at::Tensor& ctx, int64_t horizon, int64_t s) -> Result<at::Tensor> {
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < ctx.size(0); ++i) {
      const int64_t idx = std::lround(ctx[i][0][0][0][0].item<double>() * 100.0);
      at::Tensor fut = clips[idx].slice(0, d, d + horizon);
      out.push_back(s == 1 ? fut : (fut + 0.2 * (s + 1) * at::randn_like(fut)).clamp(0, 1));
    }
    return at::stack(out, 0);
  };
  auto r = Evaluate("oracle", oracle, clips, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->lpips.available);
  EXPECT_EQ(r->lpips.best_sample, std::vector<int64_t>(n, 1));
  EXPECT_NEAR(r->lpips.mean, 0.0, 1e-12);
  EXPECT_EQ(r->psnr.best_sample, std::vector<int64_t>(n, 1));
  ASSERT_TRUE(r->fvd.available) << r->fvd.note;
  EXPECT_EQ(r->fvd.draws.size(), 2u);
  EXPECT_EQ(r->fvd.feature_dim, 12);
  EXPECT_EQ(r->fvd.frames, d + h);  // fvd_frames 16 > clip length: the whole clip

  // Only the oracle: fake == real, FVD ~0. Darker futures: clearly larger.
  o.samples = 1;
  PredictFn exact = [&](const at::Tensor& ctx, int64_t horizon, int64_t) {
    return oracle(ctx, horizon, 1);
  };
  PredictFn darker = [&](const at::Tensor& ctx, int64_t horizon, int64_t) -> Result<at::Tensor> {
    FC_ASSIGN_OR_RETURN(at::Tensor fut, oracle(ctx, horizon, 1));
    return fut * 0.3;
  };
  auto re = Evaluate("exact", exact, clips, o, nullptr);
  auto rn = Evaluate("darker", darker, clips, o, nullptr);
  ASSERT_TRUE(re.ok() && rn.ok());
  EXPECT_LT(re->fvd.mean, 1e-8);
  EXPECT_GT(rn->fvd.mean, 1e-4);
  EXPECT_GT(rn->fvd.mean, 1000 * re->fvd.mean);
  // The LPIPS stand-in is the mean squared difference in [-1, 1]: 4 x MSE of (0.3 f - f).
  const double expected = 4 * (0.7 * clips[0].slice(0, d, d + h)).pow(2).mean().item<double>();
  EXPECT_NEAR(rn->lpips.per_sequence[0], expected, 1e-6);
}

TEST_F(TorchScriptTest, DistributedFvdEqualsSingleRank) {
  at::manual_seed(12);
  const int64_t n = 5, d = 1, h = 2, samples = 3;
  at::Tensor clips = IndexedClips(n, d + h);
  EvalOptions o;
  o.context = d;
  o.horizon = h;
  o.samples = samples;
  o.batch = 2;
  o.fvd_draws = 3;
  o.seed = 99;
  o.i3d_path = I3dPath();
  o.lpips_path = LpipsPath();
  // Deterministic per (sequence, sample): the future darkened by a sample-dependent factor.
  PredictFn fn = [&](const at::Tensor& ctx, int64_t horizon, int64_t s) -> Result<at::Tensor> {
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < ctx.size(0); ++i) {
      const int64_t idx = std::lround(ctx[i][0][0][0][0].item<double>() * 100.0);
      out.push_back(clips[idx].slice(0, d, d + horizon) * (0.5 + 0.2 * ((s + idx) % samples)));
    }
    return at::stack(out, 0);
  };
  auto single = Evaluate("m", fn, clips, o, nullptr);
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  ASSERT_TRUE(single->fvd.available);
  EXPECT_GT(single->fvd.mean, 0.0);
  fc::testing::RunRanks(2, [&](int rank, dist::Communicator* comm) {
    Share s = ShareOf(n, rank, 2);
    auto r = Evaluate("m", fn, clips.slice(0, s.begin, s.end), o, comm);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->fvd.available);
    ASSERT_EQ(r->fvd.draws.size(), single->fvd.draws.size());
    for (size_t k = 0; k < r->fvd.draws.size(); ++k) {
      EXPECT_NEAR(r->fvd.draws[k], single->fvd.draws[k], 1e-5 * single->fvd.draws[k] + 1e-9);
    }
    EXPECT_EQ(r->lpips.best_sample, single->lpips.best_sample);
    for (size_t i = 0; i < r->lpips.per_sequence.size(); ++i) {
      EXPECT_NEAR(r->lpips.per_sequence[i], single->lpips.per_sequence[i], 1e-9);
    }
  });
}

}  // namespace
}  // namespace fc::eval
