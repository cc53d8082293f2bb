// framecast bench allreduce: bandwidth of the raw backend all-reduce and of GradientSync's bucketed
// path, in the nccl-tests layout (size, count, type, time, algbw, busbw, #wrong).
//
// Method (nccl-tests / gloo): inputs are crafted so the result is exactly predictable (rank r holds
// (r + 1) * (i % 7 + 1); the average is (i % 7 + 1) * (P + 1) / 2, exact in every dtype used), a
// checked call precedes the timed loop and the result is checked again after it; untimed warm-up;
// the iteration count is derived from the slowest rank's warm-up time, so every rank runs the same
// count; the reported time is the slowest rank's mean per call. algbw = S / t,
// busbw = algbw * 2 (P - 1) / P (all-reduce).
#include <mpi.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench/commands.h"
#include "dist/communicator.h"
#include "dist/communicator_nccl.h"
#include "dist/gradient_sync.h"
#include "dist/world.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Setup {
  dist::World* world;
  dist::Communicator* comm;
  at::TensorOptions opts;
  std::string type_name;
  int64_t warmup;
  int64_t iters;    // 0: auto
  double min_time;  // seconds per size when iters is auto
};

double MaxOverRanks(const dist::World& w, double v) {
  double out = v;
  MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MAX, w.comm());
  return out;
}
int64_t SumOverRanks(const dist::World& w, int64_t v) {
  int64_t out = v;
  MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, w.comm());
  return out;
}

// Fills `t` (flat) with rank r's verifiable pattern, starting at global element `offset`.
void FillPattern(at::Tensor t, int rank, int64_t offset) {
  at::Tensor idx = at::arange(offset, offset + t.numel(), at::kLong);
  t.copy_(((idx.remainder(7) + 1) * (rank + 1)).to(t.scalar_type()).view(t.sizes()));
}
int64_t CountWrong(const at::Tensor& t, int size, int64_t offset) {
  at::Tensor idx = at::arange(offset, offset + t.numel(), at::kLong);
  at::Tensor want = ((idx.remainder(7) + 1).to(at::kDouble) * (size + 1) / 2.0);
  return (t.detach().reshape({-1}).cpu().to(at::kDouble) != want).sum().item<int64_t>();
}

void Sync(const Setup& s) {
  if (s.opts.device().is_cuda()) torch::cuda::synchronize();
}

// Times `op` (one collective, waited) with warm-up and an agreed iteration count.
Result<double> Time(const Setup& s, const std::function<Status()>& op) {
  for (int64_t i = 0; i < s.warmup; ++i) FC_RETURN_IF_ERROR(op());
  Sync(s);
  int64_t iters = s.iters;
  if (iters <= 0) {
    auto t0 = Clock::now();
    FC_RETURN_IF_ERROR(op());
    Sync(s);
    double one = MaxOverRanks(*s.world, std::chrono::duration<double>(Clock::now() - t0).count());
    iters = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(s.min_time / std::max(one, 1e-7))),
                                2, 1000);
  }
  FC_RETURN_IF_ERROR(s.comm->Barrier());
  auto t0 = Clock::now();
  for (int64_t i = 0; i < iters; ++i) FC_RETURN_IF_ERROR(op());
  Sync(s);
  double dt = std::chrono::duration<double>(Clock::now() - t0).count() / iters;
  return MaxOverRanks(*s.world, dt);
}

void PrintRow(const dist::World& w, int64_t bytes, int64_t count, const std::string& type,
              const std::string& extra, double sec, int64_t wrong) {
  if (w.rank() != 0) return;
  const double algbw = bytes / sec / 1e9;
  const double busbw = algbw * 2.0 * (w.size() - 1) / w.size();
  std::printf("%12lld %12lld %9s %8s %11.1f %10.3f %10.3f %7lld\n", static_cast<long long>(bytes),
              static_cast<long long>(count), type.c_str(), extra.c_str(), sec * 1e6, algbw, busbw,
              static_cast<long long>(wrong));
  std::fflush(stdout);
}

