// Fréchet distance between two feature populations (FVD / FID style), in float64.
//
//   FD = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1 S2)^(1/2) )
// with mu the feature means and S the unbiased (N - 1) covariances. The trace of the square root
// is computed without a general matrix square root: S1^(1/2) comes from a symmetric
// eigendecomposition of S1 (eigenvalues clamped at 0); S1^(1/2) S2 S1^(1/2) is symmetric PSD
// with the same eigenvalues as S1 S2, so tr((S1 S2)^(1/2)) = sum of sqrt(max(eig, 0)) of it
// (at::linalg_eigh). This equals scipy.linalg.sqrtm's trace for well-conditioned inputs and stays
// real and stable when N < D (rank-deficient covariances). Results are clamped at >= 0.
#pragma once

#include <ATen/core/Tensor.h>

#include "util/status.h"

namespace fc::eval {

// Mean [D] and covariance [D, D] of a feature set, float64 on CPU.
struct GaussianStats {
  at::Tensor mu;
  at::Tensor sigma;
  int64_t count = 0;
};

// REQUIRES-checked: features is [N, D] floating with N >= 2, D >= 1 and finite values.
Result<GaussianStats> FeatureStats(const at::Tensor& features);

// REQUIRES-checked: equal D.
Result<double> FrechetDistance(const GaussianStats& a, const GaussianStats& b);

// FeatureStats of both sets, then the distance.
Result<double> FrechetDistance(const at::Tensor& features_a, const at::Tensor& features_b);

}  // namespace fc::eval
