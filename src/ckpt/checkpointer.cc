#include "ckpt/checkpointer.h"

#include <chrono>

#include "util/files.h"
#include "util/logging.h"
#include "util/timeline.h"

namespace fc::ckpt {

using framecast::ckpt::Manifest;

Checkpointer::Checkpointer(std::string ckpt_dir, const framecast::CheckpointConfig& config,
                           std::unique_ptr<dist::Communicator> comm)
    : dir_(std::move(ckpt_dir)), config_(config), comm_(std::move(comm)) {}

Checkpointer::~Checkpointer() {
  Status s = Wait();
  if (!s.ok()) LogError("checkpoint: " + s.ToString());
}

bool Checkpointer::ShouldSave(int64_t step, bool stage_end) const {
  if (stage_end) return true;
  return config_.every_steps() > 0 && step % config_.every_steps() == 0;
}

Status Checkpointer::Wait() {
  if (writer_.joinable()) writer_.join();
  Status s = writer_status_;
  writer_status_ = Status::Ok();
  return s;
}

Status Checkpointer::Save(const std::vector<NamedTensor>& replicated,
                          const std::vector<NamedTensor>& local, const Manifest& meta) {
  Status previous = Wait();  // at most one save in flight
  auto t0 = std::chrono::steady_clock::now();
  // Snapshot: host copies taken at the step boundary; training may change the originals after.
  auto snap = [](const std::vector<NamedTensor>& in) {
    std::vector<NamedTensor> out;
    out.reserve(in.size());
    for (const auto& nt : in)
      out.push_back(
          {nt.name, nt.tensor.detach().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true)});
    return out;
  };
  // Replicated tensors: each rank copies only the ones its shard holds (AssignShards, as
  // WriteCheckpoint assigns them); the others are meta tensors of the same dtype and shape (no
  // memory), which WriteCheckpoint reads only for their sizes. Host memory and the pause then
  // shrink with the number of ranks.
  std::vector<int64_t> bytes;
  for (const auto& nt : replicated) bytes.push_back(nt.tensor.numel() * nt.tensor.element_size());
  const std::vector<int> owner = AssignShards(bytes, comm_->size());
  auto rep = std::make_shared<std::vector<NamedTensor>>();
  rep->reserve(replicated.size());
  for (size_t i = 0; i < replicated.size(); ++i) {
    const auto& t = replicated[i].tensor;
    rep->push_back(
        {replicated[i].name, owner[i] == comm_->rank()
                                 ? t.detach().to(at::kCPU, /*non_blocking=*/false, /*copy=*/true)
                                 : at::empty(t.sizes(), t.options().device(at::kMeta))});
  }
  auto loc = std::make_shared<std::vector<NamedTensor>>(snap(local));
  const int64_t snap_end = timeline::Enabled() ? timeline::NowUs() : 0;
  last_pause_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (timeline::Enabled()) {
    const int64_t us = static_cast<int64_t>(last_pause_ms_ * 1000);
    timeline::Record("checkpoint snapshot", "checkpoint", snap_end - us, us, timeline::kMainTrack,
                     meta.global_step());
  }
  auto write = [this, rep, loc, meta](int track) {
    const int64_t w0 = timeline::Enabled() ? timeline::NowUs() : 0;
    Status s = WriteAndRetain(*rep, *loc, meta);
    if (timeline::Enabled())
      timeline::Record("checkpoint write", "checkpoint", w0, timeline::NowUs() - w0, track,
                       meta.global_step());
    return s;
  };
  if (config_.synchronous()) {
    FC_RETURN_IF_ERROR(previous);
    return write(timeline::kMainTrack);
  }
  writer_ = std::thread([this, write] { writer_status_ = write(timeline::kWriterTrack); });
  return previous;
}

