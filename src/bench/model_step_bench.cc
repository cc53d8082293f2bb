// framecast bench step CONFIG: one training step of a config's model on one device, timed, next to
// the same step in PyTorch (bench/peers/<family>_step.py: eager, torch.compile, or both), each peer
// run by this command in its own process on the same machine and threads, so all rows come from
// one invocation.
//
// framecast's row is the product's own step with no data source, from the family registry
// (train/family.h Family::MakeBenchTrainer: the family's replica built with comm == nullptr and
// a fixed batch of random clips drawn once before timing, so a step costs only the step):
//   cvg:   one iteration of level K (2 D steps + 1 G step; levels before K frozen and generating
//          the level's input); clips of the last level's full length and resolution, labels
//          uniform when the cascade is class-conditional.
//   hvrnn: HvrnnReplica::Step (teacher-forced ELBO incl. KL, backward, Adam).
//   srvp:  SrvpReplica::Step (the ELBO over every frame with the residual penalty, backward, Adam).
// The timed steps are never logging steps (the config's logging and stage lengths are set so):
// gradient norms and per-channel KL reports are logging extras the peers do not compute.
//
// Each row: median ms per step over --steps after --warmup, clips/s (sequences/s for HVRNN), peak
// memory (the CUDA caching allocator's peak on a GPU; the process's peak RSS on the CPU, a
// process-wide high-water mark: framecast is measured in this process before any peer, each peer
// in its own process), MFU and framecast's speed-up over the row. MFU = FLOPs per step / seconds
// per step / peak FLOP/s; FLOPs are counted once by the peer (--count-flops,
// torch.utils.flop_counter.FlopCounterMode): the architectures are identical, so the count serves
// every row. Parameter counts of framecast and every peer must be equal (else exit 1).
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifdef FRAMECAST_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

#include <nlohmann/json.hpp>

#include "bench/commands.h"
#include "bench/peak_flops.h"
#include "config/run_config.h"
#include "train/family.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/timeline.h"
#include "util/torch_status.h"

