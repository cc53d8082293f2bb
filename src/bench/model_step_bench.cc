// framecast bench step CONFIG: one training step of a config's model (forward, backward, optimizer)
// on one device, timed, next to the same step in PyTorch Python eager
// (bench/peers/<family>_step.py) run by this command on the same machine and threads, so both rows
// come from one run.
//
// Both sides build the model from the same config, draw random clips of the config's shapes
// once before timing, and report the median ms/step over --steps after --warmup, sequences/s, and
// peak memory: the CUDA caching allocator's peak on a GPU, the process's peak RSS on the CPU.
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#ifdef FRAMECAST_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "bench/commands.h"
#include "config/run_config.h"
#include "models/hvrnn/hvrnn.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::bench {
namespace {

struct Row {
  std::string impl;
  double ms = 0, seq_per_s = 0, peak_mb = 0;
  int64_t params = 0;
};

double PeakRssMb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

double JsonNumber(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return -1;
  const auto colon = json.find(':', at);
  return colon == std::string::npos ? -1 : std::strtod(json.c_str() + colon + 1, nullptr);
}

Result<Row> RunPeer(const std::string& python, const std::string& script, const std::string& cfg,
                    int64_t batch, int64_t steps, int64_t warmup, int64_t threads,
                    const std::string& device) {
  const std::string cmd = "'" + python + "' '" + script + "' '" + cfg + "' --batch " +
                          std::to_string(batch) + " --steps " + std::to_string(steps) +
                          " --warmup " + std::to_string(warmup) + " --threads " +
                          std::to_string(threads) + " --device " + device;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return Status::IoError("cannot start " + cmd);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  const auto brace = out.rfind('{');
  if (rc != 0 || brace == std::string::npos)
    return Status::Internal("the PyTorch peer failed (" + cmd + "): " + out.substr(0, 400));
  const std::string json = out.substr(brace);
  Row r;
  r.impl = "pytorch eager";
  r.ms = JsonNumber(json, "ms_per_step");
  r.seq_per_s = JsonNumber(json, "sequences_per_s");
  r.peak_mb = JsonNumber(json, "peak_mem_mb");
  r.params = static_cast<int64_t>(JsonNumber(json, "params"));
  return r;
}

Result<Row> RunHvrnn(const framecast::RunConfig& c, int64_t batch, int64_t steps, int64_t warmup,
                     at::Device device) {
  Row r;
  r.impl = "framecast";
  Status st = TryTorch([&] {
    torch::manual_seed(c.seed());
    models::hvrnn::Hvrnn model(c.model().hvrnn());
    model->to(device);
    for (const auto& p : model->parameters()) r.params += p.numel();
    const auto& oc = c.optimizers(0);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(oc.lr())
                                                    .betas({oc.adam().beta1(), oc.adam().beta2()})
                                                    .eps(oc.adam().eps())
                                                    .weight_decay(oc.weight_decay()));
    const int64_t d = c.data().context_frames(), t = c.data().predicted_frames();
    const int64_t ch = c.model().hvrnn().image_channels(), s = c.model().hvrnn().image_size();
    at::Tensor clip = at::rand({batch, d + t, ch, s, s}, at::TensorOptions().device(device));
#ifdef FRAMECAST_WITH_CUDA
    if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
    std::vector<double> ms;
    for (int64_t i = 0; i < warmup + steps; ++i) {
      if (device.is_cuda()) torch::cuda::synchronize(device.index());
      auto t0 = std::chrono::steady_clock::now();
      opt.zero_grad();
      auto out = model->forward_train(clip, d, 1.0);
      out.loss.backward();
      opt.step();
      if (device.is_cuda()) torch::cuda::synchronize(device.index());
      const double dt =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= warmup) ms.push_back(dt);
    }
    std::sort(ms.begin(), ms.end());
    r.ms = ms[ms.size() / 2];
    r.seq_per_s = batch * 1000.0 / r.ms;
    r.peak_mb = PeakRssMb();
#ifdef FRAMECAST_WITH_CUDA
    if (device.is_cuda()) {
      const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
      r.peak_mb =
          stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
              .peak /
          1048576.0;
    }
#endif
  });
  if (!st.ok()) return st;
  return r;
}

}  // namespace

