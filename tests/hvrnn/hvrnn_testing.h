// Small HVRNN configs and helpers shared by the hvrnn tests.
#pragma once

#include <ATen/ATen.h>

#include <initializer_list>
#include <utility>

#include "models/hvrnn/config.h"
#include "proto/hvrnn.pb.h"

namespace fc::models::hvrnn::testing {

// 16x16x1 frames (resolutions 16, 8, 4, 1), width 8 everywhere, GroupNorm(2), latents 1x1:4,
// 4x4:4, 8x8:4 (dense), defaults applied.
inline framecast::HvrnnConfig TinyConfig(int64_t image_size = 16, bool three_levels = true) {
  framecast::HvrnnConfig c;
  c.set_image_channels(1);
  c.set_image_size(static_cast<int32_t>(image_size));
  c.set_groups(2);
  // Structural tests follow every data path from step 0: zero heads (the default) would make the
  // latent distributions independent of their inputs until trained.
  c.set_random_init_dist_head(true);
  for (size_t i = 0; i < EncoderResolutions(image_size).size(); ++i) {
    c.add_encoder_widths(8);
    c.add_decoder_widths(8);
  }
  std::initializer_list<std::pair<int, int>> lv = {{1, 4}, {4, 4}, {8, 4}};
  int n = 0;
  for (auto [r, ch] : lv) {
    if (!three_levels && n++ > 0) break;
    auto* l = c.add_latents();
    l->set_resolution(r);
    l->set_channels(ch);
  }
  if (!ApplyHvrnnDefaults(&c).ok()) std::abort();
  return c;
}

inline double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace fc::models::hvrnn::testing