namespace fc::bench {
namespace {

// Stage lengths and logging period far beyond any benchmark, so no timed step is a logging step.
constexpr int64_t kNever = int64_t{1} << 40;

struct Row {
  std::string impl;
  std::string na;  // non-empty: the row could not be measured, and why
  double ms = 0, per_s = 0, peak_mb = 0;
  double base_mb = -1;                  // framecast on the CPU: RSS before the model was built
  int64_t params_g = 0, params_d = -1;  // HVRNN: params_g is the model's, params_d -1
  std::string spans;                    // framecast: each timeline span's share of the timed steps
};

struct Options {
  std::string path, dev, python, precision;
  std::vector<std::string> peer_modes;  // "eager", "compile"
  int64_t batch = 0, steps = 5, warmup = 2, threads = 1;
  double peak_tflops = 0;
  at::Device device = at::kCPU;
};

double PeakRssMb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

double CurrentRssMb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return -1;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

void ResetCudaPeak(at::Device device) {
#ifdef FRAMECAST_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

double PeakMb(at::Device device) {
#ifdef FRAMECAST_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
               .peak /
           1048576.0;
  }
#endif
  (void)device;
  return PeakRssMb();
}

std::string CudaDeviceName() {
#ifdef FRAMECAST_WITH_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) return prop.name;
#endif
  return "";
}

// A peer's JSON result line (nlohmann-json): the number or string at `key`; -1 / "" when the
// line is not a JSON object or has no such value.
nlohmann::json ParsePeerJson(const std::string& json) {
  auto doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  return doc.is_object() ? doc : nlohmann::json::object();
}

double JsonNumber(const std::string& json, const std::string& key) {
  const auto doc = ParsePeerJson(json);
  auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? it->get<double>() : -1;
}

std::string JsonString(const std::string& json, const std::string& key) {
  const auto doc = ParsePeerJson(json);
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

// The effective config (overrides and defaults applied) in a temporary file for the peers.
class TempConfig {
 public:
  static Result<TempConfig> Write(const std::string& text) {
    char name[] = "/tmp/framecast-bench-XXXXXX.pbtxt";
    const int fd = mkstemps(name, 6);
    if (fd < 0) return Status::IoError("cannot create a temporary config in /tmp");
    const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    TempConfig t;
    t.path_ = name;
    if (!ok) return Status::IoError(t.path_ + ": cannot write the effective config");
    return t;
  }
  TempConfig() = default;
  TempConfig(TempConfig&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempConfig& operator=(TempConfig&&) = delete;
  ~TempConfig() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs a peer command; returns its last output line that starts with '{' (its JSON result).
Result<std::string> RunPython(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return Status::IoError("cannot start " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  std::string json;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    if (out[start] == '{') json = out.substr(start, end - start);
    start = end + 1;
  }
  if (rc != 0 || json.empty()) {
    const std::string tail = out.size() > 600 ? out.substr(out.size() - 600) : out;
    return Status::Internal("the PyTorch peer failed (" + cmd + "): " + tail);
  }
  return json;
}

std::string PeerCommand(const Options& o, const std::string& script, const std::string& cfg,
                        const std::string& extra) {
  return "'" + o.python + "' '" + std::string(FRAMECAST_SOURCE_DIR) + "/bench/peers/" + script +
         "' '" + cfg + "' --batch " + std::to_string(o.batch) + " --precision " + o.precision +
         " --threads " + std::to_string(o.threads) + extra;
}

struct FlopCount {
  double flops = -1;
  std::string method;  // or why there is no count
};

// One peer row; with `flops`, the peer also counts the FLOPs of one step (after its timing and
// peak memory) into *flops.
Result<Row> RunPeer(const Options& o, const std::string& script, const std::string& cfg,
                    const std::string& level_arg, const std::string& mode, bool cvg,
                    FlopCount* flops) {
  const std::string cmd = PeerCommand(o, script, cfg,
                                      level_arg + " --steps " + std::to_string(o.steps) +
                                          " --warmup " + std::to_string(o.warmup) + " --device " +
                                          o.dev + (mode == "compile" ? " --compile" : "") +
                                          (flops != nullptr ? " --with-flops" : ""));
  FC_ASSIGN_OR_RETURN(std::string json, RunPython(cmd));
  if (flops != nullptr && JsonNumber(json, "flops") > 0)
    *flops = FlopCount{JsonNumber(json, "flops"), JsonString(json, "flops_method")};
  Row r;
  r.impl = "pytorch " + mode;
  r.na = JsonString(json, "error");
  if (!r.na.empty()) return r;
  r.ms = JsonNumber(json, cvg ? "ms_per_iter" : "ms_per_step");
  r.per_s = JsonNumber(json, cvg ? "clips_per_s" : "sequences_per_s");
  r.peak_mb = JsonNumber(json, "peak_mem_mb");
  r.params_g = static_cast<int64_t>(JsonNumber(json, cvg ? "params_g" : "params"));
  r.params_d = cvg ? static_cast<int64_t>(JsonNumber(json, "params_d")) : -1;
  return r;
}

FlopCount CountFlops(const Options& o, const std::string& script, const std::string& cfg,
                     const std::string& level_arg) {
  auto json = RunPython(PeerCommand(o, script, cfg, level_arg + " --count-flops"));
  if (!json.ok()) return FlopCount{-1, "not counted: " + json.status().message().substr(0, 200)};
  return FlopCount{JsonNumber(json.value(), "flops"), JsonString(json.value(), "flops_method")};
}

// Times `step` (warmup + steps calls) on the device; median ms of the timed calls.
Result<double> MedianMs(const Options& o, const std::function<Status()>& step) {
  std::vector<double> ms;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    if (o.device.is_cuda()) torch::cuda::synchronize(o.device.index());
    const auto t0 = std::chrono::steady_clock::now();
    FC_RETURN_IF_ERROR(step());
    if (o.device.is_cuda()) torch::cuda::synchronize(o.device.index());
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= o.warmup) ms.push_back(dt);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// framecast's row: the family's own step (Family::MakeBenchTrainer) of `stage`.
Result<Row> RunOurs(const train::Family& family, const framecast::RunConfig& c, int stage,
                    const Options& o) {
  Row r;
  r.impl = "framecast";
  r.base_mb = CurrentRssMb();
  ResetCudaPeak(o.device);
  FC_ASSIGN_OR_RETURN(train::BenchTrainer b, family.MakeBenchTrainer(c, stage, o.device, o.batch));
  int64_t step = 0;
  // The timeline (util/timeline.h) records the timed steps' spans; reported as shares below.
  struct Off {
    ~Off() { timeline::Disable(); }
  } off;
  auto timed = MedianMs(o, [&]() -> Status {
    if (step == o.warmup) timeline::Enable(0, 1 << 20);
    timeline::Span span("step");
    auto rep = b.trainer->Step(stage, step, step);
    ++step;
    return rep.status();
  });
  FC_RETURN_IF_ERROR(timed.status());
  r.ms = timed.value();
  std::map<std::string, double> us;
  double step_us = 0;
  for (const auto& e : timeline::Events()) {
    if (e.track != timeline::kMainTrack) continue;  // per-bucket all-reduces overlap the step
    if (std::string(e.name) == "step")
      step_us += static_cast<double>(e.dur_us);
    else
      us[e.name] += static_cast<double>(e.dur_us);
  }
  std::vector<std::pair<double, std::string>> order;
  for (const auto& [n, v] : us) order.emplace_back(-v, n);
  std::sort(order.begin(), order.end());
  for (const auto& [v, n] : order) {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%s%s %.1f%%", r.spans.empty() ? "" : ", ", n.c_str(),
                  step_us > 0 ? -100.0 * v / step_us : 0.0);
    r.spans += buf;
  }
  r.per_s = o.batch * 1000.0 / r.ms;
  r.peak_mb = PeakMb(o.device);
  r.params_g = b.params;
  r.params_d = b.params_second;
  return r;
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// Prints the FLOP/peak header lines and the table; returns false if parameter counts differ.
bool PrintRows(const std::vector<Row>& rows, const FlopCount& flops, const PeakFlops& peak,
               const Options& o, bool cvg, const std::string& tag) {
  if (flops.flops > 0) {
    std::printf(
        "FLOPs per %s: %.4g GFLOP (FlopCounterMode in the PyTorch peer: conv/matmul, forward and "
        "backward; %s); one count for every row: the architectures are identical\n",
        cvg ? "iteration" : "step", flops.flops / 1e9, flops.method.c_str());
  } else {
    std::printf("FLOPs: %s\n", flops.method.c_str());
  }
  if (peak.tflops > 0) {
    std::printf("peak: %.4g TFLOP/s, %s\n", peak.tflops, peak.what.c_str());
  } else {
    std::printf("peak: unknown%s: MFU n/a (give --peak-tflops)\n",
                o.device.is_cuda() ? " for this GPU" : " on the CPU");
  }
  std::printf("%-16s %10s %10s %12s %8s %11s %11s %10s\n", "impl", cvg ? "ms/iter" : "ms/step",
              cvg ? "clips/s" : "seq/s", o.device.is_cuda() ? "peak GPU MB" : "peak RSS MB", "MFU",
              cvg ? "params G" : "params", cvg ? "params D" : "", "fc speedup");
  bool same = true;
  for (const Row& r : rows) {
    if (!r.na.empty()) {
      std::printf("%-16s n/a: %s\n", r.impl.c_str(), r.na.c_str());
      continue;
    }
    const std::string mfu =
        flops.flops > 0 && peak.tflops > 0
            ? Fmt("%.2f%%", 100.0 * flops.flops / (r.ms / 1e3) / (peak.tflops * 1e12))
            : "n/a";
    const std::string speed = &r == &rows[0] ? "1.00x" : Fmt("%.2fx", r.ms / rows[0].ms);
    std::printf("%-16s %10.1f %10.3f %12.0f %8s %11lld %11s %10s\n", r.impl.c_str(), r.ms, r.per_s,
                r.peak_mb, mfu.c_str(), static_cast<long long>(r.params_g),
                r.params_d >= 0 ? std::to_string(r.params_d).c_str() : "", speed.c_str());
    std::printf(
        "RESULT %s impl=%s ms=%.4f per_s=%.4f peak_mb=%.1f base_mb=%.1f params_g=%lld "
        "params_d=%lld flops=%.6g\n",
        tag.c_str(), r.impl == "framecast" ? "framecast" : r.impl.substr(8).c_str(), r.ms, r.per_s,
        r.peak_mb, r.base_mb, static_cast<long long>(r.params_g),
        static_cast<long long>(r.params_d), flops.flops);
    if (&r != &rows[0] && (r.params_g != rows[0].params_g || r.params_d != rows[0].params_d)) {
      LogError("parameter counts differ: framecast " + std::to_string(rows[0].params_g) + "/" +
               std::to_string(rows[0].params_d) + ", " + r.impl + " " + std::to_string(r.params_g) +
               "/" + std::to_string(r.params_d));
      same = false;
    }
  }
  if (!o.device.is_cuda() && rows[0].base_mb >= 0) {
    std::printf(
        "framecast RSS before building the model (libraries and config loaded): %.0f MB; "
        "peak RSS is the process's high-water mark\n",
        rows[0].base_mb);
  }
  return same;
}

// Turns a bare "--peer" (last, or followed by something other than 0/1) into "--peer=1".
std::vector<char*> NormalizeArgs(int argc, char** argv, std::vector<std::string>* storage) {
  storage->reserve(argc);
  std::vector<char*> out;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--peer") {
      const std::string next = i + 1 < argc ? argv[i + 1] : "";
      if (next != "0" && next != "1") a = "--peer=1";
    }
    storage->push_back(a);
  }
  for (auto& s : *storage) out.push_back(s.data());
  return out;
}

int Usage(const Status& st, const Flags& flags) {
  std::fprintf(stderr, "error: %s\nusage: framecast bench step CONFIG [flags]\nflags:\n%s",
               st.message().c_str(), flags.Usage().c_str());
  return 2;
}

}  // namespace

int ModelStepCommand(int argc_in, char** argv_in, int first) {
  std::vector<std::string> storage;
  std::vector<char*> args = NormalizeArgs(argc_in, argv_in, &storage);
  const int argc = static_cast<int>(args.size());
  char** argv = args.data();

  Flags flags("framecast bench step CONFIG");
  flags.AddList("set", "override one config field (e.g. performance.precision=BF16)");
  flags.Add("level", "1",
            "cvg: the level to train, 1-based, or 'all' (each level in turn); default 1");
  flags.Add("batch", "0",
            "per-rank batch (0: CVG 8 clips; HVRNN data.global_batch / 8, at least 1); "
            "data.global_batch is set to it, accumulation_steps to 1");
  flags.Add("steps", "5", "timed steps");
  flags.Add("warmup", "2", "untimed steps");
  flags.Add("threads", "1", "intra-op threads (every implementation)");
  flags.Add("device", "cpu", "cpu | cuda");
  flags.AddBool("peer", true, "also run the PyTorch peer (--no-peer: framecast only)");
  flags.Add("peer-mode", "eager",
            "eager | compile | both: the peer in PyTorch eager, under torch.compile, or both rows");
  flags.Add("peak-tflops", "0",
            "peak TFLOP/s for MFU (0: from the GPU's name; MFU is n/a on the CPU unless given)");
  flags.AddBool("flops", true, "count the FLOPs (MFU); --no-flops: skip the count (MFU n/a)");
  flags.Add("python", FRAMECAST_DEFAULT_PYTHON, "Python with torch for the peer");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1)
    st = Status::InvalidArgument("expected one CONFIG");
  auto batch = flags.Int("batch"), steps = flags.Int("steps"), warmup = flags.Int("warmup");
  auto threads = flags.Int("threads");
  auto peer = flags.Bool("peer"), count_flops = flags.Bool("flops");
  auto peak_tflops = flags.Double("peak-tflops");
  for (const Status& s : {batch.status(), steps.status(), warmup.status(), threads.status(),
                          peer.status(), peak_tflops.status(), count_flops.status()}) {
    if (st.ok() && !s.ok()) st = s;
  }
  Options o;
  o.dev = flags.Str("device");
  if (st.ok() && o.dev != "cpu" && o.dev != "cuda")
    st = Status::InvalidArgument("--device: '" + o.dev + "' is not cpu or cuda");
  if (st.ok() && steps.value() < 1) st = Status::InvalidArgument("--steps: must be >= 1");
  if (st.ok() && (warmup.value() < 0 || batch.value() < 0))
    st = Status::InvalidArgument("--warmup and --batch: must be >= 0");
  const std::string mode = flags.Str("peer-mode");
  if (st.ok() && mode != "eager" && mode != "compile" && mode != "both")
    st = Status::InvalidArgument("--peer-mode: '" + mode + "' is not eager, compile or both");
  if (!st.ok()) return Usage(st, flags);
  // --level: a number or "all"; checked against the config below.
  const std::string level_flag = flags.Str("level");
  int level_number = 0;
  if (level_flag != "all") {
    char* end = nullptr;
    const long v = std::strtol(level_flag.c_str(), &end, 10);
    if (level_flag.empty() || *end != '\0' || v < 1) {
      std::fprintf(stderr, "error: --level: '%s' is not a level number (1, 2, ...) or 'all'\n",
                   level_flag.c_str());
      return 2;
    }
    level_number = static_cast<int>(v);
  }

