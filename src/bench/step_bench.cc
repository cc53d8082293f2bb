// framecast bench step: milliseconds per optimizer step of the data-parallel demo workload, the
// framecast side of the comparison with PyTorch DistributedDataParallel (bench/peers/ddp_demo.py,
// driven together by bench/ddp_compare.sh). The micro-batches are generated once before timing, so
// both sides time the same thing: forward, backward with bucketed gradient all-reduce, SGD step.
#include <ATen/Parallel.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "bench/commands.h"
#include "dist/world.h"
#include "train/demo.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::bench {

int StepCommand(int argc, char** argv, int first) {
  Flags flags("framecast bench step");
  flags.Add("batch", "32", "samples per rank");
  flags.Add("width", "16", "conv width of the demo net");
  flags.Add("image", "64", "frame size");
  flags.Add("steps", "30", "timed steps");
  flags.Add("warmup", "5", "untimed steps");
  flags.Add("threads", "1", "intra-op threads per rank");
  flags.Add("backend", "auto", "auto | mpi | nccl");
  flags.Add(
      "sync-bn", "1",
      "1: cross-rank batch norm; 0: local batch norm (PyTorch has no CPU SyncBatchNorm peer)");
  Status st = flags.Parse(argc, argv, first);
  auto fail = [](const Status& s) {
    LogError(s.ToString());
    return 1;
  };
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nflags:\n%s", st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  auto batch = flags.Int("batch"), width = flags.Int("width"), image = flags.Int("image");
  auto steps = flags.Int("steps"), warmup = flags.Int("warmup"), threads = flags.Int("threads");
  auto backend = dist::ParseBackend(flags.Str("backend"));
  auto sync_bn = flags.Int("sync-bn");
  for (const Status& s : {sync_bn.status(), batch.status(), width.status(), image.status(),
                          steps.status(), warmup.status(), threads.status(), backend.status()}) {
    if (!s.ok()) return fail(s);
  }
  if (steps.value() < 1)
    return fail(Status::InvalidArgument("framecast bench step: --steps must be >= 1"));
  at::set_num_threads(static_cast<int>(std::max<int64_t>(1, threads.value())));
  auto world = dist::World::Init(&argc, &argv, dist::WorldOptions{});
  if (!world.ok()) return fail(world.status());
  dist::World& w = *world.value();
  auto comm = dist::MakeCommunicator(w, backend.value());
  if (!comm.ok()) return fail(comm.status());
  train::DemoOptions o;
  o.per_rank_batch = batch.value();
  o.width = width.value();
  o.image_size = image.value();
  auto trainer = train::DemoTrainer::Create(comm.value().get(), o);
  if (!trainer.ok()) return fail(trainer.status());
  if (sync_bn.value() == 0) dist::AttachSyncBatchNorm(*trainer.value()->net(), nullptr);
  auto batches = trainer.value()->Batches(0);
  std::vector<double> ms;
  for (int64_t i = 0; i < warmup.value() + steps.value(); ++i) {
    MPI_Barrier(w.comm());
    auto t0 = std::chrono::steady_clock::now();
    auto loss = trainer.value()->StepOn(batches);
    if (!loss.ok()) return fail(loss.status());
    double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    double slowest = dt;
    MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, w.comm());
    if (i >= warmup.value()) ms.push_back(slowest);
  }
  std::sort(ms.begin(), ms.end());
  double mean = 0;
  for (double m : ms) mean += m;
  mean /= ms.size();
  if (w.rank() == 0) {
    std::printf(
        "framecast: ranks %d, batch/rank %lld, image %lld, width %lld, threads %lld, backend %s, "
        "%s batch norm: "
        "%.2f ms/step mean, %.2f median (slowest rank, %zu steps after %lld warm-up)\n",
        w.size(), static_cast<long long>(batch.value()), static_cast<long long>(image.value()),
        static_cast<long long>(width.value()), static_cast<long long>(threads.value()),
        dist::BackendName(comm.value()->backend()), sync_bn.value() ? "sync" : "local", mean,
        ms[ms.size() / 2], ms.size(), static_cast<long long>(warmup.value()));
    std::printf("RESULT framecast_ms_per_step=%.4f\n", ms[ms.size() / 2]);
  }
  return 0;
}

}  // namespace fc::bench
