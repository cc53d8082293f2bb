// Frame classifiers for generated-video metrics (Inception Score, FID, class accuracy of
// class-conditional samples), as TorchScript archives.
//
// Contract of a classifier archive (framecast's own, or a user's wrapper of an Inception/C3D
// network that does its own resizing and normalisation):
//   forward(x [N, C, H, W] float in [0, 1]) -> logits [N, K], or a tuple (logits [N, K],
//   features [N, F]); FID uses the features (a forward returning logits alone gives IS and accuracy
//   only). C and H x W must be what the network was made for.
//
// MakeFrameClassifier builds framecast's own small CNN as a scripted module, ready to train from
// C++ (its parameters require grad; `framecast eval train-classifier` trains it) and to save:
//   3 x [conv 3x3 (width w, 2w, 4w) + bias, ReLU, 2x2 max-pool (not after the last)] ->
//   global mean -> features [N, 4w] -> linear -> logits [N, K].
// Its attributes image_channels, image_size and num_classes are saved with it; Load reads them
// when present and refuses frames of another shape with a one-line error.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>

#include "util/status.h"

namespace torch::jit {
struct Module;
}

namespace fc::eval {

struct ClassifierShape {
  int64_t channels = 1, image_size = 32, classes = 10, width = 32;
};
// A fresh scripted classifier (Kaiming-uniform weights from the current torch seed).
Result<std::unique_ptr<torch::jit::Module>> MakeFrameClassifier(const ClassifierShape& shape);

struct ClassifierOutputs {
  at::Tensor logits;    // [N, K] float64, CPU
  at::Tensor features;  // [N, F] float64, CPU; undefined when the archive gives none
};

class TorchScriptClassifier {
 public:
  // NotFound: missing or unreadable file; InvalidArgument: not a TorchScript archive with a
  // forward method. Every message is one line naming `role` and the file ("classifier
  // TorchScript /x.pt: ...").
  static Result<std::unique_ptr<TorchScriptClassifier>> Load(const std::string& path,
                                                             c10::Device device,
                                                             const std::string& role = "classifier");
  // Wraps a module in memory (the one train-classifier just trained).
  static std::unique_ptr<TorchScriptClassifier> Wrap(const torch::jit::Module& m,
                                                     const std::string& name);
  ~TorchScriptClassifier();

  // frames [N, C, H, W] floating in [0, 1] -> outputs, in chunks of 256 frames, no autograd.
  // Errors name the file: a shape the archive was not made for, a bad return value.
  Result<ClassifierOutputs> Run(const at::Tensor& frames);
  const std::string& path() const { return path_; }
  // From the archive's attributes; 0 when it has none (a user's archive).
  int64_t channels() const { return channels_; }
  int64_t image_size() const { return image_size_; }
  // framecast's classifier records its held-out frame accuracy; -1 for other archives.
  double test_accuracy() const { return test_accuracy_; }

 private:
  struct Impl;
  TorchScriptClassifier(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;
  int64_t channels_ = 0, image_size_ = 0;
  double test_accuracy_ = -1;
};

// Inception Score of class probabilities softmax(logits) [N, K]: exp(mean_i KL(p(y|x_i) || p(y)))
// per split of consecutive rows (the standard protocol uses 10 splits), mean and population std
// over splits. REQUIRES-checked: N >= splits >= 1, finite values.
struct ScoreMeanStd {
  double mean = 0, std = 0;
};
Result<ScoreMeanStd> InceptionScore(const at::Tensor& logits, int64_t splits);

// Fraction of rows whose argmax equals labels [N] (int64). REQUIRES-checked: equal N >= 1.
Result<double> ClassAccuracy(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace fc::eval
