#include "eval/torchscript_features.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fcntl.h>
#include <torch/csrc/jit/serialization/import.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

// GCC 12 reports false -Warray-bounds in c10::IValue's inlined bool constructor (ivalue.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

namespace fc::eval {
namespace {


// Number of arguments of forward, not counting self.
size_t ForwardArity(torch::jit::Module& m) {
  auto method = m.get_method("forward");
  return method.function().getSchema().arguments().size() - 1;
}

at::Tensor ToThreeChannels(const at::Tensor& x, int64_t channel_dim) {
  return x.size(channel_dim) == 1 ? x.repeat_interleave(3, channel_dim) : x;
}

Result<at::Tensor> OutputTensor(const c10::IValue& out, const std::string& where) {
  if (out.isTensor()) return out.toTensor();
  if (out.isTuple() && !out.toTupleRef().elements().empty() &&
      out.toTupleRef().elements()[0].isTensor()) {
    return out.toTupleRef().elements()[0].toTensor();
  }
  return Status::InvalidArgument(where + ": forward did not return a tensor");
}

// The last non-empty line: TorchScript interpreter errors end with the Python-level message.
std::string LastLine(const std::string& s) {
  size_t end = s.find_last_not_of("\n \t");
  if (end == std::string::npos) return "unknown error";
  size_t begin = s.rfind('\n', end);
  return s.substr(begin == std::string::npos ? 0 : begin + 1,
                  end + 1 - (begin == std::string::npos ? 0 : begin + 1));
}

}  // namespace

std::string FirstLineOf(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.empty() ? "unknown error" : line;
}

// Loads `path` as TorchScript; `what` ("i3d", "lpips") names the role in errors.
Result<torch::jit::Module> LoadTorchScript(const std::string& what, const std::string& path,
                                      c10::Device device) {
  const std::string where = what + " TorchScript " + path;
  if (path.empty()) return Status::InvalidArgument(what + " TorchScript: empty path");
  // O_NONBLOCK: a FIFO without a writer must not hang the open; only regular files are read.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  if (fd < 0) return Status::NotFound(where + ": " + std::strerror(errno));
  struct stat st{};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) return Status::InvalidArgument(where + ": not a regular file");
  try {
    torch::jit::Module m = torch::jit::load(path, device);
    m.eval();
    if (!m.find_method("forward")) return Status::InvalidArgument(where + ": no forward method");
    return m;
  } catch (const c10::Error& e) {
    return Status::InvalidArgument(where + ": not a loadable TorchScript archive (" +
                                   FirstLineOf(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    return Status::InvalidArgument(where + ": " + FirstLineOf(e.what()));
  }
}

at::Tensor I3dPreprocess(const at::Tensor& clips) {
  const int64_t n = clips.size(0), t = clips.size(1), c = clips.size(2);
  at::Tensor x =
      clips.to(at::kFloat).clamp(0.0, 1.0).reshape({n * t, c, clips.size(3), clips.size(4)});
  x = ToThreeChannels(x, 1);
  if (x.size(2) != kI3dSize || x.size(3) != kI3dSize) {
    const std::vector<int64_t> size{kI3dSize, kI3dSize};
    x = at::upsample_bilinear2d(x, at::IntArrayRef(size), /*align_corners=*/false);
  }
  x = (x * 2.0 - 1.0).clamp(-1.0, 1.0);  // interpolation may overshoot by an ulp
  return x.reshape({n, t, 3, kI3dSize, kI3dSize}).permute({0, 2, 1, 3, 4}).contiguous();
}

// ---- I3D --------------------------------------------------------------------------------------

struct TorchScriptI3d::Impl {
  torch::jit::Module module;
  c10::Device device;
  size_t arity;
};

TorchScriptI3d::TorchScriptI3d(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
TorchScriptI3d::~TorchScriptI3d() = default;

Result<std::unique_ptr<TorchScriptI3d>> TorchScriptI3d::Load(const std::string& path,
                                                             c10::Device device) {
  FC_ASSIGN_OR_RETURN(torch::jit::Module m, LoadTorchScript("i3d", path, device));
  size_t arity = ForwardArity(m);
  if (arity != 1 && arity != 4) {
    return Status::InvalidArgument("i3d TorchScript " + path +
                                   ": forward must take (x) or (x, rescale, resize, "
                                   "return_features), it takes " +
                                   std::to_string(arity) + " arguments");
  }
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(m), device, arity});
  return std::unique_ptr<TorchScriptI3d>(new TorchScriptI3d(path, std::move(impl)));
}

Result<at::Tensor> TorchScriptI3d::Features(const at::Tensor& clips) {
  const std::string where = "i3d TorchScript " + path_;
  if (!clips.defined() || clips.dim() != 5 || (clips.size(2) != 1 && clips.size(2) != 3)) {
    return Status::InvalidArgument(where + ": clips must be [N, T, C in {1, 3}, H, W]");
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  try {
    for (int64_t i = 0; i < clips.size(0); i += kI3dBatch) {
      const int64_t j = std::min(clips.size(0), i + kI3dBatch);
      at::Tensor x = I3dPreprocess(clips.slice(0, i, j).to(impl_->device));
      std::vector<c10::IValue> args{x};
      if (impl_->arity == 4) {
        args.emplace_back(false);  // rescale: x is already in [-1, 1]
        args.emplace_back(false);  // resize: x is already 224x224
        args.emplace_back(true);   // return_features
      }
      FC_ASSIGN_OR_RETURN(at::Tensor y, OutputTensor(impl_->module.forward(args), where));
      if (y.dim() < 1 || y.size(0) != j - i) {
        std::ostringstream os;
        os << where << ": forward returned " << y.sizes() << " for " << (j - i) << " clips";
        return Status::InvalidArgument(os.str());
      }
      parts.push_back(y.reshape({j - i, -1}).to(at::kCPU, at::kDouble));
    }
  } catch (const c10::Error& e) {
    return Status::Internal(where + ": forward failed: " + FirstLineOf(e.what_without_backtrace()));
  } catch (const std::exception& e) {  // TorchScript interpreter errors (JITException)
    return Status::Internal(where + ": forward failed: " + LastLine(e.what()));
  }
  if (parts.empty()) return at::zeros({0, 0}, at::kDouble);
  return at::cat(parts, 0);
}

// ---- LPIPS ------------------------------------------------------------------------------------

struct TorchScriptLpips::Impl {
  torch::jit::Module module;
  c10::Device device;
};

TorchScriptLpips::TorchScriptLpips(std::string path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
TorchScriptLpips::~TorchScriptLpips() = default;

Result<std::unique_ptr<TorchScriptLpips>> TorchScriptLpips::Load(const std::string& path,
                                                                 c10::Device device) {
  FC_ASSIGN_OR_RETURN(torch::jit::Module m, LoadTorchScript("lpips", path, device));
  if (ForwardArity(m) != 2) {
    return Status::InvalidArgument("lpips TorchScript " + path + ": forward must take (a, b)");
  }
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(m), device});
  return std::unique_ptr<TorchScriptLpips>(new TorchScriptLpips(path, std::move(impl)));
}

Result<at::Tensor> TorchScriptLpips::Distance(const at::Tensor& a, const at::Tensor& b) {
  const std::string where = "lpips TorchScript " + path_;
  if (!a.defined() || a.dim() != 4 || a.sizes() != b.sizes() ||
      (a.size(1) != 1 && a.size(1) != 3)) {
    return Status::InvalidArgument(where + ": inputs must be two [N, C in {1, 3}, H, W] tensors");
  }
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  try {
    for (int64_t i = 0; i < a.size(0); i += kLpipsChunk) {
      const int64_t j = std::min(a.size(0), i + kLpipsChunk);
      auto prep = [&](const at::Tensor& x) {
        return ToThreeChannels(x.slice(0, i, j).to(impl_->device, at::kFloat).clamp(0.0, 1.0), 1) *
                   2.0 -
               1.0;
      };
      FC_ASSIGN_OR_RETURN(at::Tensor d,
                          OutputTensor(impl_->module.forward({prep(a), prep(b)}), where));
      if (d.numel() != j - i) {
        std::ostringstream os;
        os << where << ": forward returned " << d.sizes() << " for " << (j - i) << " pairs";
        return Status::InvalidArgument(os.str());
      }
      parts.push_back(d.reshape({j - i}).to(at::kCPU, at::kDouble));
    }
  } catch (const c10::Error& e) {
    return Status::Internal(where + ": forward failed: " + FirstLineOf(e.what_without_backtrace()));
  } catch (const std::exception& e) {  // TorchScript interpreter errors (JITException)
    return Status::Internal(where + ": forward failed: " + LastLine(e.what()));
  }
  if (parts.empty()) return at::zeros({0}, at::kDouble);
  return at::cat(parts, 0);
}

}  // namespace fc::eval
