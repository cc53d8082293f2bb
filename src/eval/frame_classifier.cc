#include "eval/frame_classifier.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/init.h>

#include <cmath>
#include <vector>

#include "eval/torchscript_features.h"
#include "util/torch_status.h"

// GCC 12 reports false -Warray-bounds in c10::IValue's inlined bool constructor (ivalue.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

namespace fc::eval {
namespace {

constexpr int64_t kChunk = 256;

// TorchScript source of framecast's classifier (MakeFrameClassifier's contract in the header).
constexpr const char* kClassifierSource = R"(
def features(self, x):
    h = torch.relu(torch.conv2d(x, self.conv1_weight, self.conv1_bias, [1, 1], [1, 1]))
    h = torch.max_pool2d(h, [2, 2], [2, 2])
    h = torch.relu(torch.conv2d(h, self.conv2_weight, self.conv2_bias, [1, 1], [1, 1]))
    h = torch.max_pool2d(h, [2, 2], [2, 2])
    h = torch.relu(torch.conv2d(h, self.conv3_weight, self.conv3_bias, [1, 1], [1, 1]))
    return h.mean([2, 3])

def forward(self, x):
    f = self.features(x)
    return torch.linear(f, self.fc_weight, self.fc_bias), f
)";

int64_t IntAttr(const torch::jit::Module& m, const char* name) {
  if (!m.hasattr(name)) return 0;
  c10::IValue v = m.attr(name);
  return v.isInt() ? v.toInt() : 0;
}

}  // namespace

Result<std::unique_ptr<torch::jit::Module>> MakeFrameClassifier(const ClassifierShape& s) {
  if (s.channels < 1 || s.image_size < 8 || s.classes < 2 || s.width < 1) {
    return Status::InvalidArgument(
        "frame classifier: needs channels >= 1, image_size >= 8, classes >= 2, width >= 1");
  }
  auto m = std::make_unique<torch::jit::Module>(c10::QualifiedName("__torch__.FramecastFrameClassifier"));
  Status st = TryTorch([&] {
    const int64_t w = s.width;
    auto param = [&](const std::string& name, std::vector<int64_t> shape, int64_t fan_in) {
      at::Tensor t = at::empty(shape, at::kFloat);
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      if (shape.size() > 1) {
        torch::nn::init::kaiming_uniform_(t, std::sqrt(5.0));  // LibTorch's conv / linear default
      } else {
        t.uniform_(-bound, bound);
      }
      m->register_parameter(name, t.requires_grad_(true), /*is_buffer=*/false);
    };
    param("conv1_weight", {w, s.channels, 3, 3}, s.channels * 9);
    param("conv1_bias", {w}, s.channels * 9);
    param("conv2_weight", {2 * w, w, 3, 3}, w * 9);
    param("conv2_bias", {2 * w}, w * 9);
    param("conv3_weight", {4 * w, 2 * w, 3, 3}, 2 * w * 9);
    param("conv3_bias", {4 * w}, 2 * w * 9);
    param("fc_weight", {s.classes, 4 * w}, 4 * w);
    param("fc_bias", {s.classes}, 4 * w);
    m->register_attribute("image_channels", c10::IntType::get(), s.channels);
    m->register_attribute("image_size", c10::IntType::get(), s.image_size);
    m->register_attribute("num_classes", c10::IntType::get(), s.classes);
    m->define(kClassifierSource);
  });
  if (!st.ok()) return st;
  return m;
}

struct TorchScriptClassifier::Impl {
  torch::jit::Module module;
};

