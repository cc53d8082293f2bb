// Cascade: the cascade of CVG levels beside the models, single-device. It holds every level
// (generator and discriminators, level.h), the full-length inference copies of the levels that
// were trained on windows, and which levels are frozen, and it makes what one micro-batch of a
// level needs (src/models/cvg/README.md "Training loop"):
//   Draw      every random quantity of the micro-batch: fake labels, z per level, the frozen
//             levels' input windows, the real clip's window and the D_S frames; from LibTorch's
//             default CPU generator, or keyed by (seed, step, phase, global sample position) so N
//             ranks x b draw what 1 process x N*b draws;
//   Fake      the frozen levels under no-grad (each at its training length on its window), then
//             the level's generator in its current mode;
//   RealView  a real clip of the last level viewed at a level (frame skip, resolution, window)
//             and its low-res input;
//   Sample    full-length clips of the first levels (the inference copies where there are any).
// Parallelism is applied from outside: the trainer (train/cvg_family.h) attaches SyncBatchNorm to
// the generators and synchronises gradients; nothing here communicates.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "models/cvg/level.h"
#include "proto/cvg.pb.h"

namespace fc::models::cvg {

// Every random quantity of one micro-batch of a level (CPU tensors).
struct CascadeDraws {
  at::Tensor labels;                    // [B] fake labels (conditional), or undefined
  std::vector<at::Tensor> z;            // per level 0..level: [B, z_dim]
  std::vector<at::Tensor> starts;       // per level 0..level: input window starts [B] or undefined
  at::Tensor real_start;                // [B] window of the real clip, or undefined (no window)
  at::Tensor real_frames, fake_frames;  // [B, k] D_S frames
};

class Cascade {
 public:
  // config: defaulted and valid. like: the device and dtype of the levels (tensors made here
  // follow it). keyed: keyed draws from `seed`.
  Cascade(const framecast::CvgConfig& config, at::TensorOptions like, uint64_t seed, bool keyed);

  // Appends the next level (built by BuildCvgLevel, already on like's device and dtype).
  void AddLevel(CvgLevel level);
  int num_levels() const { return static_cast<int>(levels_.size()); }
  CvgLevel& level(int i) { return levels_[i]; }
  const CvgLevel& level(int i) const { return levels_[i]; }

  // Marks levels 0..n-1 frozen: generators in eval mode without gradients (FreezeGenerator),
  // discriminators in eval mode without gradients, their gradient memory released.
  void Freeze(int n);
  bool frozen(int level) const { return frozen_[level]; }

  // A full-length copy of level `level`'s generator (another length for its per-time-step BN:
  // every parameter and each buffer of equal shape copied), not yet installed; the caller
  // attaches what it needs (SyncBatchNorm) and installs it with SetUnrolled.
  std::shared_ptr<CvgGenerator> MakeUnrolled(int level) const;
  void SetUnrolled(int level, std::shared_ptr<CvgGenerator> g) { unrolled_[level] = std::move(g); }
  CvgGenerator* unrolled(int level) const { return unrolled_[level].get(); }
  // The generator inference uses: the unrolled copy if there is one, else the trained one.
  CvgGenerator& inference_generator(int level);

  CascadeDraws Draw(int level, int64_t batch, int phase, int64_t first_sample,
                    int64_t global_step) const;
  // The fake sample of `level`; *low_res (if given): its input (levels > 0).
  at::Tensor Fake(int level, const CascadeDraws& d, at::Tensor* low_res) const;
  // frames01: [B, T, C, H, W] in [0, 1] at the last level's length and resolution, on like's
  // device. Returns the level's real clip in [-1, 1]; *low_res its input view (levels > 0).
  at::Tensor RealView(int level, const at::Tensor& frames01, const CascadeDraws& d,
                      at::Tensor* low_res) const;
  // Full-length samples of the first `levels` levels (frozen ones through their inference
  // generator; a level still training in eval mode at its training length on a random window of
  // its input). Every level's output [B, T_j, C, H_j, W_j] in [-1, 1]. No gradient; draws only
  // from `gen`; leaves modes as they were. labels: [B] int64 or undefined. Throws on bad shapes.
  std::vector<at::Tensor> Sample(int levels, const at::Tensor& labels, int64_t batch,
                                 at::Generator gen);

 private:
  at::Tensor ToDevice(const at::Tensor& t) const;  // non-blocking copy (no host wait)

  framecast::CvgConfig config_;
  at::TensorOptions like_;
  uint64_t seed_ = 0;
  bool keyed_ = false;
  std::vector<CvgLevel> levels_;
  std::vector<std::shared_ptr<CvgGenerator>> unrolled_;  // per level, or null
  std::vector<bool> frozen_;
};

}  // namespace fc::models::cvg
