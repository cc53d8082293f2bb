// Stochastic Moving MNIST (SM-MNIST): digits bouncing on a black canvas, generated on the fly.
//
// A clip is a pure function of (seed, index): digit slot n draws from its own CounterRng keyed by
// HashCombine(HashCombine(seed, index), n), so clips are identical on every toolchain, thread and
// rank count, and a longer clip of the same (seed, index) extends a shorter one frame for frame.
// Draw order per slot: its digit id, x, y, dx, dy, then the draws of its bounces in frame order.
//
// Conventions (MovingMnistData.Convention; see src/data/README.md "Moving MNIST"):
//   SVG            Denton & Fergus 2018 (edenton/svg data/moving_mnist.py). Digits resized to
//                  digit_size (default 32) with PIL's bilinear filter (8-bit fixed point,
//                  horizontal pass then vertical, each rounded to uint8, as torchvision Scale did).
//                  Start position uniform integer in [0, L - 1] per axis, L = image_size -
//                  digit_size; velocity uniform integer in [-max_speed, max_speed] per axis. Per
//                  frame: vertical check (y < 0: y = 0, dy from [1, m], dx from [-m, m]; y >= L: y
//                  = L - 1, dy from [-m, -1], dx from [-m, m]), then horizontal check (same with
//                  x/dx and a new dy), draw (add), move. Sum clipped to 255 (= 1 in float).
//   SRVP           Franceschi et al. 2020 (edouardelasalles/srvp data/mmnist.py). Native 28-px
//                  digits (digit_size must equal the glyph size). Start position uniform integer
//                  in [0, L] per axis; velocity uniform in [-m, m]. Per frame: resolve collisions
//                  of the exact (real) position with exact sub-step reflection (go back to the
//                  border crossing, draw both velocity components anew from [-m, m], force the
//                  normal component away from the wall, spend the rest of the step; repeat while
//                  outside, tolerance 1e-8), draw at the position rounded half-to-even, move.
//   DETERMINISTIC  the SVG geometry with each velocity component negated at its wall (no draws).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "data/rng.h"
#include "proto/data.pb.h"
#include "util/status.h"

namespace fc::data {

struct MovingMnistOptions {
  framecast::MovingMnistData::Convention convention = framecast::MovingMnistData::SVG;
  int num_digits = 2;
  int image_size = 64;
  int digit_size = 32;
  int max_speed = 4;
};

// The latent trajectory of one digit slot of a clip, one entry per frame.
struct DigitTrack {
  int64_t digit = 0;             // index into the digit set
  int64_t label = -1;            // its class (-1 without a label file)
  std::vector<int> x, y;         // top-left corner where the digit is drawn in frame t
  std::vector<double> fx, fy;    // exact position (SRVP; equals x, y for the other conventions)
  std::vector<int> dx, dy;       // velocity applied after drawing frame t
  std::vector<uint8_t> bounced;  // frame t resolved a wall contact before drawing
};

class MovingMnist {
 public:
  // digits: uint8 [N, h, w] glyphs (MNIST: 28x28); labels: uint8/int64 [N] or undefined.
  // Validates the options against the glyphs (SRVP needs digit_size == glyph size; the digit
  // must fit the canvas); errors name the MovingMnistData field.
  static Result<MovingMnist> Create(at::Tensor digits, at::Tensor labels,
                                    const MovingMnistOptions& options);

  // Frames uint8 [length, 1, image_size, image_size] of clip (seed, index); fills `trajectory`
  // (one DigitTrack per digit slot) when given. Thread-safe (const, no shared mutable state).
  at::Tensor Generate(uint64_t seed, int64_t index, int64_t length,
                      std::vector<DigitTrack>* trajectory = nullptr) const;

  const MovingMnistOptions& options() const { return options_; }
  int64_t num_glyphs() const { return digits_.size(0); }
  // The glyph `i` as drawn (resized for SVG / DETERMINISTIC): uint8 [digit_size, digit_size].
  at::Tensor Sprite(int64_t i) const;

 private:
  MovingMnist() = default;
  void TrackSvg(CounterRng& rng, int64_t length, DigitTrack* track) const;
  void TrackSrvp(CounterRng& rng, int64_t length, DigitTrack* track) const;
  at::Tensor digits_;  // uint8 [N, h, w], contiguous
  at::Tensor labels_;  // int64 [N] or undefined
  MovingMnistOptions options_;
};

// PIL's 8-bit bilinear resize (Image.resize(..., BILINEAR), as torchvision's Resize/Scale on a PIL
// image): separable triangle filter with support scaled for downsampling, weights in 22-bit fixed
// point, horizontal pass then vertical, each rounded to uint8. src: uint8 [h, w].
at::Tensor ResizeBilinearPil(const at::Tensor& src, int64_t out_h, int64_t out_w);

}  // namespace fc::data