int ModelStepCommand(int argc, char** argv, int first) {
  Flags flags("framecast bench step CONFIG");
  flags.AddList("set", "override one config field");
  flags.Add("batch", "0", "sequences per step (0: data.global_batch / 8, at least 1)");
  flags.Add("steps", "5", "timed steps");
  flags.Add("warmup", "2", "untimed steps");
  flags.Add("threads", "1", "intra-op threads (both implementations)");
  flags.Add("device", "cpu", "cpu | cuda");
  flags.Add("peer", "1", "1: also run the PyTorch eager peer; 0: framecast only");
  flags.Add("python", FRAMECAST_DEFAULT_PYTHON, "Python with torch for the peer");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1)
    st = Status::InvalidArgument("expected one CONFIG");
  auto batch = flags.Int("batch"), steps = flags.Int("steps"), warmup = flags.Int("warmup");
  auto threads = flags.Int("threads"), peer = flags.Int("peer");
  for (const Status& s :
       {batch.status(), steps.status(), warmup.status(), threads.status(), peer.status()}) {
    if (st.ok() && !s.ok()) st = s;
  }
  const std::string dev = flags.Str("device");
  if (st.ok() && dev != "cpu" && dev != "cuda")
    st = Status::InvalidArgument("--device: '" + dev + "' is not cpu or cuda");
  if (st.ok() && steps.value() < 1) st = Status::InvalidArgument("--steps: must be >= 1");
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nusage: framecast bench step CONFIG [flags]\nflags:\n%s",
                 st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  const std::string path = flags.positional()[0];
  auto cfg = config::LoadRunConfig(path, flags.List("set"));
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  const auto& c = cfg.value();
  if (!c.model().has_hvrnn()) {
    LogError(path + ": model: bench step CONFIG supports the hvrnn family");
    return 1;
  }
  if (dev == "cuda" && !torch::cuda::is_available()) {
    LogError("--device cuda: no CUDA device is visible");
    return 1;
  }
  const int64_t b =
      batch.value() > 0 ? batch.value() : std::max<int64_t>(1, c.data().global_batch() / 8);
  at::set_num_threads(static_cast<int>(std::max<int64_t>(1, threads.value())));
  at::Device device = dev == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  std::vector<Row> rows;
  auto ours = RunHvrnn(c, b, steps.value(), warmup.value(), device);
  if (!ours.ok()) {
    LogError(path + ": " + ours.status().message());
    return 1;
  }
  rows.push_back(ours.value());
  if (peer.value() != 0) {
    auto theirs = RunPeer(flags.Str("python"),
                          std::string(FRAMECAST_SOURCE_DIR) + "/bench/peers/hvrnn_step.py", path, b,
                          steps.value(), warmup.value(), threads.value(), dev);
    if (!theirs.ok()) {
      LogError(theirs.status().message());
      return 1;
    }
    rows.push_back(theirs.value());
  }
  std::printf(
      "hvrnn step: %s, %lld sequences of %d+%d frames at %dx%dx%d, device %s, %lld "
      "thread(s), median of %lld steps after %lld warm-up\n",
      path.c_str(), static_cast<long long>(b), c.data().context_frames(),
      c.data().predicted_frames(), c.model().hvrnn().image_size(), c.model().hvrnn().image_size(),
      c.model().hvrnn().image_channels(), dev.c_str(), static_cast<long long>(threads.value()),
      static_cast<long long>(steps.value()), static_cast<long long>(warmup.value()));
  std::printf("%-14s %10s %10s %12s %12s\n", "impl", "ms/step", "seq/s",
              dev == "cuda" ? "peak GPU MB" : "peak RSS MB", "params");
  for (const Row& r : rows) {
    std::printf("%-14s %10.1f %10.2f %12.0f %12lld\n", r.impl.c_str(), r.ms, r.seq_per_s, r.peak_mb,
                static_cast<long long>(r.params));
  }
  if (rows.size() == 2) {
    std::printf("framecast speed / pytorch speed: %.2fx\n", rows[1].ms / rows[0].ms);
    if (rows[0].params != rows[1].params) {
      LogError("parameter counts differ: framecast " + std::to_string(rows[0].params) +
               ", pytorch " + std::to_string(rows[1].params));
      return 1;
    }
  }
  std::printf("RESULT framecast_ms_per_step=%.4f\n", rows[0].ms);
  return 0;
}

}  // namespace fc::bench