// One row of the raw-backend section.
Result<std::pair<double, int64_t>> RawRow(const Setup& s, int64_t count) {
  at::Tensor t = at::empty({count}, s.opts);
  FillPattern(t, s.comm->rank(), 0);
  auto op = [&]() -> Status { return s.comm->AllReduce(t, dist::ReduceOp::kAvg)->Wait(); };
  FC_RETURN_IF_ERROR(op());
  Sync(s);
  int64_t wrong = CountWrong(t, s.comm->size(), 0);
  FC_ASSIGN_OR_RETURN(double sec, Time(s, op));
  wrong += CountWrong(t, s.comm->size(), 0);
  return std::make_pair(sec, SumOverRanks(*s.world, wrong));
}

// A module whose parameters total `count` elements, split into tensors of at most 1 Mi elements.
struct Params : torch::nn::Module {
  Params(int64_t count, const at::TensorOptions& opts) {
    const int64_t piece = int64_t{1} << 18;
    for (int64_t off = 0, i = 0; off < count; off += piece, ++i) {
      register_parameter("p" + std::to_string(i), at::zeros({std::min(piece, count - off)}, opts));
    }
  }
};

struct GsRow {
  double sec;
  int64_t wrong;
  int buckets;
};
Result<GsRow> GradientSyncRow(const Setup& s, int64_t count, const dist::GradientSyncOptions& o) {
  auto params = std::make_shared<Params>(count, s.opts.requires_grad(true));
  FC_ASSIGN_OR_RETURN(auto sync, dist::GradientSync::Create(*params, s.comm, o, "bench"));
  int64_t off = 0;
  torch::NoGradGuard ng;
  auto fill = [&] {
    off = 0;
    for (auto& p : params->parameters()) {
      FillPattern(p.grad(), s.comm->rank(), off);
      off += p.numel();
    }
  };
  auto check = [&] {
    int64_t wrong = 0, o2 = 0;
    for (auto& p : params->parameters()) {
      wrong += CountWrong(p.grad(), s.comm->size(), o2);
      o2 += p.numel();
    }
    return wrong;
  };
  fill();
  auto op = [&]() -> Status { return sync->SyncNow(); };
  FC_RETURN_IF_ERROR(op());
  Sync(s);
  int64_t wrong = check();
  FC_ASSIGN_OR_RETURN(double sec, Time(s, op));
  wrong += check();
  return GsRow{sec, SumOverRanks(*s.world, wrong), sync->num_buckets()};
}

}  // namespace

