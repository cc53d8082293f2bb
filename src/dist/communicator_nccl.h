// NcclCommunicator: the Communicator backend for CUDA tensors (see communicator.h for the
// contract).
//
// Set-up (constructor, collective): rank 0 creates the ncclUniqueId, MPI broadcasts it, every rank
// calls ncclCommInitRank on its bound device. Hot path: each collective records an event on the
// caller's current stream, makes the communicator's own high-priority stream wait on it, launches
// the NCCL call there, records the tensor's use on that stream for the caching allocator, and
// returns a Work whose Wait() makes the caller's stream wait on the done event. Nothing in the hot
// path synchronises the device or the host. CPU tensors go to an owned MpiCommunicator.
// REQUIRES: one rank per GPU (NCCL rejects two ranks on one device); World::gpu_shared() is false.
#pragma once

#include <mpi.h>

#include <memory>

#include "dist/communicator.h"
#include "dist/communicator_mpi.h"

namespace fc::dist {

class NcclCommunicator : public Communicator {
 public:
  // Collective over `parent`. `device` is this rank's CUDA device index.
  static Result<std::unique_ptr<Communicator>> Create(MPI_Comm parent, int device);
};

// Version of the NCCL library loaded at run time, "major.minor.patch" ("" without CUDA).
std::string NcclVersion();

}  // namespace fc::dist
