// framecast bench ckpt: checkpoint save and load bandwidth next to a raw sequential write + fsync
// of the same bytes on the same disk (each rank writes its share to one file), and the time the
// training thread is paused by an asynchronous save (the host snapshot).
//
// State: --tensors float32 tensors totalling --bytes, replicated on every rank (as data-parallel
// state is). Save GB/s = state bytes / slowest rank's time; load: every rank reads the whole state
// (any rank reads any shard), GB/s per rank = state bytes / slowest rank's time.
// Each measurement is repeated --rounds times and the best kept; files are removed afterwards.
#include <mpi.h>

#include <chrono>
#include <cstdio>

#include "bench/commands.h"
#include "ckpt/checkpointer.h"
#include "dist/world.h"
#include "util/files.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::bench {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double SlowestSeconds(const dist::World& w, double t0) {
  double dt = Now() - t0, out = dt;
  MPI_Allreduce(&dt, &out, 1, MPI_DOUBLE, MPI_MAX, w.comm());
  return out;
}

}  // namespace

int CkptCommand(int argc, char** argv, int first) {
  Flags flags("framecast bench ckpt");
  flags.Add("bytes", "1G", "state size");
  flags.Add("tensors", "64", "number of tensors");
  flags.Add("dir", "bench-ckpt", "scratch directory on the disk to measure (removed afterwards)");
  flags.Add("rounds", "2", "repetitions per measurement (best kept)");
  Status st = flags.Parse(argc, argv, first);
  auto bytes = flags.Bytes("bytes");
  auto ntensors = flags.Int("tensors"), rounds = flags.Int("rounds");
  for (const Status& s : {st, bytes.status(), ntensors.status(), rounds.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.message().c_str());
      return 2;
    }
  }
  auto world = dist::World::Init(&argc, &argv, dist::WorldOptions{});
  if (!world.ok()) {
    LogError(world.status().ToString());
    return 1;
  }
  dist::World& w = *world.value();
  auto comm = dist::MakeCommunicator(w, dist::Backend::kMpi);
  if (!comm.ok()) {
    LogError(comm.status().ToString());
    return 1;
  }
  const std::string dir = flags.Str("dir") + "/np" + std::to_string(w.size());
  const int64_t per = bytes.value() / 4 / ntensors.value();
  at::manual_seed(5);
  std::vector<ckpt::NamedTensor> state;
  for (int64_t i = 0; i < ntensors.value(); ++i)
    state.push_back({"model/t" + std::to_string(i), at::randn({per})});
  const double total = static_cast<double>(per) * 4 * ntensors.value();
  framecast::ckpt::Manifest meta;
  meta.set_run_name("bench");
  meta.set_model_family("bench");
  auto fail = [](const Status& s) {
    LogError(s.ToString());
    return 1;
  };

  double raw = 1e30, save = 1e30, load = 1e30, pause = 1e30, async_total = 1e30;
  std::vector<int64_t> sizes;
  for (auto& nt : state) sizes.push_back(nt.tensor.numel() * 4);
  const std::vector<int> owner = ckpt::AssignShards(sizes, w.size());
  for (int64_t r = 0; r < rounds.value(); ++r) {
    if (w.rank() == 0) RemoveTree(dir).ok();
    MPI_Barrier(w.comm());
    if (Status s = MakeDirs(dir + "/raw"); !s.ok()) return fail(s);
    // Raw: this rank's share of the bytes, one sequential file, fsync.
    MPI_Barrier(w.comm());
    double t0 = Now();
    {
      auto f = WriteFile::Create(dir + "/raw/rank" + std::to_string(w.rank()));
      if (!f.ok()) return fail(f.status());
      for (size_t i = 0; i < state.size(); ++i) {
        if (owner[i] != w.rank()) continue;
        if (Status s = f.value().Append(state[i].tensor.data_ptr(), sizes[i]); !s.ok())
          return fail(s);
      }
      if (Status s = f.value().SyncAndClose(); !s.ok()) return fail(s);
    }
    raw = std::min(raw, SlowestSeconds(w, t0));
    // framecast save (synchronous: the full write + commit).
    const std::string step_dir = dir + "/checkpoints/" + ckpt::StepDirName(r + 1);
    meta.set_global_step(r + 1);
    MPI_Barrier(w.comm());
    t0 = Now();
    if (Status s = ckpt::WriteCheckpoint(step_dir, state, {}, meta, comm.value().get()); !s.ok())
      return fail(s);
    save = std::min(save, SlowestSeconds(w, t0));
    // Load: every rank reads the whole state, checksums verified.
    MPI_Barrier(w.comm());
    t0 = Now();
    auto m = ckpt::ReadManifest(step_dir);
    if (!m.ok()) return fail(m.status());
    auto t = ckpt::ReadTensors(step_dir, m.value(), {});
    if (!t.ok()) return fail(t.status());
    load = std::min(load, SlowestSeconds(w, t0));
    // Async: how long the training thread is held (snapshot), and until the save is durable.
    {
      auto ck_comm = dist::MakeCommunicator(w, dist::Backend::kMpi);
      if (!ck_comm.ok()) return fail(ck_comm.status());
      framecast::CheckpointConfig cfg;
      cfg.set_keep_last(100);
      ckpt::Checkpointer ck(dir + "/async", cfg, std::move(ck_comm).value());
      meta.set_global_step(100 + r);
      MPI_Barrier(w.comm());
      t0 = Now();
      if (Status s = ck.Save(state, {}, meta); !s.ok()) return fail(s);
      double p = ck.last_pause_ms() / 1e3, pmax = p;
      MPI_Allreduce(&p, &pmax, 1, MPI_DOUBLE, MPI_MAX, w.comm());
      pause = std::min(pause, pmax);
      if (Status s = ck.Wait(); !s.ok()) return fail(s);
      async_total = std::min(async_total, SlowestSeconds(w, t0));
    }
  }
  MPI_Barrier(w.comm());
  if (w.rank() == 0) {
    RemoveTree(dir).ok();
    std::printf(
        "framecast bench ckpt: %d rank(s), %.2f GiB state in %lld tensors, dir %s, best of %lld\n",
        w.size(), total / (1 << 30), static_cast<long long>(ntensors.value()),
        flags.Str("dir").c_str(), static_cast<long long>(rounds.value()));
    std::printf("  raw write+fsync  %8.3f s  %6.2f GB/s\n", raw, total / raw / 1e9);
    std::printf("  framecast save   %8.3f s  %6.2f GB/s  (%.2fx raw)\n", save, total / save / 1e9,
                raw / save);
    std::printf("  framecast load   %8.3f s  %6.2f GB/s per rank (CRC-verified)\n", load,
                total / load / 1e9);
    std::printf("  async save: training paused %.3f s (snapshot), durable after %.3f s\n", pause,
                async_total);
    std::printf("RESULT np=%d raw_s=%.4f save_s=%.4f load_s=%.4f pause_s=%.4f\n", w.size(), raw,
                save, load, pause);
  }
  return 0;
}

}  // namespace fc::bench
