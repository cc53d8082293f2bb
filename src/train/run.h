// A training run described by a RunConfig: the trainer, the checkpointer, resume, and the short
// loop over stages and steps. `framecast train` is a thin wrapper around RunTraining.
#pragma once

#include <string>
#include <vector>

#include "ckpt/checkpointer.h"
#include "dist/world.h"
#include "proto/config.pb.h"
#include "train/demo.h"
#include "train/faults.h"
#include "train/schedule.h"
#include "train/state.h"
#include "train/trainer.h"

namespace fc::train {

struct RunResult {
  bool resumed = false;
  std::string resumed_from;         // step directory, when resumed
  int64_t first_global_step = 0;    // the first step this invocation trained
  int64_t global_step = 0;          // steps completed at the end
  std::vector<double> losses;       // mean over ranks, one per step trained by this invocation
  std::vector<StepReport> reports;  // every scalar (mean over ranks), one per step trained
  double max_save_pause_ms = 0;     // longest time the training thread spent snapshotting
  TensorMap final_state;            // replicated state at the end (host copies), if asked for
  // How the run ended (train/faults.h; ExitStatusFor maps it to the exit status) and the steps the
  // non-finite guard undid and skipped.
  StopReason stop = StopReason::kCompleted;
  int64_t skipped_steps = 0;
};

// The torch device of this rank: its bound GPU (DEVICE_CUDA), else the CPU.
inline at::Device TorchDevice(const dist::World& world) {
  return world.device_kind() == dist::DeviceKind::kCuda
             ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(world.device_index()))
             : at::Device(at::kCPU);
}

// The world a command runs in: MPI start-up with the config's device (one GPU per local rank for
// DEVICE_CUDA), then `threads` intra-op threads per rank (0: the host's cores / local ranks).
Result<std::unique_ptr<dist::World>> StartWorld(const framecast::RunConfig& config, int* argc,
                                                char*** argv, int64_t threads);

// Collective over `world`. Trains the config's stages from where its run directory left off.
Result<RunResult> RunTraining(const framecast::RunConfig& config, const dist::World& world,
                              bool keep_final_state = false);

dist::Backend BackendOf(const framecast::DistConfig& dist);

// The demo family (train/demo_family.cc).
Result<std::unique_ptr<Trainer>> MakeDemoTrainer(const framecast::RunConfig& config,
                                                 const dist::World& world,
                                                 dist::Communicator* comm);

// The demo trainer's options for `config` on `world_size` ranks.
DemoOptions DemoOptionsFor(const framecast::RunConfig& config, int world_size);

// The state of a demo trainer that a checkpoint holds (replicated part), and restoring it.
Result<std::vector<ckpt::NamedTensor>> ReplicatedState(DemoTrainer& trainer);
// The names a resume must find in `manifest` (the model's, and its optimizer state if any).
std::vector<std::string> ReplicatedStateNames(DemoTrainer& trainer,
                                              const framecast::ckpt::Manifest& manifest);
Status LoadReplicatedState(DemoTrainer& trainer, const TensorMap& from);

}  // namespace fc::train
