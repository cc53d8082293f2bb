#include "models/srvp/config.h"

#include <cmath>
#include <string>

namespace fc::models::srvp {

using framecast::SrvpConfig;

void ApplySrvpDefaults(SrvpConfig* c) {
  if (c->image_channels() == 0) c->set_image_channels(1);
  if (c->image_size() == 0) c->set_image_size(64);
  if (c->base_filters() == 0) c->set_base_filters(64);
  if (c->frame_features() == 0) c->set_frame_features(128);
  if (c->state_size() == 0) c->set_state_size(20);
  if (c->noise_size() == 0) c->set_noise_size(20);
  if (c->inference_hidden() == 0) c->set_inference_hidden(256);
  if (c->inference_layers() == 0) c->set_inference_layers(3);
  if (c->residual_hidden() == 0) c->set_residual_hidden(512);
  if (c->residual_layers() == 0) c->set_residual_layers(4);
  if (c->euler_steps() == 0) c->set_euler_steps(1);
  if (!c->has_residual_penalty()) c->set_residual_penalty(1.0);
  if (!c->has_beta_y()) c->set_beta_y(1.0);
  if (!c->has_beta_z()) c->set_beta_z(1.0);
  if (c->obs_scale() == 0) c->set_obs_scale(1.0);
  if (c->residual_gain() == 0) c->set_residual_gain(1.41);
}

namespace {

Status Bad(const std::string& field, double value, const std::string& rule) {
  char v[64];
  std::snprintf(v, sizeof(v), "%g", value);
  return Status::InvalidArgument("model.srvp." + field + "=" + v + ": " + rule);
}

bool In(double v, double lo, double hi) { return v >= lo && v <= hi; }

}  // namespace

Status ValidateSrvp(const SrvpConfig& raw) {
  SrvpConfig c = raw;
  ApplySrvpDefaults(&c);
  if (c.image_channels() != 1 && c.image_channels() != 3)
    return Bad("image_channels", c.image_channels(), "must be 1 or 3");
  if (c.image_size() != 64)
    return Bad("image_size", c.image_size(), "the DCGAN and VGG encoders are 64x64 networks");
  if (!In(c.base_filters(), 1, 1024))
    return Bad("base_filters", c.base_filters(), "must be in [1, 1024]");
  struct Size {
    const char* name;
    int64_t value;
  };
  for (const Size& s : {Size{"frame_features", c.frame_features()},
                        {"state_size", c.state_size()},
                        {"noise_size", c.noise_size()},
                        {"inference_hidden", c.inference_hidden()},
                        {"residual_hidden", c.residual_hidden()}}) {
    if (!In(s.value, 1, 8192)) return Bad(s.name, s.value, "must be in [1, 8192]");
  }
  if (!In(c.inference_layers(), 1, 16))
    return Bad("inference_layers", c.inference_layers(), "must be in [1, 16]");
  if (!In(c.residual_layers(), 1, 16))
    return Bad("residual_layers", c.residual_layers(), "must be in [1, 16]");
  if (c.content_frames() < 0 || c.content_frames() > 1000)
    return Bad("content_frames", c.content_frames(),
               "must be in [1, 1000] (0: data.context_frames)");
  if (!In(c.euler_steps(), 1, 64)) return Bad("euler_steps", c.euler_steps(), "must be in [1, 64]");
  if (c.dynamics() != SrvpConfig::RESIDUAL && c.euler_steps() != 1)
    return Bad("euler_steps", c.euler_steps(),
               "sub-steps need dynamics RESIDUAL (the MLP and GRU updates have no step size)");
  if (!SrvpConfig::Dynamics_IsValid(c.dynamics()))
    return Bad("dynamics", c.dynamics(), "unknown dynamics");
  if (!SrvpConfig::Backbone_IsValid(c.backbone()))
    return Bad("backbone", c.backbone(), "unknown backbone");
  for (auto [name, v] : {std::pair<const char*, double>{"residual_penalty", c.residual_penalty()},
                         {"beta_y", c.beta_y()},
                         {"beta_z", c.beta_z()}}) {
    if (!(v >= 0) || !std::isfinite(v)) return Bad(name, v, "must be finite and >= 0");
  }
  if (!(c.obs_scale() > 0) || !std::isfinite(c.obs_scale()))
    return Bad("obs_scale", c.obs_scale(), "must be finite and > 0");
  if (!(c.residual_gain() > 0) || !std::isfinite(c.residual_gain()))
    return Bad("residual_gain", c.residual_gain(), "must be finite and > 0");
  return Status::Ok();
}

}  // namespace fc::models::srvp