int AllReduceCommand(int argc, char** argv, int first) {
  Flags flags("framecast bench allreduce");
  flags.Add("backend", "auto", "auto | mpi | nccl");
  flags.Add("device", "cpu", "cpu | cuda (one GPU per rank, bound by local rank)");
  flags.Add("dtype", "float", "float | double | bfloat16 | half");
  flags.Add("min-bytes", "4K", "smallest message");
  flags.Add("max-bytes", "256M", "largest message");
  flags.Add("factor", "2", "size multiplier between rows");
  flags.Add("warmup", "3", "untimed calls per size");
  flags.Add("iters", "0", "timed calls per size (0: as many as fit in --min-time, at least 2)");
  flags.Add("min-time", "0.2", "seconds per size when --iters is 0");
  flags.Add("rounds", "3", "alternating raw/GradientSync measurements per size (best kept)");
  flags.Add("first-bucket", "1M", "GradientSync's first bucket cap");
  flags.Add("bucket", "25M", "GradientSync's bucket cap");
  flags.Add(
      "gradient-dtype", "float",
      "GradientSync's wire dtype: float | bfloat16 (dist.gradient_dtype; float buckets only)");
  Status st = flags.Parse(argc, argv, first);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nflags:\n%s", st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  auto fail = [](const Status& s) {
    LogError(s.ToString());
    return 1;
  };
  auto minb = flags.Bytes("min-bytes"), maxb = flags.Bytes("max-bytes");
  auto warm = flags.Int("warmup"), iters = flags.Int("iters"), factor = flags.Int("factor");
  auto mint = flags.Double("min-time");
  auto rounds = flags.Int("rounds");
  auto fb = flags.Bytes("first-bucket"), bb = flags.Bytes("bucket");
  auto backend = dist::ParseBackend(flags.Str("backend"));
  for (const Status& s :
       {minb.status(), maxb.status(), warm.status(), iters.status(), factor.status(), mint.status(),
        rounds.status(), fb.status(), bb.status(), backend.status()}) {
    if (!s.ok()) return fail(s);
  }
  if (rounds.value() < 1) return fail(Status::InvalidArgument("--rounds must be >= 1"));
  if (minb.value() < 1 || maxb.value() < minb.value() || maxb.value() > (int64_t{1} << 36))
    return fail(
        Status::InvalidArgument("--min-bytes must be >= 1 and --max-bytes in [--min-bytes, 64G]"));
  if (warm.value() < 0 || warm.value() > 1000000 || iters.value() < 0 || iters.value() > 1000000)
    return fail(Status::InvalidArgument("--warmup and --iters must be in [0, 1e6]"));
  if (!(mint.value() >= 0) || mint.value() > 3600)
    return fail(Status::InvalidArgument("--min-time must be in [0, 3600] seconds"));
  if (fb.value() < 1 || bb.value() < 1)
    return fail(Status::InvalidArgument("--first-bucket and --bucket must be >= 1 byte"));
  if (factor.value() < 2) return fail(Status::InvalidArgument("--factor must be >= 2"));
  at::ScalarType dtype;
  const std::string dn = flags.Str("dtype");
  if (dn == "float")
    dtype = at::kFloat;
  else if (dn == "double")
    dtype = at::kDouble;
  else if (dn == "bfloat16")
    dtype = at::kBFloat16;
  else if (dn == "half")
    dtype = at::kHalf;
  else
    return fail(Status::InvalidArgument("--dtype: unknown type '" + dn + "'"));
  const std::string dev = flags.Str("device");
  if (dev != "cpu" && dev != "cuda")
    return fail(Status::InvalidArgument("--device must be cpu or cuda"));

  dist::WorldOptions wo;
  wo.device = dev == "cuda" ? dist::DeviceKind::kCuda : dist::DeviceKind::kCpu;
  auto world = dist::World::Init(&argc, &argv, wo);
  if (!world.ok()) return fail(world.status());
  dist::World& w = *world.value();
  auto comm = dist::MakeCommunicator(w, backend.value());
  if (!comm.ok()) return fail(comm.status());

  at::TensorOptions opts = at::TensorOptions().dtype(dtype);
  if (w.device_kind() == dist::DeviceKind::kCuda) opts = opts.device(at::kCUDA, w.device_index());
  Setup s{&w, comm.value().get(), opts, dn, warm.value(), iters.value(), mint.value()};
  dist::GradientSyncOptions gso;
  gso.first_bucket_bytes = fb.value();
  gso.bucket_bytes = bb.value();
  gso.broadcast_initial_state = false;
  const std::string gd = flags.Str("gradient-dtype");
  if (gd == "bfloat16") {
    gso.wire_dtype = at::kBFloat16;
  } else if (gd != "float") {
    return fail(Status::InvalidArgument("--gradient-dtype: '" + gd + "' is not float or bfloat16"));
  }

  if (w.rank() == 0) {
    std::printf("# framecast bench allreduce\n");
    std::printf("# framecast %s, LibTorch %s, MPI %s", FRAMECAST_VERSION, TORCH_VERSION,
                [] {
                  static char v[MPI_MAX_LIBRARY_VERSION_STRING];
                  int n;
                  MPI_Get_library_version(v, &n);
                  std::string s(v, n);
                  return s.substr(0, s.find(','));
                }()
                    .c_str());
    if (!dist::NcclVersion().empty()) std::printf(", NCCL %s", dist::NcclVersion().c_str());
    std::printf(
        "\n# ranks %d, nodes %d, backend %s, dtype %s, op avg in place, warmup %lld, iters %s\n",
        w.size(), w.node_count(), dist::BackendName(s.comm->backend()), dn.c_str(),
        static_cast<long long>(s.warmup),
        s.iters > 0 ? std::to_string(s.iters).c_str()
                    : ("auto (>= " + flags.Str("min-time") + " s per size)").c_str());
    std::fflush(stdout);
  }
  // "Using devices": one line per rank, in rank order.
  for (int r = 0; r < w.size(); ++r) {
    if (r == w.rank()) {
      std::printf(
          "#  rank %2d pid %6d host %s device %s\n", w.rank(), static_cast<int>(getpid()),
          w.host().c_str(),
          w.device_index() < 0 ? "cpu" : ("cuda:" + std::to_string(w.device_index())).c_str());
      std::fflush(stdout);
    }
    MPI_Barrier(w.comm());
  }
  // Measure: per size, raw and GradientSync alternate for --rounds rounds; each side keeps its best
  // (lowest) time, so a noisy moment on a shared machine cannot favour one side.
  const int64_t esz = at::elementSize(dtype);
  struct Row {
    int64_t bytes, count;
    double raw_sec = 1e30, gs_sec = 1e30;
    int64_t raw_wrong = 0, gs_wrong = 0;
    int buckets = 0;
  };
  std::vector<Row> rows;
  for (int64_t bytes = minb.value(); bytes <= maxb.value(); bytes *= factor.value()) {
    Row row;
    row.count = std::max<int64_t>(1, bytes / esz);
    row.bytes = row.count * esz;
    for (int64_t round = 0; round < rounds.value(); ++round) {
      auto raw = RawRow(s, row.count);
      if (!raw.ok()) return fail(raw.status());
      row.raw_sec = std::min(row.raw_sec, raw.value().first);
      row.raw_wrong += raw.value().second;
      auto gs = GradientSyncRow(s, row.count, gso);
      if (!gs.ok()) return fail(gs.status());
      row.gs_sec = std::min(row.gs_sec, gs.value().sec);
      row.gs_wrong += gs.value().wrong;
      row.buckets = gs.value().buckets;
    }
    rows.push_back(row);
  }
  int64_t total_wrong = 0;
  double worst_ratio = 1e9;
  const char* header = "#%11s %12s %9s %8s %11s %10s %10s %7s\n";
  if (w.rank() == 0) {
    std::printf(
        "#\n# raw backend: Communicator::AllReduce, one call per message (best of %lld rounds)\n",
        static_cast<long long>(rounds.value()));
    std::printf(header, "size(B)", "count", "type", "", "time(us)", "algbw", "busbw", "#wrong");
  }
  for (const Row& r : rows) {
    PrintRow(w, r.bytes, r.count, dn, "", r.raw_sec, r.raw_wrong);
    total_wrong += r.raw_wrong;
  }
  if (w.rank() == 0) {
    std::printf(
        "#\n# GradientSync: bucketed average of a model's gradients (first bucket %s, then %s; "
        "%s on the wire)\n",
        flags.Str("first-bucket").c_str(), flags.Str("bucket").c_str(), gd.c_str());
    std::printf(header, "size(B)", "count", "type", "buckets", "time(us)", "algbw", "busbw",
                "#wrong");
  }
  for (const Row& r : rows) {
    PrintRow(w, r.bytes, r.count, dn, std::to_string(r.buckets), r.gs_sec, r.gs_wrong);
    total_wrong += r.gs_wrong;
    if (r.bytes >= (int64_t{4} << 20)) worst_ratio = std::min(worst_ratio, r.raw_sec / r.gs_sec);
  }
  if (w.rank() == 0) {
    std::printf("#\n# total #wrong: %lld\n", static_cast<long long>(total_wrong));
    if (worst_ratio < 1e9) {
      std::printf("# GradientSync busbw / raw busbw, sizes >= 4 MiB: min %.3f (target >= 0.9)\n",
                  worst_ratio);
    }
    std::fflush(stdout);
  }
  return total_wrong == 0 ? 0 : 1;
}

}  // namespace fc::bench
