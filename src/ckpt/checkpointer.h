// Checkpointer: when to save, saving in the background, retention, and finding where to resume.
//
// Save() snapshots the given tensors to host memory on the calling (training) thread, at a step
// boundary, then a background thread writes and commits the step (WriteCheckpoint) while training
// goes on. At most one save is in flight: a new Save() first waits for the previous one. Wait()
// (and the destructor) waits for the save in flight and returns its status. The background thread
// uses its own communicator (its own MPI communicator), so its collectives never interleave with
// the training thread's.
//
// Retention (rank 0, after each commit): keep the newest `keep_last` committed steps and every
// step divisible by `keep_every`; older steps are uncommitted (manifest removed first) and deleted.
//
// Resume: FindResume() walks the committed steps from the newest, reads each one completely into
// host memory with every checksum verified, and agrees with all ranks; a damaged step is reported
// (file, tensor, offset) and the previous one is tried. Nothing is loaded into a model until a
// whole step has verified.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "ckpt/checkpoint.h"
#include "proto/config.pb.h"

namespace fc::ckpt {

struct LoadedCheckpoint {
  std::string step_dir;
  framecast::ckpt::Manifest manifest;
  std::map<std::string, at::Tensor> tensors;  // on the host, verified
};

class Checkpointer {
 public:
  // `ckpt_dir`: the run's checkpoints/ directory. `comm`: a communicator reserved for checkpoints.
  Checkpointer(std::string ckpt_dir, const framecast::CheckpointConfig& config,
               std::unique_ptr<dist::Communicator> comm);
  ~Checkpointer();

  // Whether global step `step` (completed) is saved: every `every_steps`, and at stage ends.
  bool ShouldSave(int64_t step, bool stage_end) const;

  // Collective. Snapshots now, writes in the background (or before returning, if synchronous).
  // Returns the status of the *previous* save (which it waited for) or of this one if synchronous.
  Status Save(const std::vector<NamedTensor>& replicated, const std::vector<NamedTensor>& local,
              const framecast::ckpt::Manifest& meta);
  Status Wait();

  // Collective. The newest committed step that reads back intact on every rank, with the tensors
  // named by `wanted(manifest)` loaded on this rank; nullopt when there is no committed step.
  // When there are committed steps but every one is damaged: DataLoss naming the newest's damage,
  // unless checkpoint.fresh_start_if_all_damaged (then nullopt). A step whose
  // manifest `compatible` rejects (another run, another model) is an error, not damage: the run
  // directory belongs to something else, and nothing is loaded.
  // `check` (optional) runs on every rank once a step's tensors are read: a step it refuses on any
  // rank (tensors that verify but do not fit their roles: dtype, shape, missing optimizer state)
  // counts as damage like a failed CRC, and the previous step is tried.
  Result<std::optional<LoadedCheckpoint>> FindResume(
      const std::function<Status(const framecast::ckpt::Manifest&)>& compatible,
      const std::function<std::vector<std::string>(const framecast::ckpt::Manifest&)>& wanted,
      const std::function<Status(const LoadedCheckpoint&)>& check = {});

  const std::string& dir() const { return dir_; }
  // Milliseconds the last Save() held the training thread (the snapshot).
  double last_pause_ms() const { return last_pause_ms_; }

 private:
  Status WriteAndRetain(const std::vector<NamedTensor>& replicated,
                        const std::vector<NamedTensor>& local,
                        const framecast::ckpt::Manifest& meta);
  void ApplyRetention();

  std::string dir_;
  framecast::CheckpointConfig config_;
  std::unique_ptr<dist::Communicator> comm_;
  std::thread writer_;
  Status writer_status_;
  double last_pause_ms_ = 0;
};

}  // namespace fc::ckpt
