// Benchmark subcommands of the framecast executable (docs/benchmarks.md).
//
//   framecast bench allreduce   nccl-tests-style table: raw Communicator::AllReduce vs GradientSync
//   framecast bench ckpt        checkpoint save/load GB/s next to raw write+fsync (peer: torch DCP)
//   framecast bench step        ms/step of the data-parallel demo workload (the DDP peer compare)
//   framecast bench step CONFIG a config's model step vs the same step in PyTorch eager
//
// Each returns the process exit code; errors are printed as one line.
#pragma once

namespace fc::bench {

int AllReduceCommand(int argc, char** argv, int first);
int StepCommand(int argc, char** argv, int first);
// framecast bench step CONFIG: a model family's single-device step next to its PyTorch peer.
int ModelStepCommand(int argc, char** argv, int first);
int CkptCommand(int argc, char** argv, int first);

}  // namespace fc::bench
