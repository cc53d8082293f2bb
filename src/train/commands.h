// Training subcommands of the framecast executable.
//
//   framecast train [CONFIG] [--set field.path=value ...]
//       trains a run config (default: the embedded configs/demo.pbtxt) data-parallel, resuming from
//       the run directory's newest intact checkpoint, and prints per-step loss (see train/run.h)
#pragma once

namespace fc::train {

int TrainCommand(int argc, char** argv, int first);

// framecast model summary CONFIG [--set ...]: parameter counts per module of the config's model.
int ModelCommand(int argc, char** argv, int first);

// framecast eval CONFIG --checkpoint STEP_DIR [...]: best-of-N evaluation with baselines
// (train/eval_command.cc).
int EvalCommand(int argc, char** argv, int first);

// framecast sample RUN_DIR --num N --out FILE: samples of a run's newest checkpoint through its
// family, as an MP4 grid and a GIF grid (train/sample_command.cc).
int SampleCommand(int argc, char** argv, int first);

// framecast runs list DIR: the run directories under DIR and where each stands (train/runs_list.h).
int RunsCommand(int argc, char** argv, int first);

}  // namespace fc::train
