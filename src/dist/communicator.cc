#include "dist/communicator.h"

#include <cstring>

#include "dist/communicator_mpi.h"
#include "dist/communicator_nccl.h"
#include "dist/world.h"
#include "util/logging.h"

namespace fc::dist {

Status AgreeOnStatus(Communicator* comm, const Status& local, const std::string& what) {
  constexpr int64_t kRow = 512;
  at::Tensor row = at::zeros({kRow}, at::kByte);
  const std::string text = local.ok() ? "" : local.ToString();
  auto* p = static_cast<char*>(row.data_ptr());
  p[0] = local.ok() ? 1 : 0;
  std::memcpy(p + 1, text.data(), std::min<size_t>(text.size(), kRow - 2));
  at::Tensor rows = at::zeros({kRow * comm->size()}, at::kByte);
  FC_RETURN_IF_ERROR(comm->AllGather(row, rows)->Wait());
  std::string failures;
  for (int r = 0; r < comm->size(); ++r) {
    const char* q = static_cast<const char*>(rows.data_ptr()) + r * kRow;
    if (q[0] == 1) continue;
    if (!failures.empty()) failures += "; ";
    failures += "rank " + std::to_string(r) + " " + what + ": " + std::string(q + 1, strnlen(q + 1, kRow - 1));
  }
  return failures.empty() ? Status::Ok() : Status::Aborted(failures);
}

const char* BackendName(Backend b) {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kMpi:
      return "mpi";
    case Backend::kNccl:
      return "nccl";
    case Backend::kFake:
      return "fake";
  }
  return "?";
}

Result<Backend> ParseBackend(const std::string& name) {
  if (name == "auto") return Backend::kAuto;
  if (name == "mpi") return Backend::kMpi;
  if (name == "nccl") return Backend::kNccl;
  return Status::InvalidArgument("unknown backend '" + name + "' (expected auto, nccl or mpi)");
}

Status CheckCollectiveTensor(const at::Tensor& t, const char* what) {
  if (!t.defined()) return Status::InvalidArgument(std::string(what) + ": undefined tensor");
  if (t.numel() > 0 && !t.is_contiguous()) {
    return Status::InvalidArgument(std::string(what) + ": tensor must be contiguous");
  }
#ifndef FRAMECAST_WITH_CUDA
  if (!t.device().is_cpu()) {
    return Status::InvalidArgument(std::string(what) + ": only CPU tensors in a CPU-only build");
  }
#else
  if (!t.device().is_cpu() && !t.is_cuda()) {
    return Status::InvalidArgument(std::string(what) + ": tensor must be on CPU or CUDA");
  }
#endif
  return Status::Ok();
}

namespace {
Result<std::unique_ptr<Communicator>> MakeLocal(const World& world, Backend backend) {
  const bool cuda = world.device_kind() == DeviceKind::kCuda;
  if (backend == Backend::kAuto)
    backend = (cuda && !world.gpu_shared()) ? Backend::kNccl : Backend::kMpi;
  if (backend == Backend::kNccl) {
    if (!cuda)
      return Status::InvalidArgument("backend nccl needs a CUDA device (this run is on CPU)");
    if (world.gpu_shared()) {
      return Status::InvalidArgument(
          std::to_string(world.local_size()) + " ranks on " + world.host() + " share " +
          std::to_string(world.visible_gpus()) +
          " GPU(s); NCCL needs one GPU per rank: use backend mpi (host-staged) or fewer ranks");
    }
    return NcclCommunicator::Create(world.comm(), world.device_index());
  }
  if (backend == Backend::kFake) {
    return Status::InvalidArgument("the fake backend is built with FakeHub, not from a World");
  }
  FC_ASSIGN_OR_RETURN(auto mpi, MpiCommunicator::Create(world.comm()));
  return std::unique_ptr<Communicator>(std::move(mpi));
}

}  // namespace

Result<std::unique_ptr<Communicator>> MakeCommunicator(const World& world, Backend backend) {
  auto comm = MakeLocal(world, backend);
  FC_RETURN_IF_ERROR(world.AgreeOnStatus(comm.ok() ? Status::Ok() : comm.status(),
                                         "failed to create its communicator"));
  return comm;
}

}  // namespace fc::dist
