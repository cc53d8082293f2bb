// DistributedSampler: which dataset examples each rank and micro-batch takes at a global step.
//
// Global sample position p = global_step * global_batch + j, j in [0, global_batch). Rank r's
// micro-batch m (of `accumulation`) takes j in [(m * world + r) * b, (m * world + r + 1) * b) with
// b = global_batch / (world * accumulation). Position p maps to epoch e = p / N and example
// perm_e[p % N], where perm_e is a Fisher-Yates shuffle of 0..N-1 driven by CounterRng keyed by
// (seed, e) (the identity when shuffle is off). Each sample also carries
// key = HashCombine(HashCombine(seed, e), index): the randomness of that example in that epoch
// (its window start, or the Moving-MNIST clip itself).
//
// Consequences: the global sample sequence does not depend on the number of ranks or on the
// accumulation split, every epoch is a fresh permutation visiting each example once, and a resume
// from global_step alone (on any number of ranks) continues the exact sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "util/status.h"

namespace fc::data {

struct SampleRef {
  int64_t index = 0;  // dataset example
  uint64_t key = 0;   // per-(seed, epoch, index) randomness
  int64_t epoch = 0;
  int64_t position = 0;  // global sample position p
};

struct SamplerOptions {
  int64_t dataset_size = 0;  // N (ClipSource::size())
  int64_t global_batch = 0;
  int world_size = 1;
  int rank = 0;
  int accumulation = 1;
  uint64_t seed = 0;
  bool shuffle = true;
};

class DistributedSampler {
 public:
  // Checks N >= 1, global_batch divisible by world_size * accumulation, 0 <= rank < world_size.
  static Result<DistributedSampler> Make(const SamplerOptions& options);

  // This rank's micro-batch `micro` of step `global_step` (b samples, in order).
  std::vector<SampleRef> Indices(int64_t global_step, int micro) const;
  // Any rank's share (the sampler is otherwise rank-independent).
  std::vector<SampleRef> Indices(int64_t global_step, int rank, int micro) const;
  // The sample at global position p.
  SampleRef At(int64_t position) const;
  // Example i of the permutation of `epoch` (perm_epoch[i]); used to replace a corrupt sample by
  // the next entry of its permutation.
  int64_t Permuted(int64_t epoch, int64_t i) const;
  uint64_t KeyOf(int64_t epoch, int64_t index) const;

  const SamplerOptions& options() const { return o_; }
  int64_t micro_batch() const { return b_; }  // b
  int64_t steps_per_epoch() const;            // floor(N / global_batch), at least 1

 private:
  explicit DistributedSampler(const SamplerOptions& o);
  std::shared_ptr<const std::vector<int64_t>> Permutation(int64_t epoch) const;
  SamplerOptions o_;
  int64_t b_ = 0;
  // The last two permutations (a step can straddle an epoch boundary); shared by copies.
  struct Cache {
    std::mutex mu;
    int64_t epoch[2] = {-1, -1};
    std::shared_ptr<const std::vector<int64_t>> perm[2];
    int next = 0;
  };
  std::shared_ptr<Cache> cache_;
};

// A portable Fisher-Yates permutation of 0..n-1 keyed by `key` (CounterRng; identical on every
// toolchain): for i = n-1 down to 1, swap(a[i], a[UniformInt(0, i)]).
std::vector<int64_t> PortablePermutation(int64_t n, uint64_t key);

}  // namespace fc::data
