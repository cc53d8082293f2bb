// CvgConfig (src/proto/cvg.proto): defaults, validation, derived level geometry and the parameter
// summary of the cascaded video GAN.
//
// ApplyCvgDefaults fills every zero-valued field with the default named in the proto (the spec's
// numbers; README.md lists the choices made where the paper is silent). It fails only when a
// default cannot be derived (e.g. no levels). ValidateCvg checks a defaulted config; its errors
// name the field path under the run config, e.g.
//   "model.cvg.levels[1].window_frames=30: larger than the previous level's frames (24)".
// Both are pure functions of the config (no torch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/config.pb.h"
#include "proto/cvg.pb.h"
#include "util/status.h"

namespace fc::models::cvg {

Status ApplyCvgDefaults(framecast::CvgConfig* config);
Status ValidateCvg(const framecast::CvgConfig& config);

// Run-level rules of a CVG run: one stage per level (stage i trains level i + 1), and one
// Adam optimizer per network "level<k>/G" and "level<k>/D" (names from NetworkName), and no
// other. ApplyCvgRunDefaults runs ApplyCvgDefaults on model.cvg (no-op for other families).
Status ApplyCvgRunDefaults(framecast::RunConfig* config);
Status ValidateCvgRun(const framecast::RunConfig& config);
// Data rules of a CVG run: clips of the last level's full length, resolution and channels;
// class-conditional Moving MNIST needs one labelled item per clip.
Status ValidateCvgData(const framecast::RunConfig& config);

// "level<k>/G" or "level<k>/D" for 0-based `level` (k = level + 1).
std::string NetworkName(int level, char network);

// Sizes a level works at, derived from a defaulted config. Level indices are 0-based.
struct LevelGeometry {
  int level = 0;
  int64_t resolution = 0;         // output frame size
  int64_t frames = 0;             // full-length output frames (inference)
  int64_t train_frames = 0;       // frames G generates in training (the output window)
  int64_t temporal_upsample = 1;  // 1 for level 1
  int64_t spatial_upsample = 1;   // resolution / input_resolution; 1 for level 1
  int64_t input_resolution = 0;   // level k > 1: the previous level's resolution
  int64_t input_frames = 0;       // level k > 1: input window in training (train_frames / tu)
  int64_t spatial_frames = 0;     // frames D_S samples per clip
  bool matching = false;          // level has D_M
};
LevelGeometry Geometry(const framecast::CvgConfig& config, int level);

// Per-block downsampling of a discriminator whose input is `input_resolution` pixels: the
// configured list, or every block but the last while the map is larger than 1x1.
std::vector<bool> DiscriminatorDownsample(const framecast::CvgDiscriminatorConfig& d,
                                          int64_t input_resolution);
// Per-unit spatial upsampling of a level's generator: configured, or level 1 all but the last
// unit, level k all units.
std::vector<bool> GeneratorUpsample(const framecast::CvgConfig& config, int level);

// One line per level with the G and D (D_S, D_T, D_M) parameter counts, computed by building the
// modules on the meta device (no memory; milliseconds even for paper-size models).
// REQUIRES: a defaulted, valid config.
std::string ParameterSummary(const framecast::CvgConfig& config);

}  // namespace fc::models::cvg
