// The hinge ("geometric") loss of CVG (spec 1.5): the scores of all of a level's discriminators
// are concatenated per sample (CvgDiscriminators returns them so, [B, L]) and the loss is the mean
// over samples and score entries.
//   L_D = mean(relu(1 - s_real)) + mean(relu(1 + s_fake))
//   L_G = -mean(s_fake)
// Scalar results; averaging over ranks (GradientSync) gives the global-batch loss for equal
// per-rank batches.
#pragma once

#include <ATen/ATen.h>

namespace fc::models::cvg {

// Scores of reduced precision (bf16 autocast) are reduced in fp32.
inline at::Tensor FullPrecisionScores(const at::Tensor& s) {
  return at::isReducedFloatingType(s.scalar_type()) ? s.to(at::kFloat) : s;
}

inline at::Tensor HingeDiscriminatorLoss(const at::Tensor& real_scores,
                                         const at::Tensor& fake_scores) {
  return at::relu(1 - FullPrecisionScores(real_scores)).mean() +
         at::relu(1 + FullPrecisionScores(fake_scores)).mean();
}

inline at::Tensor HingeGeneratorLoss(const at::Tensor& fake_scores) {
  return -FullPrecisionScores(fake_scores).mean();
}

}  // namespace fc::models::cvg
