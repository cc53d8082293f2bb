// Training subcommands of the framecast executable.
//
//   framecast train    trains the embedded default workload data-parallel (until configs land:
//                      the demo conv net on procedurally generated frames) and prints per-step loss
#pragma once

namespace fc::train {

int TrainCommand(int argc, char** argv, int first);

}  // namespace fc::train
