#include "eval/likelihood.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

#include "util/torch_status.h"

namespace fc::eval {

Result<ElboResult> HeldOutElbo(const std::string& method, const ElboFn& elbo,
                               const at::Tensor& local_clips, int64_t first_index, int64_t context,
                               int64_t batch, dist::Communicator* comm) {
  const std::string what = method + " held-out ELBO";
  Status local;
  if (local_clips.dim() != 5 || local_clips.size(1) <= context || context < 0 || batch < 1) {
    local = Status::InvalidArgument(what + ": clips must be [n, D + T, C, H, W] with D >= 0, T >= 1"
                                           " and batch >= 1");
  }
  // Sums over this rank's sequences: nll, kl, elbo, elbo^2, count (float64).
  double sums[5] = {0, 0, 0, 0, 0};
  if (local.ok()) {
    const int64_t n = local_clips.size(0);
    for (int64_t b0 = 0; b0 < n && local.ok(); b0 += batch) {
      const int64_t b = std::min(batch, n - b0);
      at::Tensor part;
      local = TryTorch([&] {
        part = local_clips.narrow(0, b0, b);
        part = part.scalar_type() == at::kByte ? part.to(at::kFloat) / 255.0 : part;
      });
      if (!local.ok()) break;
      Result<at::Tensor> r = elbo(part, first_index + b0);
      if (!r.ok()) {
        local = r.status();
        break;
      }
      at::Tensor v = r.value();
      if (v.dim() != 2 || v.size(0) != b || v.size(1) != 2) {
        local = Status::Internal(what + ": the model returned " + std::to_string(v.dim()) +
                                 "-d values, expected [" + std::to_string(b) + ", 2]");
        break;
      }
      v = v.to(at::kCPU, at::kDouble).contiguous();
      const double* p = v.data_ptr<double>();
      for (int64_t i = 0; i < b; ++i) {
        const double nll = p[2 * i], kl = p[2 * i + 1];
        if (!std::isfinite(nll) || !std::isfinite(kl)) {
          local = Status::Internal(what + ": non-finite value for sequence " +
                                   std::to_string(first_index + b0 + i));
          break;
        }
        sums[0] += nll, sums[1] += kl, sums[2] += nll + kl, sums[3] += (nll + kl) * (nll + kl);
        sums[4] += 1;
      }
    }
  }
  if (comm) FC_RETURN_IF_ERROR(dist::AgreeOnStatus(comm, local, what));
  else FC_RETURN_IF_ERROR(local);
  at::Tensor t = at::tensor(at::ArrayRef<double>(sums, 5), at::kDouble);
  if (comm) FC_RETURN_IF_ERROR(comm->AllReduce(t, dist::ReduceOp::kSum)->Wait());
  const double* s = t.data_ptr<double>();
  ElboResult r;
  r.method = method;
  r.sequences = static_cast<int64_t>(s[4]);
  if (r.sequences == 0) return Status::InvalidArgument(what + ": no held-out sequences");
  r.horizon = local_clips.size(1) - context;
  r.dims_per_video = r.horizon * local_clips.size(2) * local_clips.size(3) * local_clips.size(4);
  const double n = s[4];
  r.nll = s[0] / n, r.kl = s[1] / n, r.neg_elbo = s[2] / n;
  r.neg_elbo_std = std::sqrt(std::max(0.0, s[3] / n - r.neg_elbo * r.neg_elbo));
  r.bits_per_dim = r.neg_elbo / (static_cast<double>(r.dims_per_video) * std::log(2.0));
  return r;
}

std::string FormatElbo(const ElboResult& r) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "%s held-out -ELBO: %.1f ± %.1f nats/video (NLL %.1f + KL %.2f), %.4f bits/dim "
                "over %lld sequences x %lld frames",
                r.method.c_str(), r.neg_elbo, r.neg_elbo_std, r.nll, r.kl, r.bits_per_dim,
                static_cast<long long>(r.sequences), static_cast<long long>(r.horizon));
  return std::string(buf) + (r.note.empty() ? "" : "; " + r.note);
}

}  // namespace fc::eval
