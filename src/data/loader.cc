#include "data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "util/logging.h"

#ifdef FRAMECAST_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fc::data {

Loader::Loader(std::shared_ptr<const ClipSource> source, DistributedSampler sampler,
               LoaderOptions options)
    : source_(std::move(source)), sampler_(std::move(sampler)), options_(options) {
  options_.threads = std::max(1, options_.threads);
  options_.prefetch = std::max(1, options_.prefetch);
}

Loader::~Loader() { StopWorkers(); }

void Loader::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Loader::Start(int64_t first_global_step) {
  StopWorkers();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_.clear();
    first_step_ = first_global_step;
    next_ticket_ = consume_ticket_ = 0;
    stop_ = false;
    started_ = true;
  }
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void Loader::WorkerLoop() {
  const int acc = sampler_.options().accumulation;
  while (true) {
    int64_t ticket;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || next_ticket_ < consume_ticket_ + options_.prefetch; });
      if (stop_) return;
      ticket = next_ticket_++;
    }
    Result<Batch> b = Build(first_step_ + ticket / acc, static_cast<int>(ticket % acc));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      ready_.emplace(ticket, std::move(b));
    }
    cv_.notify_all();
  }
}

Result<Batch> Loader::Next() {
  if (!started_) Start(0);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ready_.count(consume_ticket_) > 0; });
  auto it = ready_.find(consume_ticket_);
  Result<Batch> b = std::move(it->second);
  ready_.erase(it);
  ++consume_ticket_;
  if (b.ok()) skipped_.fetch_add(b.value().skipped);
  lock.unlock();
  cv_.notify_all();
  return b;
}

namespace {
bool IsCorrupt(const Status& s) {
  return s.code() == Status::Code::kCorruption || s.code() == Status::Code::kIoError ||
         s.code() == Status::Code::kNotFound;
}
}  // namespace

Result<Batch> Loader::Build(int64_t global_step, int micro) const {
  const std::vector<SampleRef> refs = sampler_.Indices(global_step, micro);
  const int64_t n = sampler_.options().dataset_size;
  Batch batch;
  batch.global_step = global_step;
  batch.micro = micro;
  std::vector<at::Tensor> frames;
  std::vector<int64_t> labels;
  for (size_t j = 0; j < refs.size(); ++j) {
    const SampleRef& ref = refs[j];
    int64_t index = ref.index;
    uint64_t key = ref.key;
    Result<Clip> clip = source_->Get(index, key);
    const int64_t max_tries = std::min<int64_t>(n, 256);
    for (int64_t k = 1; !clip.ok() && options_.skip_corrupt && IsCorrupt(clip.status()); ++k) {
      ++batch.skipped;
      LogWarning("data: skipping corrupt clip (example " + std::to_string(index) + " of " +
                 source_->Describe() + "): " + clip.status().message());
      if (k >= max_tries) {
        return Status::Corruption("data: " + std::to_string(k) + " corrupt clips in a row in " +
                                  source_->Describe() + "; last: " + clip.status().message());
      }
      index = sampler_.Permuted(ref.epoch, ref.position % n + k);
      key = sampler_.KeyOf(ref.epoch, index);
      clip = source_->Get(index, key);
    }
    if (!clip.ok()) {
      return clip.status().WithContext("step " + std::to_string(global_step) + " micro-batch " +
                                       std::to_string(micro) + " example " + std::to_string(index));
    }
    if (!frames.empty() && !frames[0].sizes().equals(clip.value().frames.sizes())) {
      return Status::InvalidArgument(
          source_->Describe() + ": example " + std::to_string(index) +
          " has a different clip shape than example " + std::to_string(batch.indices[0]) +
          " of the same batch (variable-length test sequences need a clip length)");
    }
    frames.push_back(clip.value().frames);
    labels.push_back(clip.value().label);
    batch.indices.push_back(index);
  }
  at::Tensor stacked = at::stack(frames);  // uint8 [B, T, C, H, W]
  if (options_.pin_memory && at::globalContext().hasCUDA()) {
    batch.frames =
        at::empty(stacked.sizes(), at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
    batch.frames.copy_(stacked);
    batch.frames.div_(255.0);
  } else {
    batch.frames = stacked.to(at::kFloat).div_(255.0);
  }
  batch.labels = at::tensor(labels, at::kLong);
  return batch;
}

// ---- DevicePrefetcher -------------------------------------------------------------------------

struct DevicePrefetcher::Pending {
  Result<Batch> batch = Status::Internal("unset");
#ifdef FRAMECAST_WITH_CUDA
  std::unique_ptr<at::cuda::CUDAEvent> ready;  // recorded on the side stream after the copy
#endif
};

DevicePrefetcher::DevicePrefetcher(Loader* loader, at::Device device, int depth)
    : loader_(loader), device_(device), depth_(device.is_cuda() ? std::max(0, depth) : 0) {
#ifdef FRAMECAST_WITH_CUDA
  if (depth_ > 0) {
    stream_ = std::make_shared<c10::cuda::CUDAStream>(
        c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_.index()));
  }
#else
  depth_ = 0;
#endif
}

DevicePrefetcher::~DevicePrefetcher() = default;

void DevicePrefetcher::Start(int64_t first_global_step) {
  // Copies still in flight only write memory that belongs to the side stream's pool.
  queue_.clear();
  loader_->Start(first_global_step);
}

void DevicePrefetcher::Issue() {
  auto p = std::make_unique<Pending>();
  p->batch = loader_->Next();
#ifdef FRAMECAST_WITH_CUDA
  if (p->batch.ok()) {
    auto& stream = *static_cast<c10::cuda::CUDAStream*>(stream_.get());
    c10::cuda::CUDAStreamGuard guard(stream);  // allocation and copy on the side stream
    Batch& b = p->batch.value();
    b.frames = b.frames.to(device_, /*non_blocking=*/true);
    p->ready = std::make_unique<at::cuda::CUDAEvent>();
    p->ready->record(stream);
  }
#endif
  queue_.push_back(std::move(p));
}

Result<Batch> DevicePrefetcher::Next() {
  if (depth_ == 0) return loader_->Next();
  if (queue_.empty()) Issue();
  std::unique_ptr<Pending> p = std::move(queue_.front());
  queue_.erase(queue_.begin());
  // The next `depth` batches' copies start now, behind this one on the side stream.
  while (static_cast<int>(queue_.size()) < depth_) Issue();
#ifdef FRAMECAST_WITH_CUDA
  if (p->batch.ok()) {
    c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device_.index());
    p->ready->block(compute);
    p->batch.value().frames.record_stream(compute);
  }
#endif
  return std::move(p->batch);
}

Result<Batch> NextTrainingBatch(DevicePrefetcher* prefetcher, Loader* loader, const Batch& fixed,
                                int64_t global_step, int64_t micro) {
  if (prefetcher) return prefetcher->Next();
  if (loader) return loader->Next();
  Batch batch = fixed;
  batch.global_step = global_step;
  batch.micro = static_cast<int>(micro);
  return batch;
}

}  // namespace fc::data
