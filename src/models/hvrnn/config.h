// HVRNN configuration: defaults, validation and the KL-weight (beta) schedule.
//
// ApplyHvrnnDefaults fills every zero/empty field of a HvrnnConfig with the default named in
// src/proto/hvrnn.proto (the spec's literal 64x64 tables). ValidateHvrnn checks a config (it
// applies the defaults to a copy first, so raw and defaulted configs both work) and names the
// offending field in its one-line message: "model.hvrnn.latents[2].resolution: ...".
// BetaAt is a pure function of the global step, identical on every rank.
#pragma once

#include <cstdint>
#include <vector>

#include "proto/hvrnn.pb.h"
#include "util/status.h"

namespace fc::models::hvrnn {

// Resolutions of the encoder taps, fine to coarse: image_size, image_size/2, ..., 8, 4, 1.
// REQUIRES: image_size a power of two in [8, 256].
std::vector<int64_t> EncoderResolutions(int64_t image_size);

// Default encoder/decoder width at resolution r (64 at 64x64, 32 at 128, 128 at 32, 256 at 16,
// 512 at 8, 4 and 1).
int64_t DefaultWidth(int64_t resolution);

// Fills defaults in place. Fails (naming the field) only when image_size is not usable for
// deriving the default widths.
Status ApplyHvrnnDefaults(framecast::HvrnnConfig* c);

// OK when the config (after defaults) describes a buildable model.
Status ValidateHvrnn(const framecast::HvrnnConfig& c);

// KL weight at `global_step`: linear warm-up from 0 to beta_max over beta_warmup_steps, then held
// (beta_max from step 0 when beta_warmup_steps is 0). beta_max 0 means its default, 1.
double BetaAt(const framecast::HvrnnConfig& c, int64_t global_step);

}  // namespace fc::models::hvrnn
