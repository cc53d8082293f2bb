// GradientSync: framecast's DistributedDataParallel for one independently optimised network.
//
// Construction (collective over `comm`):
//   1. checks that every rank has the same parameters (names, dtypes, shapes, in order); otherwise
//      every rank gets InvalidArgument naming the first mismatch and the ranks that differ;
//   2. broadcasts parameters and buffers from rank 0, so all replicas start identical;
//   3. packs the trainable parameters into buckets: parameters in reverse registration order (the
//      order backward produces gradients), grouped by dtype and device, the first bucket capped at
//      `first_bucket_bytes` (1 MiB) and the rest at `bucket_bytes` (25 MiB). The order is the same
//      on every rank. Each parameter's .grad becomes a view into its bucket's flat buffer, so
//      autograd accumulates straight into the buffer and nothing is copied in the common case;
//   4. registers a post-accumulation hook on every parameter's AccumulateGrad node.
//
// Per synchronised backward (the hot path):
//   - when a parameter's gradient is accumulated, its hook marks it ready (copying into the bucket
//     view only if .grad is not the view, e.g. after zero_grad(set_to_none));
//   - when a bucket is complete it is all-reduced (average) at once, strictly in bucket order, so
//     communication overlaps the rest of the backward pass;
//   - at the end of backward (an autograd engine callback) parameters that got no gradient on this
//     rank contribute what their .grad holds, or zeros; the remaining buckets are launched in
//     order, every bucket is waited for, and each .grad is the cross-rank average. Every rank
//     launches every bucket exactly once per synchronised backward, so an unused parameter never
//     hangs.
//
// Cost per step: one all-reduce per bucket, bytes on the wire per rank for a ring of P ranks:
// 2 (P-1)/P * total gradient bytes; no extra copies when .grad stays the bucket view.
//
// Gradient accumulation: inside a NoSync() scope, backward accumulates locally and no collective
// runs. The first backward outside the scope synchronises the accumulated sum.
//
// REQUIRES: on every rank, the same sequence of synchronised backward passes for this network, and
// at most one backward per synchronisation (use NoSync for accumulation). Not thread-safe across
// concurrent backward passes of the same network.
// Ownership: the module and the communicator must outlive the GradientSync; destruction removes
// the hooks.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace fc::dist {

struct GradientSyncOptions {
  int64_t first_bucket_bytes = int64_t{1} << 20;  // small first bucket: the last grads of backward
  int64_t bucket_bytes = int64_t{25} << 20;
  bool broadcast_initial_state = true;  // rank 0's parameters and buffers to every rank
  // Gradient compression on the wire (DDP's bf16 compression hook): fp32 buckets are cast to this
  // dtype for the all-reduce and the average is cast back into the fp32 bucket (half the bytes;
  // the sum over ranks is rounded in bf16). kFloat: no compression. With error_feedback, each
  // rank keeps what the cast dropped (fp32 minus its bf16 rounding) and adds it to the next step's
  // bucket before casting, so the rounding errors do not accumulate over steps.
  at::ScalarType wire_dtype = at::kFloat;
  bool error_feedback = false;
};

class GradientSync {
 public:
  // Collective over `comm`. `name` appears in errors ("generator", "discriminator").
  static Result<std::unique_ptr<GradientSync>> Create(torch::nn::Module& module, Communicator* comm,
                                                      const GradientSyncOptions& options,
                                                      const std::string& name);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // While alive, backward passes accumulate gradients locally with no communication.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(GradientSync* s) : s_(s), prev_(s->enabled_) { s_->enabled_ = false; }
    ~NoSyncGuard() { s_->enabled_ = prev_; }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    GradientSync* s_;
    bool prev_;
  };
  NoSyncGuard NoSync() { return NoSyncGuard(this); }

  // Call after each synchronised backward: returns the status of that step's collectives. If no
  // parameter of this network received a gradient on this rank in the backward (so the end-of-
  // backward callback never ran), this synchronises now, so ranks never wait on each other.
  Status Finish();

  // Launches every bucket from the current .grad values and waits: what the end of a backward
  // does, callable directly (used by Finish() and the all-reduce benchmark).
  Status SyncNow();

  // Zeroes every gradient (one fill per bucket) and keeps .grad the bucket views. Use instead of
  // the optimizer's zero_grad, whose set_to_none=false path detaches views in place (an error);
  // zero_grad(set_to_none=true) also works but costs one copy per parameter in the next backward.
  void ZeroGrad();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  int64_t bucket_bytes(int i) const;
  int64_t total_bytes() const;
  const std::string& name() const { return name_; }

 private:
  struct Param {
    std::string name;
    at::Tensor tensor;  // the parameter
    at::Tensor view;    // its gradient's place in the bucket buffer
    int bucket = 0;
    bool ready = false;
  };
  struct Bucket {
    at::Tensor buffer;        // flat, one dtype/device
    at::Tensor wire;          // compressed copy all-reduced instead of `buffer` (wire_dtype)
    at::Tensor residual;      // error feedback: what the last cast to `wire` dropped (fp32)
    std::vector<int> params;  // indices into params_
    int pending = 0;
    std::unique_ptr<Work> work;
    int64_t launch_us = 0;  // logging.timeline: when `work` was launched
  };
  class Hook;

  GradientSync() = default;
  Status VerifyAcrossRanks(const std::vector<std::pair<std::string, at::Tensor>>& params);
  Status BroadcastState(torch::nn::Module& module);
  void BuildBuckets(const GradientSyncOptions& options);
  void OnGradReady(int index);  // from the hook, on an autograd thread
  bool Compressed(const Bucket& b) const;
  GradientSyncOptions options_;
  void LaunchReadyBuckets();  // REQUIRES: mu_ held
  Status FinalizeBackward();  // end of backward: launch the rest, wait, reset

  Communicator* comm_ = nullptr;
  std::string name_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // keep the hook nodes alive
  std::vector<uintptr_t> hook_keys_;
  bool enabled_ = true;

  std::mutex mu_;
  int next_bucket_ = 0;                  // GUARDED_BY(mu_): buckets launch strictly in order
  bool in_backward_ = false;             // GUARDED_BY(mu_): a hook fired since the last finalize
  bool finalized_since_finish_ = false;  // GUARDED_BY(mu_)
  Status last_status_;                   // GUARDED_BY(mu_)
};

}  // namespace fc::dist
