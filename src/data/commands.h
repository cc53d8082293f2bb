// `framecast data` subcommands:
//   framecast data prepare --format frames|video --in RAW_DIR --out DATASET_DIR [flags]
//       convert a raw dataset into the prepared layout (src/data/README.md)
//   framecast data preview (DATASET_DIR | RUN_CONFIG.pbtxt) --out clips.gif|clips.mp4
//       [--num 4] [--split train|test] [--frames T] [--fps 8] [--columns C] [--set f=v ...]
//   framecast data info DATASET_DIR      manifest summary
//   framecast data verify DATASET_DIR    check every frame's CRC-32C (exit 1 naming file+offset)
// Errors are one line on stderr and a non-zero exit (2: usage, 1: failure).
#pragma once

namespace fc::data {

int DataCommand(int argc, char** argv, int first);

}  // namespace fc::data
