#include "eval/frechet.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <string>

namespace fc::eval {
namespace {

// sqrt of symmetric-PSD eigenvalues; those below the rounding level (|l|max * D * eps, as
// numpy's matrix_rank) are zero, so rank-deficient covariances (N <= D) add no sqrt(noise).
at::Tensor RoundedRoots(const at::Tensor& eigenvalues) {
  const double tol = eigenvalues.abs().max().item<double>() *
                     static_cast<double>(eigenvalues.numel()) *
                     std::numeric_limits<double>::epsilon();
  return at::where(eigenvalues > tol, eigenvalues, at::zeros_like(eigenvalues)).sqrt();
}

}  // namespace

Result<GaussianStats> FeatureStats(const at::Tensor& features) {
  if (!features.defined() || features.dim() != 2 || !at::isFloatingType(features.scalar_type())) {
    return Status::InvalidArgument("frechet: features must be a floating [N, D] tensor");
  }
  const int64_t n = features.size(0), d = features.size(1);
  if (n < 2 || d < 1) {
    return Status::InvalidArgument(
        "frechet: need at least 2 feature vectors of dimension >= 1, got [" + std::to_string(n) +
        ", " + std::to_string(d) + "]");
  }
  at::Tensor f = features.detach().to(at::kCPU, at::kDouble);
  if (!at::isfinite(f).all().item<bool>()) {
    return Status::InvalidArgument("frechet: features contain NaN or Inf");
  }
  GaussianStats s;
  s.count = n;
  s.mu = f.mean(0);
  at::Tensor c = f - s.mu;
  s.sigma = at::matmul(c.t(), c) / static_cast<double>(n - 1);
  return s;
}

Result<double> FrechetDistance(const GaussianStats& a, const GaussianStats& b) {
  if (!a.mu.defined() || !b.mu.defined() || a.mu.numel() != b.mu.numel()) {
    return Status::InvalidArgument("frechet: feature dimensions differ or statistics are empty");
  }
  at::Tensor s1 = a.sigma.to(at::kDouble), s2 = b.sigma.to(at::kDouble);
  // S1^(1/2) = V diag(sqrt(max(l, 0))) V^T.
  auto [l1, v1] = at::linalg_eigh(0.5 * (s1 + s1.t()));
  at::Tensor root1 = at::matmul(v1 * RoundedRoots(l1).unsqueeze(0), v1.t());
  at::Tensor m = at::matmul(at::matmul(root1, s2), root1);
  const double tr_sqrt = RoundedRoots(at::linalg_eigvalsh(0.5 * (m + m.t()))).sum().item<double>();
  const double mean_term =
      (a.mu.to(at::kDouble) - b.mu.to(at::kDouble)).pow(2).sum().item<double>();
  const double fd =
      mean_term + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * tr_sqrt;
  return std::max(fd, 0.0);
}

Result<double> FrechetDistance(const at::Tensor& features_a, const at::Tensor& features_b) {
  FC_ASSIGN_OR_RETURN(GaussianStats a, FeatureStats(features_a));
  FC_ASSIGN_OR_RETURN(GaussianStats b, FeatureStats(features_b));
  return FrechetDistance(a, b);
}

}  // namespace fc::eval
