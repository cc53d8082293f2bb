// Host allocator tuning for training processes.
//
// A training step frees and re-allocates the same large activation buffers every iteration. With
// glibc's defaults those blocks go back to the OS (heap trimming, dynamic mmap threshold) and every
// step faults the pages in again: on the demo workload that is ~15k page faults and ~40% of a CPU
// step. TuneHostAllocator() keeps freed memory in the process for reuse (mmap threshold 256 MiB,
// trim threshold 1 GiB, top pad 64 MiB), the behaviour of a caching allocator. Call first thing in
// main(). Skipped when the user set any MALLOC_*_ variable or FRAMECAST_MALLOC_DEFAULTS=1.
#pragma once

namespace fc {

// Returns true if the settings were applied.
bool TuneHostAllocator();

}  // namespace fc
