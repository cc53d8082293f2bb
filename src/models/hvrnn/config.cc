#include "models/hvrnn/config.h"

#include <algorithm>
#include <string>

namespace fc::models::hvrnn {
namespace {

constexpr char kPrefix[] = "model.hvrnn.";

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

Status Bad(const std::string& field, const std::string& why) {
  return Status::InvalidArgument(std::string(kPrefix) + field + ": " + why);
}

std::string ResList(const std::vector<int64_t>& res) {
  std::string s = "{";
  for (size_t i = 0; i < res.size(); ++i) s += (i ? ", " : "") + std::to_string(res[i]);
  return s + "}";
}

Status CheckWidth(const std::string& field, int64_t w, int64_t groups, int64_t mult = 1) {
  if (w <= 0) return Bad(field, "must be > 0, got " + std::to_string(w));
  if ((w * mult) % groups != 0) {
    return Bad(field, std::to_string(w) + (mult > 1 ? " (x" + std::to_string(mult) + ")" : "") +
                          " channels are not divisible by groups = " + std::to_string(groups));
  }
  return Status::Ok();
}

}  // namespace

std::vector<int64_t> EncoderResolutions(int64_t image_size) {
  std::vector<int64_t> res;
  for (int64_t r = image_size; r >= 8; r /= 2) res.push_back(r);
  res.push_back(4);
  res.push_back(1);
  return res;
}

int64_t DefaultWidth(int64_t r) {
  if (r >= 64) return std::max<int64_t>(16, 64 * 64 / r);
  if (r == 32) return 128;
  if (r == 16) return 256;
  return 512;
}

Status ApplyHvrnnDefaults(framecast::HvrnnConfig* c) {
  if (c->image_channels() == 0) c->set_image_channels(3);
  if (c->image_size() == 0) c->set_image_size(64);
  const int64_t size = c->image_size();
  if (!IsPowerOfTwo(size) || size < 8 || size > 256) {
    return Bad("image_size", "must be a power of two in [8, 256], got " + std::to_string(size));
  }
  const auto res = EncoderResolutions(size);
  if (c->encoder_widths_size() == 0) {
    for (int64_t r : res) c->add_encoder_widths(static_cast<int32_t>(DefaultWidth(r)));
  }
  if (c->decoder_widths_size() == 0) {
    for (int i = c->encoder_widths_size() - 1; i >= 0; --i)
      c->add_decoder_widths(c->encoder_widths(i));
  }
  if (c->decoder_recurrent_size() == 0) {
    for (size_t i = 0; i < res.size(); ++i) c->add_decoder_recurrent(true);
  } else {
    while (c->decoder_recurrent_size() < static_cast<int>(res.size()))
      c->add_decoder_recurrent(false);
  }
  if (c->decoder_top_kernel() == 0) c->set_decoder_top_kernel(1);
  if (c->latents_size() == 0) {
    for (auto [r, ch] : {std::pair<int, int>{1, 128}, {8, 512}, {32, 512}}) {
      auto* l = c->add_latents();
      l->set_resolution(r);
      l->set_channels(ch);
    }
  }
  for (auto& l : *c->mutable_latents()) {
    if (l.hidden() == 0) l.set_hidden(l.channels());
    if (l.kernel() == 0) l.set_kernel(l.resolution() == 1 ? 1 : 3);
  }
  if (c->groups() == 0) c->set_groups(16);
  if (c->gaussian_sigma() == 0) c->set_gaussian_sigma(1.0);
  if (c->beta_max() == 0) c->set_beta_max(1.0);
  if (c->sigma_floor() == 0) c->set_sigma_floor(1e-4);
  return Status::Ok();
}

Status ValidateHvrnn(const framecast::HvrnnConfig& raw) {
  framecast::HvrnnConfig c = raw;
  if (c.image_channels() < 0) return Bad("image_channels", "must be >= 1");
  FC_RETURN_IF_ERROR(ApplyHvrnnDefaults(&c));
  const int64_t g = c.groups();
  if (g < 1) return Bad("groups", "must be >= 1, got " + std::to_string(g));
  const auto res = EncoderResolutions(c.image_size());
  const int n = static_cast<int>(res.size());
  if (c.encoder_widths_size() != n) {
    return Bad("encoder_widths", "needs " + std::to_string(n) + " entries (resolutions " +
                                     ResList(res) + "), got " +
                                     std::to_string(c.encoder_widths_size()));
  }
  if (c.decoder_widths_size() != n) {
    return Bad("decoder_widths", "needs " + std::to_string(n) + " entries (resolutions " +
                                     ResList({res.rbegin(), res.rend()}) + "), got " +
                                     std::to_string(c.decoder_widths_size()));
  }
  if (c.decoder_recurrent_size() != n) {
    return Bad("decoder_recurrent", "at most " + std::to_string(n) + " entries, got " +
                                        std::to_string(c.decoder_recurrent_size()));
  }
  for (int i = 0; i < n; ++i) {
    FC_RETURN_IF_ERROR(
        CheckWidth("encoder_widths[" + std::to_string(i) + "]", c.encoder_widths(i), g));
    FC_RETURN_IF_ERROR(
        CheckWidth("decoder_widths[" + std::to_string(i) + "]", c.decoder_widths(i), g));
  }
  if (c.encoder_widths(n - 2) != c.encoder_widths(n - 3)) {
    return Bad("encoder_widths[" + std::to_string(n - 2) + "]",
               "the 4x4 stage is a max-pool of the 8x8 stage and keeps its width " +
                   std::to_string(c.encoder_widths(n - 3)) + ", got " +
                   std::to_string(c.encoder_widths(n - 2)));
  }
  if (c.encoder_widths(n - 1) / g < 2 || c.decoder_widths(0) / g < 2) {
    return Bad(c.encoder_widths(n - 1) / g < 2 ? "encoder_widths[" + std::to_string(n - 1) + "]"
                                               : std::string("decoder_widths[0]"),
               "the 1x1 stage needs at least 2 channels per GroupNorm group (groups = " +
                   std::to_string(g) + ")");
  }
  if (c.decoder_top_kernel() < 1 || c.decoder_top_kernel() > 7) {
    return Bad("decoder_top_kernel",
               "must be in [1, 7], got " + std::to_string(c.decoder_top_kernel()));
  }
  if (c.latents_size() == 0) return Bad("latents", "at least one latent level is needed");
  int64_t prev_res = 0;
  for (int l = 0; l < c.latents_size(); ++l) {
    const auto& z = c.latents(l);
    const std::string f = "latents[" + std::to_string(l) + "].";
    if (std::find(res.begin(), res.end(), z.resolution()) == res.end()) {
      return Bad(f + "resolution", std::to_string(z.resolution()) +
                                       " is not one of the encoder/decoder resolutions " +
                                       ResList(res));
    }
    if (z.resolution() <= prev_res) {
      return Bad(f + "resolution", "levels are listed coarse to fine with increasing resolution; " +
                                       std::to_string(z.resolution()) + " follows " +
                                       std::to_string(prev_res));
    }
    prev_res = z.resolution();
    if (z.channels() <= 0) return Bad(f + "channels", "must be > 0");
    if (!c.no_gn_on_dist_head()) {
      FC_RETURN_IF_ERROR(CheckWidth(f + "channels", z.channels(), g, 2));
    }
    FC_RETURN_IF_ERROR(CheckWidth(f + "hidden", z.hidden(), g));
    // GroupNorm on a 1x1 map normalises over the channels of a group only: with one channel per
    // group its output is the constant bias (the input is lost).
    if (z.resolution() == 1 && z.hidden() / g < 2) {
      return Bad(f + "hidden", "a 1x1 level needs at least 2 channels per GroupNorm group (" +
                                   std::to_string(z.hidden()) +
                                   " channels, groups = " + std::to_string(g) + ")");
    }
    if (z.kernel() < 1 || z.kernel() > 7) {
      return Bad(f + "kernel", "must be in [1, 7], got " + std::to_string(z.kernel()));
    }
  }
  if (!framecast::HvrnnConfig::Likelihood_IsValid(c.likelihood())) {
    return Bad("likelihood", "unknown value " + std::to_string(c.likelihood()));
  }
  if (!framecast::HvrnnConfig::ContextInit_IsValid(c.context_init())) {
    return Bad("context_init", "unknown value " + std::to_string(c.context_init()));
  }
  if (c.context_frames() < 0 || c.context_frames() > 1024) {
    return Bad("context_frames", "must be in [0, 1024], got " + std::to_string(c.context_frames()));
  }
  if (c.context_init() == framecast::HvrnnConfig::CONCAT && c.context_frames() < 1) {
    return Bad("context_frames", "context_init CONCAT needs the number of context frames (>= 1)");
  }
  if (c.gaussian_sigma() <= 0) return Bad("gaussian_sigma", "must be > 0");
  if (c.beta_max() < 0) return Bad("beta_max", "must be >= 0");
  if (c.beta_warmup_steps() < 0) return Bad("beta_warmup_steps", "must be >= 0");
  if (c.sigma_floor() < 0) return Bad("sigma_floor", "must be > 0");
  return Status::Ok();
}

double BetaAt(const framecast::HvrnnConfig& c, int64_t global_step) {
  const double beta_max = c.beta_max() == 0 ? 1.0 : c.beta_max();
  if (c.beta_warmup_steps() <= 0) return beta_max;
  const double frac = static_cast<double>(std::max<int64_t>(0, global_step)) /
                      static_cast<double>(c.beta_warmup_steps());
  return beta_max * std::min(1.0, frac);
}

}  // namespace fc::models::hvrnn
