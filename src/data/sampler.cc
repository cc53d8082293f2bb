#include "data/sampler.h"

#include <numeric>
#include <string>

#include "data/rng.h"

namespace fc::data {

std::vector<int64_t> PortablePermutation(int64_t n, uint64_t key) {
  std::vector<int64_t> a(n);
  std::iota(a.begin(), a.end(), int64_t(0));
  CounterRng rng(key);
  for (int64_t i = n - 1; i >= 1; --i) std::swap(a[i], a[rng.UniformInt(0, i)]);
  return a;
}

Result<DistributedSampler> DistributedSampler::Make(const SamplerOptions& o) {
  if (o.dataset_size < 1) return Status::InvalidArgument("sampler: the dataset is empty");
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return Status::InvalidArgument("sampler: rank " + std::to_string(o.rank) + " outside world " +
                                   std::to_string(o.world_size));
  }
  if (o.accumulation < 1) return Status::InvalidArgument("sampler: accumulation must be >= 1");
  const int64_t div = int64_t(o.world_size) * o.accumulation;
  if (o.global_batch < 1 || o.global_batch % div != 0) {
    return Status::InvalidArgument("data.global_batch=" + std::to_string(o.global_batch) +
                                   ": not divisible by ranks (" + std::to_string(o.world_size) +
                                   ") x accumulation (" + std::to_string(o.accumulation) + ")");
  }
  return DistributedSampler(o);
}

DistributedSampler::DistributedSampler(const SamplerOptions& o)
    : o_(o),
      b_(o.global_batch / (int64_t(o.world_size) * o.accumulation)),
      cache_(std::make_shared<Cache>()) {}

int64_t DistributedSampler::steps_per_epoch() const {
  return std::max<int64_t>(1, o_.dataset_size / o_.global_batch);
}

uint64_t DistributedSampler::KeyOf(int64_t epoch, int64_t index) const {
  return HashCombine(HashCombine(o_.seed, static_cast<uint64_t>(epoch)),
                     static_cast<uint64_t>(index));
}

std::shared_ptr<const std::vector<int64_t>> DistributedSampler::Permutation(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(cache_->mu);
  for (int k = 0; k < 2; ++k) {
    if (cache_->epoch[k] == epoch) return cache_->perm[k];
  }
  auto p = std::make_shared<const std::vector<int64_t>>(PortablePermutation(
      o_.dataset_size, HashCombine(o_.seed ^ 0x5eed5eed5eed5eedull, static_cast<uint64_t>(epoch))));
  const int slot = cache_->next;
  cache_->epoch[slot] = epoch;
  cache_->perm[slot] = p;
  cache_->next = 1 - slot;
  return p;
}

int64_t DistributedSampler::Permuted(int64_t epoch, int64_t i) const {
  i %= o_.dataset_size;
  if (!o_.shuffle) return i;
  return (*Permutation(epoch))[i];
}

SampleRef DistributedSampler::At(int64_t position) const {
  SampleRef s;
  s.position = position;
  s.epoch = position / o_.dataset_size;
  s.index = Permuted(s.epoch, position % o_.dataset_size);
  s.key = KeyOf(s.epoch, s.index);
  return s;
}

std::vector<SampleRef> DistributedSampler::Indices(int64_t global_step, int micro) const {
  return Indices(global_step, o_.rank, micro);
}

std::vector<SampleRef> DistributedSampler::Indices(int64_t global_step, int rank, int micro) const {
  std::vector<SampleRef> out;
  out.reserve(b_);
  const int64_t first =
      global_step * o_.global_batch + (int64_t(micro) * o_.world_size + rank) * b_;
  for (int64_t k = 0; k < b_; ++k) out.push_back(At(first + k));
  return out;
}

}  // namespace fc::data
