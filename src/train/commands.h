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

// framecast sample RUN_DIR --num N --out FILE: full-length samples of a CVG run's trained cascade
// from its newest checkpoint, as an MP4 grid and a GIF grid (train/sample_command.cc).
int SampleCommand(int argc, char** argv, int first);

}  // namespace fc::train
