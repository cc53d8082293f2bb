// A model family as the commands see it: one object per member of ModelConfig's `family` oneof,
// listed once in the registry (train/families.cc). Every command goes through it:
//   train          ApplyDefaults + Validate (config loading), MakeTrainer (the run loop's Trainer)
//   config check   ApplyDefaults + Validate + performance()
//   model summary  ValidateModel + Summary
//   eval           Eval (default: refused with the family's name)
//   sample         Sample (default: refused with the family's name)
//   runs list      name() (the oneof member's name is the family's name)
//
// Adding a family (src/models/README.md): a `oneof family` member in ModelConfig, a folder under
// src/models/<name>/ for the single-device model, a Family here whose name() is the oneof member's
// name and the manifest's model_family, one line in the registry, and the tests the README lists.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ckpt/manifest.pb.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "proto/config.pb.h"
#include "train/trainer.h"
#include "util/status.h"

namespace fc::train {

// What `framecast eval CONFIG --checkpoint STEP_DIR` asks of a family (flags of eval_command.cc).
struct EvalRequest {
  std::string config_path, step_dir, out_dir;
  framecast::ckpt::Manifest manifest;  // the step's, read and checked to be the family's
  std::string gif;                     // sample GIF path, empty: none
  int64_t samples = 0;                 // samples per sequence (0: eval.samples)
  int64_t sequences = 0;               // held-out sequences (0: data.eval_sequences)
  int64_t batch = 16;                  // sequences per generation call
  int64_t gif_sequences = 4;           // sequences shown in the GIF
  int64_t classifier_steps = 1500;     // cvg: steps of a frame classifier trained when none exists
  bool baselines = true;               // also evaluate the family's baselines
  int64_t euler_steps = 0;             // srvp: Euler sub-steps per frame (0: the training value)
};

// What `framecast sample RUN_DIR` asks of a family: `num` clips from the step's weights, noise
// seeded by `seed`. The command writes the files; the family returns the tiles.
struct SampleRequest {
  std::string run_dir, step_dir;
  int64_t num = 4;
  uint64_t seed = 1;
  int64_t euler_steps = 0;  // srvp: sub-steps per frame, each shown as a frame (0: training's)
};
struct SampleResult {
  // Float [T, C, H, W] in [0, 1] on the CPU, tiled row-major into the grid.
  std::vector<at::Tensor> tiles;
  int tiles_per_sample = 1;        // the grid's columns are a multiple of this
  std::vector<std::string> lines;  // printed after the files are written (classes, ...)
  std::string what;                // "4 clip(s) of 16 frames at 32x32 from ... (levels 1..2)"
};

// `framecast bench step` (src/bench/model_step_bench.cc): the family's own training step on one
// device with no data source (every micro-batch a fixed batch of random clips drawn once), next
// to its PyTorch peer bench/peers/<peer_script>.
struct BenchStage {
  int stage = 0;          // the stage (cascade level) whose Step is timed
  std::string peer_args;  // extra arguments of the peer for this stage (" --level 2")
  std::string what;       // the table's heading, before the device words
};
struct BenchTrainer {
  std::unique_ptr<Trainer> trainer;  // Seek(stage, 0, 0) done
  int64_t params = 0;                // compared with the peer's "params" (GANs: "params_g")
  int64_t params_second = -1;        // GANs: the discriminators ("params_d"); -1: none
};

// Which of config.performance's options the family's step implements.
struct PerformanceSupport {
  bool bf16 = false, channels_last = false, cuda_graphs = false;
};

class Family {
 public:
  virtual ~Family() = default;
  // The `family` oneof member's name, the manifest's model_family and Trainer::family().
  virtual std::string name() const = 0;
  virtual framecast::ModelConfig::FamilyCase config_case() const = 0;
  // Defaults of the family's fields (and of data fields it decides). Never fails: errors are
  // Validate's to report.
  virtual void ApplyDefaults(framecast::RunConfig* config) const {}
  // The model part alone (enough for `model summary` on a machine without the datasets).
  virtual Status ValidateModel(const framecast::RunConfig& config) const { return Status::Ok(); }
  // Every rule of a run that involves the family: the model, its data, optimizers and stages.
  // Errors name the field and the rule. Called after the generic rules and ValidateModel.
  virtual Status Validate(const framecast::RunConfig& config) const { return Status::Ok(); }
  virtual PerformanceSupport performance() const { return {}; }
  // `bench step`: the peer script ("": the family has no step benchmark), whether its unit is a
  // GAN iteration (peer keys ms_per_iter, clips_per_s, params_g, params_d), the default batch,
  // the stages to time (`level`: the 1-based stage the user asked for, 0: all, -1: the family's
  // default), and
  // the timed trainer of one stage on `device` with `batch` clips.
  virtual std::string bench_peer() const { return ""; }
  virtual bool bench_per_iteration() const { return false; }
  virtual int64_t bench_default_batch(const framecast::RunConfig& config) const {
    return std::max<int64_t>(1, config.data().global_batch() / 8);
  }
  virtual Result<std::vector<BenchStage>> BenchStages(const framecast::RunConfig& config, int level,
                                                      int64_t batch) const {
    if (level > 0)
      return Status::InvalidArgument("--level: the " + name() + " family has no levels");
    const auto& d = config.data();
    return std::vector<BenchStage>{{0, "",
                                    name() + " step: " + std::to_string(batch) + " sequences of " +
                                        std::to_string(d.context_frames()) + "+" +
                                        std::to_string(d.predicted_frames()) + " frames"}};
  }
  virtual Result<BenchTrainer> MakeBenchTrainer(const framecast::RunConfig& config, int stage,
                                                at::Device device, int64_t batch) const {
    return Status::InvalidArgument("bench step: family " + name() + " has no step benchmark");
  }
  // Whether the model's dynamics have a step size that eval and sample may refine
  // (--euler-steps; srvp).
  virtual bool has_step_size() const { return false; }
  // The run loop's Trainer for this rank. Collective.
  virtual Result<std::unique_ptr<Trainer>> MakeTrainer(const framecast::RunConfig& config,
                                                       const dist::World& world,
                                                       dist::Communicator* comm) const = 0;
  // The parameter table of `model summary`.
  virtual Result<std::string> Summary(const framecast::RunConfig& config) const {
    return Status::InvalidArgument("model: family " + name() + " has no summary");
  }
  // `framecast eval`: collective over the eval's ranks; rank 0 prints and writes the report.
  virtual Status Eval(const framecast::RunConfig& config, const EvalRequest& request,
                      dist::World& world) const {
    return Status::InvalidArgument(request.config_path + ": model: family " + name() +
                                   " has no evaluation");
  }
  // `framecast sample`: single process, CPU. `manifest` is the step's, already checked to be this
  // family's.
  virtual Result<SampleResult> Sample(const framecast::RunConfig& config,
                                      const framecast::ckpt::Manifest& manifest,
                                      const SampleRequest& request) const {
    return Status::InvalidArgument(request.run_dir + ": model: family " + name() +
                                   " has no sampler");
  }
};

// Every family this build has, in registry order.
const std::vector<const Family*>& Families();
// The family `config` names; InvalidArgument ("model: ...") when none or one this build lacks.
Result<const Family*> FamilyFor(const framecast::RunConfig& config);
// The family named `name` (a manifest's model_family), or nullptr.
const Family* FamilyNamed(const std::string& name);

// Config loading with the families' defaults and rules: installs them into src/config (which
// stays free of model code so the config fuzzer links it alone) from the registry. Called once by
// main() and by tests that load run configs.
void InstallFamilyConfigHooks();

// The families behind the registry (their files: train/<name>_family.cc).
const Family& DemoFamily();
const Family& HvrnnFamily();
const Family& CvgFamily();
const Family& SrvpFamily();

}  // namespace fc::train