TorchScriptClassifier::TorchScriptClassifier(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {
  channels_ = IntAttr(impl_->module, "image_channels");
  image_size_ = IntAttr(impl_->module, "image_size");
  if (impl_->module.hasattr("test_accuracy") && impl_->module.attr("test_accuracy").isDouble())
    test_accuracy_ = impl_->module.attr("test_accuracy").toDouble();
}
TorchScriptClassifier::~TorchScriptClassifier() = default;

Result<std::unique_ptr<TorchScriptClassifier>> TorchScriptClassifier::Load(
    const std::string& path, c10::Device device, const std::string& role) {
  FC_ASSIGN_OR_RETURN(torch::jit::Module m, LoadTorchScript(role, path, device));
  auto impl = std::make_unique<Impl>();
  impl->module = std::move(m);
  return std::unique_ptr<TorchScriptClassifier>(
      new TorchScriptClassifier(role + " TorchScript " + path, std::move(impl)));
}

std::unique_ptr<TorchScriptClassifier> TorchScriptClassifier::Wrap(const torch::jit::Module& m,
                                                                   const std::string& name) {
  auto impl = std::make_unique<Impl>();
  impl->module = m;
  return std::unique_ptr<TorchScriptClassifier>(new TorchScriptClassifier(name, std::move(impl)));
}

Result<ClassifierOutputs> TorchScriptClassifier::Run(const at::Tensor& frames) {
  const std::string& where = path_;
  if (frames.dim() != 4 || !at::isFloatingType(frames.scalar_type())) {
    return Status::InvalidArgument(where + ": frames must be floating [N, C, H, W]");
  }
  if ((channels_ > 0 && frames.size(1) != channels_) ||
      (image_size_ > 0 && (frames.size(2) != image_size_ || frames.size(3) != image_size_))) {
    return Status::InvalidArgument(
        where + ": made for " + std::to_string(channels_) + "x" + std::to_string(image_size_) +
        "x" + std::to_string(image_size_) + " frames, got " + std::to_string(frames.size(1)) +
        "x" + std::to_string(frames.size(2)) + "x" + std::to_string(frames.size(3)));
  }
  std::vector<at::Tensor> logits, feats;
  bool with_features = true;
  try {
    at::NoGradGuard ng;
    for (int64_t i = 0; i < frames.size(0); i += kChunk) {
      at::Tensor x = frames.narrow(0, i, std::min(kChunk, frames.size(0) - i)).clamp(0, 1).to(at::kFloat);
      c10::IValue out = impl_->module.forward({x});
      at::Tensor l, f;
      if (out.isTensor()) {
        l = out.toTensor();
      } else if (out.isTuple() && out.toTupleRef().elements().size() >= 2 &&
                 out.toTupleRef().elements()[0].isTensor() &&
                 out.toTupleRef().elements()[1].isTensor()) {
        l = out.toTupleRef().elements()[0].toTensor();
        f = out.toTupleRef().elements()[1].toTensor();
      } else {
        return Status::InvalidArgument(where + ": forward must return logits or (logits, features)");
      }
      if (l.dim() != 2 || l.size(0) != x.size(0)) {
        return Status::InvalidArgument(where + ": forward returned logits of " +
                                       std::to_string(l.dim()) + " dims, expected [N, K]");
      }
      logits.push_back(l.to(at::kCPU, at::kDouble));
      if (!f.defined()) {
        with_features = false;
      } else {
        f = f.reshape({f.size(0), -1});
        if (f.size(0) != x.size(0))
          return Status::InvalidArgument(where + ": features and logits disagree on N");
        feats.push_back(f.to(at::kCPU, at::kDouble));
      }
    }
  } catch (const c10::Error& e) {
    return Status::InvalidArgument(where + ": forward failed: " + FirstLineOf(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(where + ": forward failed: " + FirstLineOf(e.what()));
  }
  ClassifierOutputs o;
  if (logits.empty()) return Status::InvalidArgument(where + ": no frames");
  o.logits = at::cat(logits);
  if (with_features && !feats.empty()) o.features = at::cat(feats);
  return o;
}

Result<ScoreMeanStd> InceptionScore(const at::Tensor& logits, int64_t splits) {
  if (logits.dim() != 2 || splits < 1 || logits.size(0) < splits || logits.size(1) < 2)
    return Status::InvalidArgument("inception score: needs logits [N, K >= 2] with N >= splits >= 1");
  at::Tensor lp = at::log_softmax(logits.to(at::kDouble), 1);
  if (!at::isfinite(lp).all().item<bool>())
    return Status::InvalidArgument("inception score: non-finite logits");
  const int64_t n = logits.size(0);
  std::vector<double> scores;
  for (int64_t k = 0; k < splits; ++k) {
    const int64_t b = k * n / splits, e = (k + 1) * n / splits;
    at::Tensor part = lp.slice(0, b, e);
    at::Tensor py = at::logsumexp(part, 0) - std::log(static_cast<double>(e - b));  // log p(y)
    at::Tensor kl = (part.exp() * (part - py)).sum(1).mean();
    scores.push_back(std::exp(kl.item<double>()));
  }
  ScoreMeanStd r;
  for (double s : scores) r.mean += s;
  r.mean /= static_cast<double>(scores.size());
  for (double s : scores) r.std += (s - r.mean) * (s - r.mean);
  r.std = std::sqrt(r.std / static_cast<double>(scores.size()));
  return r;
}

Result<double> ClassAccuracy(const at::Tensor& logits, const at::Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0) ||
      logits.size(0) < 1)
    return Status::InvalidArgument("class accuracy: needs logits [N, K] and labels [N], N >= 1");
  at::Tensor hit = logits.argmax(1).to(at::kLong).eq(labels.to(at::kCPU, at::kLong));
  return hit.to(at::kDouble).mean().item<double>();
}

}  // namespace fc::eval
