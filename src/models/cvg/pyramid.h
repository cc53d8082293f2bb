// Clip operators of the cascade (spec 1.1, 1.7, 2.4, 2.6): the level pyramid's downsampling,
// temporal windows and D_S frame sampling. Layout [B, T, C, H, W]; all functions are
// differentiable where it matters (PyramidDown carries G's gradient through D_M).
//
// PyramidDown(x, k, r) = f_s(f_t(x)): keep frames 0, k, 2k, ... (f_t, temporal subsampling), then
// bilinear resize of every frame to r x r with antialiasing (f_s; align_corners = false,
// PyTorch's antialias = True, i.e. a triangle filter as wide as the scale factor). The same
// operator builds the real low-resolution view x^{l-1} of a real clip x^l and D_M's view of any
// clip, so for real pairs D_M sees two identical halves (the spec's default, 2.6). Real data of
// level l from a source clip of the last level: PyramidDown(source, frame_skip_l / frame_skip_L,
// resolution_l).
//
// Pixel range: datasets give [0, 1]; the models work in [-1, 1] (tanh output). ToModelRange /
// FromModelRange convert.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace fc::models::cvg {

at::Tensor PyramidDown(const at::Tensor& clip, int64_t temporal_factor, int64_t resolution);

// [B] random window starts in [0, T - window], one per clip, from `gen`.
at::Tensor RandomWindowStarts(int64_t batch, int64_t frames, int64_t window,
                              at::Generator gen = {});
// x[b, starts[b] : starts[b] + window] for every clip b: [B, window, C, H, W].
at::Tensor CropWindows(const at::Tensor& clip, const at::Tensor& starts, int64_t window);

// [B, k] int64: k distinct frames of T per clip, sorted, uniformly at random from `gen`
// (D_S's frame sampling; DVD-GAN samples without replacement).
at::Tensor SampleFrames(int64_t batch, int64_t frames, int64_t k, at::Generator gen = {});

inline at::Tensor ToModelRange(const at::Tensor& x01) { return x01 * 2 - 1; }
inline at::Tensor FromModelRange(const at::Tensor& x) { return (x + 1) * 0.5; }

}  // namespace fc::models::cvg
