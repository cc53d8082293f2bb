#include "eval/metrics.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <vector>

namespace fc::eval {
namespace {

std::string ShapeString(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

}  // namespace

Status CheckClipPair(const at::Tensor& pred, const at::Tensor& target, const char* what) {
  if (!pred.defined() || !target.defined()) {
    return Status::InvalidArgument(std::string(what) + ": undefined tensor");
  }
  if (pred.dim() != 5 || pred.sizes() != target.sizes()) {
    return Status::InvalidArgument(std::string(what) + ": prediction " + ShapeString(pred) +
                                   " and target " + ShapeString(target) +
                                   " must both be [B, T, C, H, W]");
  }
  if (!at::isFloatingType(pred.scalar_type()) || !at::isFloatingType(target.scalar_type())) {
    return Status::InvalidArgument(std::string(what) + ": clips must be floating point in [0, 1]");
  }
  if (pred.device() != target.device()) {
    return Status::InvalidArgument(std::string(what) +
                                   ": prediction and target on different devices");
  }
  return Status::Ok();
}

Result<at::Tensor> Psnr(const at::Tensor& pred, const at::Tensor& target) {
  FC_RETURN_IF_ERROR(CheckClipPair(pred, target, "psnr"));
  at::Tensor p = pred.to(at::kDouble).clamp(0.0, 1.0);
  at::Tensor t = target.to(at::kDouble);
  at::Tensor mse = (p - t).pow(2).mean({2, 3, 4});  // [B, T]
  // 10 log10(1 / mse) = -10 log10(mse); mse = 0 gives +inf, which the cap maps to kPsnrCapDb.
  return (-10.0 * at::log10(mse)).clamp_max(kPsnrCapDb);
}

at::Tensor GaussianKernel1d(int64_t taps, double sigma) {
  at::Tensor x = at::arange(taps, at::kDouble) - (taps - 1) / 2.0;
  at::Tensor g = at::exp(-(x * x) / (2.0 * sigma * sigma));
  return g / g.sum();
}

at::Tensor SsimGaussian1d() { return GaussianKernel1d(kSsimWindow, kSsimSigma); }

Result<at::Tensor> Ssim(const at::Tensor& pred, const at::Tensor& target) {
  FC_RETURN_IF_ERROR(CheckClipPair(pred, target, "ssim"));
  const int64_t b = pred.size(0), t = pred.size(1), c = pred.size(2), h = pred.size(3),
                w = pred.size(4);
  if (h < kSsimWindow || w < kSsimWindow) {
    return Status::InvalidArgument("ssim: frames " + std::to_string(h) + "x" + std::to_string(w) +
                                   " are smaller than the 11x11 window");
  }
  const auto opts = at::TensorOptions().dtype(at::kDouble).device(pred.device());
  if (b * t * c == 0) return at::zeros({b, t}, opts);
  at::Tensor x = pred.to(at::kDouble).clamp(0.0, 1.0).reshape({b * t * c, 1, h, w});
  at::Tensor y = target.to(at::kDouble).reshape({b * t * c, 1, h, w});
  // Five maps per frame and channel, filtered together by one grouped separable convolution.
  at::Tensor maps = at::cat({x, y, x * x, y * y, x * y}, 1);  // [N, 5, H, W]
  at::Tensor g = SsimGaussian1d().to(pred.device());
  at::Tensor wv = g.reshape({1, 1, kSsimWindow, 1}).expand({5, 1, kSsimWindow, 1}).contiguous();
  at::Tensor wh = g.reshape({1, 1, 1, kSsimWindow}).expand({5, 1, 1, kSsimWindow}).contiguous();
  const std::vector<int64_t> one{1, 1}, zero{0, 0};
  auto conv = [&](const at::Tensor& in, const at::Tensor& weight) {
    return at::conv2d(in, weight, at::Tensor(), at::IntArrayRef(one), at::IntArrayRef(zero),
                      at::IntArrayRef(one), /*groups=*/5);
  };
  at::Tensor f = conv(conv(maps, wv), wh);  // [N, 5, H - 10, W - 10]
  at::Tensor mu_x = f.select(1, 0), mu_y = f.select(1, 1);
  at::Tensor var_x = f.select(1, 2) - mu_x * mu_x;
  at::Tensor var_y = f.select(1, 3) - mu_y * mu_y;
  at::Tensor cov = f.select(1, 4) - mu_x * mu_y;
  const double c1 = kSsimK1 * kSsimK1, c2 = kSsimK2 * kSsimK2;
  at::Tensor map = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) /
                   ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2));
  return map.reshape({b, t, c, -1}).mean({2, 3});
}

}  // namespace fc::eval
