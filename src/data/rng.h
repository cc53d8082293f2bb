// Counter-based random numbers: every draw is a pure function of (key, counter).
//
// Clips, permutations and sample keys must be identical on every toolchain, rank count and thread
// schedule, so framecast never uses std::*_distribution or std::shuffle for data. The generator is
// splitmix64's output function applied to key + n * golden ratio (draw n of stream `key`); keys
// are derived with HashCombine. UniformInt uses rejection sampling (no modulo bias).
#pragma once

#include <cstdint>

namespace fc::data {

// splitmix64's finaliser: a bijective 64-bit mix.
inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// An order-sensitive hash of two words, e.g. HashCombine(HashCombine(seed, epoch), index).
inline uint64_t HashCombine(uint64_t a, uint64_t b) {
  return Mix64(Mix64(a + 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull));
}

class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(Mix64(key ^ 0xd1b54a32d192ed03ull)) {}
  // Draw n = counter(), then counter() + 1.
  uint64_t Next() { return Mix64(key_ + (++counter_) * 0x9e3779b97f4a7c15ull); }
  // Uniform integer in [lo, hi] (inclusive). REQUIRES: lo <= hi.
  int64_t UniformInt(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    if (range == 0) return static_cast<int64_t>(Next());  // the full 64-bit range
    const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + x % range);
  }
  // Uniform double in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  uint64_t counter() const { return counter_; }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace fc::data