Status Checkpointer::WriteAndRetain(const std::vector<NamedTensor>& replicated,
                                    const std::vector<NamedTensor>& local, const Manifest& meta) {
  const std::string step_dir = dir_ + "/" + StepDirName(meta.global_step());
  // A committed directory for this step can only be one that resume rejected (damaged) or one
  // from before a rewind: move it aside (never overwrite a committed step in place).
  if (comm_->rank() == 0 && Exists(step_dir + "/" + kManifestName)) {
    const std::string aside =
        step_dir + ".replaced-" +
        std::to_string(meta.created_unix_ms()
                           ? meta.created_unix_ms()
                           : std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
    if (RenamePath(step_dir, aside).ok())
      LogWarning("checkpoint: moved the earlier " + step_dir + " aside to " + aside);
  }
  FC_RETURN_IF_ERROR(comm_->Barrier());
  Status st = WriteCheckpoint(step_dir, replicated, local, meta, comm_.get());
  if (!st.ok()) return st.WithContext("checkpoint " + step_dir);
  if (comm_->rank() == 0) ApplyRetention();
  return Status::Ok();
}

void Checkpointer::ApplyRetention() {
  auto steps = CommittedSteps(dir_);
  const int keep_last = std::max(2, config_.keep_last());
  for (size_t i = 0; i + keep_last < steps.size(); ++i) {
    const auto& [step, path] = steps[i];
    if (config_.keep_every() > 0 && step % config_.keep_every() == 0) continue;
    // Uncommit first, so a crash mid-delete never leaves a committed, partial step.
    Status rm = RemoveFile(path + "/" + kManifestName);
    if (!rm.ok()) {
      LogWarning("checkpoint retention: " + rm.message());
      continue;
    }
    SyncDir(path).ok();
    RemoveTree(path).ok();
  }
}

Result<std::optional<LoadedCheckpoint>> Checkpointer::FindResume(
    const std::function<Status(const Manifest&)>& compatible,
    const std::function<std::vector<std::string>(const Manifest&)>& wanted,
    const std::function<Status(const LoadedCheckpoint&)>& check) {
  auto steps = CommittedSteps(dir_);
  // Every rank must walk the same list: rank 0's view decides (shared filesystem assumed).
  at::Tensor n = at::tensor({static_cast<int64_t>(steps.size())}, at::kLong);
  FC_RETURN_IF_ERROR(comm_->Broadcast(n, 0)->Wait());
  if (n.item<int64_t>() != static_cast<int64_t>(steps.size())) {
    return Status::InvalidArgument(dir_ +
                                   ": ranks see different checkpoints (the run directory must be "
                                   "on a filesystem every rank shares)");
  }
  std::string first_damage;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    LoadedCheckpoint lc;
    lc.step_dir = it->second;
    Status st;
    auto m = ReadManifest(lc.step_dir);
    if (m.ok()) {
      lc.manifest = m.value();
      FC_RETURN_IF_ERROR(dist::AgreeOnStatus(
          comm_.get(), compatible(lc.manifest).WithContext(lc.step_dir), "cannot resume"));
      auto t = ReadTensors(lc.step_dir, lc.manifest, wanted(lc.manifest));
      if (t.ok()) {
        lc.tensors = std::move(t).value();
        if (check) st = check(lc);
      } else {
        st = t.status();
      }
    } else {
      st = m.status();
    }
    Status all = dist::AgreeOnStatus(comm_.get(), st, "could not read " + lc.step_dir);
    if (all.ok()) return std::optional<LoadedCheckpoint>(std::move(lc));
    LogWarning("checkpoint " + lc.step_dir + " is damaged and will not be used: " + all.message());
    if (first_damage.empty()) first_damage = lc.step_dir + ": " + all.message();
  }
  if (!steps.empty() && !config_.fresh_start_if_all_damaged()) {
    return Status::Corruption(
        dir_ + ": all " + std::to_string(steps.size()) +
        " committed checkpoint(s) are damaged (newest: " + first_damage +
        "); refusing to start again from step 0. Restore the directory, or set "
        "checkpoint.fresh_start_if_all_damaged: true (--set "
        "checkpoint.fresh_start_if_all_damaged=true) to start over");
  }
  return std::optional<LoadedCheckpoint>();
}

}  // namespace fc::ckpt
