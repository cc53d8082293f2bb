#include "data/loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "util/logging.h"

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

}  // namespace fc::data
