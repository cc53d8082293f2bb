// Per-frame image quality metrics for video prediction: PSNR and SSIM.
//
// Inputs are clips [B, T, C, H, W] of floats in [0, 1] (any floating dtype, any device; both on
// the same device). Predictions are clamped to [0, 1] first; targets are taken as they are.
// Results are [B, T] float64 tensors on the inputs' device, one value per frame.
//
// Definitions (pinned by tests/eval/metrics_test.cc, following SRVP's evaluation code):
//   PSNR = 10 log10(1 / MSE), MSE the mean over C, H, W of the squared error. Identical frames
//          (MSE = 0) and anything above kPsnrCapDb are reported as kPsnrCapDb (100 dB), so means
//          over frames and sequences stay finite.
//   SSIM = mean over C, H', W' of the SSIM map with an 11x11 Gaussian window (sigma 1.5,
//          normalised to sum 1), VALID convolution (no padding: H' = H - 10, W' = W - 10),
//          k1 = 0.01, k2 = 0.03, dynamic range 1 (C1 = (k1)^2, C2 = (k2)^2); local variances are
//          E[x^2] - E[x]^2 under the window. Channels are averaged. REQUIRES H, W >= 11.
//   These differ from metrics on uint8 values scaled by 255 (tensor2tensor) and from skimage's
//   SSIM (uniform 7x7 window, sample covariance) used by SVG.
// All arithmetic is float64. Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include "util/status.h"

namespace fc::eval {

inline constexpr double kPsnrCapDb = 100.0;
inline constexpr int kSsimWindow = 11;
inline constexpr double kSsimSigma = 1.5;
inline constexpr double kSsimK1 = 0.01;
inline constexpr double kSsimK2 = 0.03;

// [B, T] PSNR in dB (capped at kPsnrCapDb).
Result<at::Tensor> Psnr(const at::Tensor& pred, const at::Tensor& target);

// [B, T] SSIM in [-1, 1]; separable depthwise conv2d over the stacked x, y, x^2, y^2, xy maps.
Result<at::Tensor> Ssim(const at::Tensor& pred, const at::Tensor& target);

// The normalised 1-D Gaussian of kSsimWindow taps (float64, CPU); the 2-D window is its outer
// product.
at::Tensor SsimGaussian1d();
// The normalised 1-D Gaussian of `taps` taps centred on the middle one (float64, CPU).
// REQUIRES: taps >= 1, sigma > 0.
at::Tensor GaussianKernel1d(int64_t taps, double sigma);

// Checks that pred and target are [B, T, C, H, W] floating tensors of equal shape and device;
// `what` names the caller in the message.
Status CheckClipPair(const at::Tensor& pred, const at::Tensor& target, const char* what);

}  // namespace fc::eval
