// Pretrained feature networks loaded from user-supplied TorchScript archives: I3D for FVD and
// LPIPS. framecast ships no weights; without a file these metrics are reported as unavailable.
//
// I3D (StyleGAN-V's i3d_torchscript.pt convention): forward(x, rescale, resize, return_features)
//   with x [N, 3, T, 224, 224] in [-1, 1]. framecast does the preprocessing itself and calls
//   forward(x, false, false, true); an archive whose forward takes x only is called as forward(x).
//   Preprocessing of clips [N, T, C, H, W] in [0, 1] (the reference FVD recipe):
//     grey (C = 1) repeated to 3 channels; every frame resized to 224x224 bilinear
//     (PyTorch half-pixel centres, align_corners = false; TF1's legacy resize differs slightly);
//     scaled to [-1, 1]; fed in batches of 16 videos. The output [N, F] (any trailing singleton
//     dims are flattened) is returned as float64 on CPU.
// LPIPS: forward(a, b) with a, b [N, 3, H, W] in [-1, 1] -> distances [N] (or [N, 1, 1, 1]);
//   grey frames are repeated to 3 channels; frames are fed in chunks of kLpipsChunk.
// Loading errors are one line naming the file ("i3d TorchScript /x.pt: ..."). Inference runs
// without autograd, on the device given at load time. Not thread-safe: one instance per thread.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "util/status.h"

namespace torch::jit {
struct Module;
}

namespace fc::eval {

inline constexpr int64_t kI3dSize = 224;
inline constexpr int64_t kI3dBatch = 16;
inline constexpr int64_t kLpipsChunk = 64;

class TorchScriptI3d {
 public:
  // Loads the archive onto `device`. NotFound when the file is missing or unreadable;
  // InvalidArgument when it is not a TorchScript archive with a forward method.
  static Result<std::unique_ptr<TorchScriptI3d>> Load(const std::string& path, c10::Device device);
  ~TorchScriptI3d();

  // clips [N, T, C, H, W] floating in [0, 1], C in {1, 3} -> features [N, F] float64 (CPU).
  Result<at::Tensor> Features(const at::Tensor& clips);
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  TorchScriptI3d(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

class TorchScriptLpips {
 public:
  static Result<std::unique_ptr<TorchScriptLpips>> Load(const std::string& path,
                                                        c10::Device device);
  ~TorchScriptLpips();

  // a, b [N, C, H, W] floating in [0, 1], C in {1, 3} -> distances [N] float64 (CPU).
  Result<at::Tensor> Distance(const at::Tensor& a, const at::Tensor& b);
  const std::string& path() const { return path_; }

 private:
  struct Impl;
  TorchScriptLpips(std::string path, std::unique_ptr<Impl> impl);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// The first line of an exception message ("unknown error" when empty), for one-line errors.
std::string FirstLineOf(const std::string& message);

// Loads `path` as a TorchScript module on `device` in eval mode; `what` ("i3d", "classifier")
// names the role in the one-line errors: NotFound for a missing or unreadable file,
// InvalidArgument for anything that is not an archive with a forward method.
Result<torch::jit::Module> LoadTorchScript(const std::string& what, const std::string& path,
                                           c10::Device device);

// [N, T, C, H, W] (clamped to [0, 1]) -> [N, 3, T, 224, 224] in [-1, 1] (the I3D input),
// float32.
at::Tensor I3dPreprocess(const at::Tensor& clips);

}  // namespace fc::eval
