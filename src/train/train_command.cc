#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "dist/world.h"
#include "train/commands.h"
#include "train/demo.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::train {

int TrainCommand(int argc, char** argv, int first) {
  Flags flags("framecast train");
  flags.Add("steps", "100", "optimizer steps");
  flags.Add("batch", "16", "samples per rank per micro-batch");
  flags.Add("accumulation", "1", "micro-batches per step");
  flags.Add("lr", "0.05", "SGD learning rate (momentum 0.9)");
  flags.Add("backend", "auto", "auto | mpi | nccl");
  flags.Add("device", "cpu", "cpu | cuda");
  flags.Add("threads", "0", "intra-op threads per rank (0: cores / local ranks)");
  flags.Add("seed", "1234", "data and initialisation seed");
  Status st = flags.Parse(argc, argv, first);
  auto fail = [](const Status& s) {
    LogError(s.ToString());
    return 1;
  };
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nflags:\n%s", st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  auto steps = flags.Int("steps"), batch = flags.Int("batch"), acc = flags.Int("accumulation");
  auto threads = flags.Int("threads"), seed = flags.Int("seed");
  auto lr = flags.Double("lr");
  auto backend = dist::ParseBackend(flags.Str("backend"));
  for (const Status& s : {steps.status(), batch.status(), acc.status(), threads.status(),
                          seed.status(), lr.status(), backend.status()}) {
    if (!s.ok()) return fail(s);
  }
  const std::string dev = flags.Str("device");
  if (dev != "cpu" && dev != "cuda")
    return fail(Status::InvalidArgument("framecast train: --device must be cpu or cuda"));
  if (!flags.positional().empty()) {
    return fail(Status::InvalidArgument("framecast train: unexpected argument '" +
                                        flags.positional()[0] + "'"));
  }
  dist::WorldOptions wo;
  wo.device = dev == "cuda" ? dist::DeviceKind::kCuda : dist::DeviceKind::kCpu;
  auto world = dist::World::Init(&argc, &argv, wo);
  if (!world.ok()) return fail(world.status());
  dist::World& w = *world.value();
  const int nthreads =
      threads.value() > 0
          ? static_cast<int>(threads.value())
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / w.local_size());
  at::set_num_threads(nthreads);
  auto comm = dist::MakeCommunicator(w, backend.value());
  if (!comm.ok()) return fail(comm.status());

  DemoOptions o;
  o.steps = steps.value();
  o.per_rank_batch = batch.value();
  o.accumulation = acc.value();
  o.lr = lr.value();
  o.seed = static_cast<uint64_t>(seed.value());
  if (w.device_kind() == dist::DeviceKind::kCuda)
    o.device = at::Device(at::kCUDA, w.device_index());
  auto trainer = DemoTrainer::Create(comm.value().get(), o);
  st = w.AgreeOnStatus(trainer.ok() ? Status::Ok() : trainer.status(),
                       "failed to build the trainer");
  if (!st.ok()) return fail(st);
  LogInfo("world: " + std::to_string(w.size()) + " ranks on " + std::to_string(w.node_count()) +
          " node(s), launcher " + w.launcher() + ", backend " +
          dist::BackendName(comm.value()->backend()) + ", " + std::to_string(nthreads) +
          " thread(s) per rank");
  LogInfo("demo: conv net with SyncBatchNorm, global batch " +
          std::to_string(o.per_rank_batch * o.accumulation * w.size()) + " (" +
          std::to_string(o.per_rank_batch) + " per rank x " + std::to_string(o.accumulation) +
          " micro-batches x " + std::to_string(w.size()) + " ranks), " +
          std::to_string(trainer.value()->sync()->num_buckets()) + " gradient bucket(s)");

  // ---- TRAINING LOOP ------------------------------------------------------------------------
  for (int64_t step = 0; step < o.steps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    auto loss = trainer.value()->Step(step);
    if (!loss.ok()) return fail(loss.status());
    at::Tensor l = at::full({1}, loss.value(), at::kDouble);
    st = comm.value()->AllReduce(l, dist::ReduceOp::kAvg)->Wait();
    if (!st.ok()) return fail(st);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    char line[160];
    std::snprintf(line, sizeof(line), "step %lld/%lld loss %.6f %.1f ms/step",
                  static_cast<long long>(step + 1), static_cast<long long>(o.steps),
                  l.item<double>(), ms);
    LogInfo(line);
  }
  // ---- END TRAINING LOOP --------------------------------------------------------------------
  return 0;
}

}  // namespace fc::train
