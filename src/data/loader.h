// Loader: this rank's micro-batches, decoded ahead by worker threads and delivered in order.
//
// Micro-batch tickets run (first_step, micro 0), ..., (first_step, accumulation - 1),
// (first_step + 1, 0), ...; Next() returns them strictly in that order whatever the thread
// schedule. Up to `prefetch` (>= 1) micro-batches are decoded ahead; each worker builds whole
// micro-batches. The content of a batch depends only on (source, sampler, step, micro), never on
// threads or timing.
//
// A clip whose Get fails with Corruption, IoError or NotFound either stops the loader (Next()
// returns that error, which names the file) or, with skip_corrupt, is replaced by the next
// example of its epoch's permutation (perm[p % N + 1], + 2, ...), counted in skipped() and logged
// with the error (naming the file). Other errors always stop.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/sampler.h"
#include "data/sources.h"
#include "util/status.h"

namespace fc::data {

struct Batch {
  at::Tensor frames;  // float [B, T, C, H, W] in [0, 1]; pinned when pin_memory (and CUDA exists)
  at::Tensor labels;  // int64 [B] (-1: unlabelled)
  int64_t global_step = 0;
  int micro = 0;
  std::vector<int64_t> indices;  // the examples used (after corrupt-clip replacement)
  int64_t skipped = 0;           // corrupt clips replaced in this micro-batch
};

struct LoaderOptions {
  int threads = 2;
  int prefetch = 2;
  bool skip_corrupt = false;
  bool pin_memory = false;
};

class Loader {
 public:
  Loader(std::shared_ptr<const ClipSource> source, DistributedSampler sampler,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // (Re)positions at (first_global_step, micro 0): stops the workers, drops what they decoded and
  // starts again. Call again after a resume.
  void Start(int64_t first_global_step);
  // The next micro-batch in order (Start(0) first if Start was never called).
  Result<Batch> Next();
  // Corrupt clips skipped in the micro-batches Next() has returned (batches decoded ahead are
  // counted when delivered, so the count is deterministic).
  int64_t skipped() const { return skipped_.load(); }

  // One micro-batch built synchronously (what a worker does for its ticket).
  Result<Batch> Build(int64_t global_step, int micro) const;

 private:
  void StopWorkers();
  void WorkerLoop();

  std::shared_ptr<const ClipSource> source_;
  DistributedSampler sampler_;
  LoaderOptions options_;
  std::atomic<int64_t> skipped_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Result<Batch>> ready_;
  int64_t first_step_ = 0;
  int64_t next_ticket_ = 0;     // the next ticket a worker takes
  int64_t consume_ticket_ = 0;  // the ticket Next() returns next
  bool stop_ = false;
  bool started_ = false;
  std::vector<std::thread> workers_;
};

// DevicePrefetcher: a Loader's micro-batches with their frames already on a CUDA device. The
// host-to-device copy of each (pinned) batch is issued `depth` micro-batches ahead on a side CUDA
// stream; Next() makes the caller's current stream wait on an event recorded after the copy and
// marks the frames as used on that stream (record_stream), so the copy overlaps the previous
// step's compute and the memory is never reused early. Labels stay on the CPU (the training steps
// check them there and copy them without a host synchronisation). A CPU device or depth 0: Next()
// is the loader's Next(). Batches are the loader's, in the loader's order; errors are returned in
// order. The loader must outlive the prefetcher and be driven only through it.
class DevicePrefetcher {
 public:
  DevicePrefetcher(Loader* loader, at::Device device, int depth);
  ~DevicePrefetcher();
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  // Loader::Start, dropping what was copied ahead.
  void Start(int64_t first_global_step);
  Result<Batch> Next();
  int depth() const { return depth_; }

 private:
  struct Pending;
  void Issue();  // takes the loader's next batch and starts its copy

  Loader* loader_;
  at::Device device_;
  int depth_;
  std::vector<std::unique_ptr<Pending>> queue_;  // oldest first
  std::shared_ptr<void> stream_;                 // the side stream (CUDA builds)
};

// A trainer's next micro-batch: from `prefetcher` when there is one, else from `loader`, else
// (neither: a benchmark with no data source) a copy of `fixed` stamped with `global_step` and
// `micro`; its tensors are shared, not copied.
Result<Batch> NextTrainingBatch(DevicePrefetcher* prefetcher, Loader* loader, const Batch& fixed,
                                int64_t global_step, int64_t micro);

}  // namespace fc::data