  o.path = flags.positional()[0];
  o.python = flags.Str("python");
  o.steps = steps.value();
  o.warmup = warmup.value();
  o.threads = std::max<int64_t>(1, threads.value());
  o.peak_tflops = peak_tflops.value();
  if (peer.value() != 0) {
    if (mode != "compile") o.peer_modes.push_back("eager");
    if (mode != "eager") o.peer_modes.push_back("compile");
  }
  // The dataset need not be on this machine: the benchmark reads no data.
  auto loaded = config::LoadRunConfig(o.path, flags.List("set"), /*validate=*/true,
                                      /*check_files=*/false);
  if (!loaded.ok()) {
    LogError(loaded.status().message());
    return 1;
  }
  framecast::RunConfig c = loaded.value();
  auto family_or = train::FamilyFor(c);
  if (!family_or.ok()) {
    LogError(o.path + ": " + family_or.status().message());
    return 1;
  }
  const train::Family& family = *family_or.value();
  if (family.bench_peer().empty()) {
    std::string have;
    for (const train::Family* f : train::Families())
      if (!f->bench_peer().empty()) have += (have.empty() ? "" : ", ") + f->name();
    LogError(o.path + ": model: bench step has no step benchmark for the " + family.name() +
             " family (it has: " + have + ")");
    return 1;
  }
  const bool cvg = family.bench_per_iteration();  // the peer reports GAN iterations
  if (o.dev == "cuda" && !torch::cuda::is_available()) {
    LogError("--device cuda: no CUDA device is visible");
    return 1;
  }
  o.device = o.dev == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  o.batch = batch.value() > 0 ? batch.value() : family.bench_default_batch(c);
  auto stages = family.BenchStages(c, flags.Has("level") ? level_number : -1, o.batch);
  if (!stages.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", o.path.c_str(), stages.status().message().c_str());
    return 2;
  }
  c.mutable_data()->set_global_batch(o.batch);
  c.set_accumulation_steps(1);
  c.mutable_logging()->set_every_steps(kNever);
  for (auto& s : *c.mutable_stages()) s.set_steps(kNever);
  const std::string text = config::ToText(c);
  // The precision the config asks for (performance.precision), passed to the peers.
  o.precision = text.find("precision: BF16") != std::string::npos ? "bf16" : "fp32";
  auto tmp = TempConfig::Write(text);
  if (!tmp.ok()) {
    LogError(tmp.status().message());
    return 1;
  }
  at::set_num_threads(static_cast<int>(o.threads));
  const std::string device_name = o.device.is_cuda() ? CudaDeviceName() : "";
  PeakFlops peak = PeakFlopsFor(device_name, o.precision);
  if (o.peak_tflops > 0) peak = PeakFlops{o.peak_tflops, "given by --peak-tflops"};
  const std::string script = family.bench_peer();

