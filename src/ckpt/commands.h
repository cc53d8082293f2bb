// Checkpoint subcommands:
//   framecast ckpt list RUN_DIR        committed steps with stage, step, ranks, size, date
//   framecast ckpt verify STEP_DIR     every CRC; exit 1 on damage (the message names file, tensor,
//   offset) framecast ckpt inspect STEP_DIR    manifest fields and every tensor (dtype, shape,
//   bytes, shard, CRC) framecast ckpt export STEP_DIR OUT.pt   model tensors as a dict that
//   Python's torch.load opens
#pragma once

namespace fc::ckpt {

int CkptCommand(int argc, char** argv, int first);

}  // namespace fc::ckpt