  bool all_same = true;
  for (size_t li = 0; li < stages.value().size(); ++li) {
    const train::BenchStage& st = stages.value()[li];
    const int l = st.stage;
    const std::string& level_arg = st.peer_args;
    std::vector<Row> rows;
    auto ours = RunOurs(family, c, l, o);
    if (!ours.ok()) {
      LogError(o.path + ": " + ours.status().message());
      return 1;
    }
    rows.push_back(ours.value());
    // The first peer run also counts the FLOPs; without a peer, a counting run of its own.
    FlopCount flops;
    for (const std::string& m : o.peer_modes) {
      auto theirs = RunPeer(o, script, tmp.value().path(), level_arg, m, cvg,
                            flops.flops > 0 || count_flops.value() == 0 ? nullptr : &flops);
      if (!theirs.ok()) {
        LogError(theirs.status().message());
        return 1;
      }
      rows.push_back(theirs.value());
    }
    if (count_flops.value() == 0) {
      flops.method = "not counted (--flops 0)";
    } else if (flops.flops <= 0) {
      flops = CountFlops(o, script, tmp.value().path(), level_arg);
    }
    const std::string dev_words = o.dev + (device_name.empty() ? "" : " (" + device_name + ")") +
                                  ", " + std::to_string(o.threads) + " thread(s), " + o.precision +
                                  (o.precision == "bf16" ? " (autocast in the peers)" : "") +
                                  ", median of " + std::to_string(o.steps) + " step(s) after " +
                                  std::to_string(o.warmup) + " warm-up";
    std::printf("%s (%s); %s\n", st.what.c_str(), o.path.c_str(), dev_words.c_str());
    if (!o.device.is_cuda() && li > 0)
      std::printf(
          "(peak RSS of framecast includes the earlier stages run in this process: run one "
          "--level per process to compare memory)\n");
    const std::string tag =
        "family=" + family.name() + (level_arg.empty() ? "" : " level=" + std::to_string(l + 1));
    all_same = PrintRows(rows, flops, peak, o, cvg, tag) && all_same;
    if (!rows[0].spans.empty())
      std::printf(
          "framecast spans, share of the timed steps (host time; nested spans overlap): %s\n",
          rows[0].spans.c_str());
    if (!cvg) std::printf("RESULT framecast_ms_per_step=%.4f\n", rows[0].ms);
    std::fflush(stdout);
  }
  return all_same ? 0 : 1;
}

}  // namespace fc::bench
