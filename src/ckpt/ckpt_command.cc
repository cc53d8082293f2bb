#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ckpt/checkpoint.h"
#include "ckpt/commands.h"
#include "util/files.h"

namespace fc::ckpt {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

std::string Human(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30))
    std::snprintf(buf, sizeof(buf), "%.2f GiB", b / double(1ull << 30));
  else if (b >= (1ull << 20))
    std::snprintf(buf, sizeof(buf), "%.2f MiB", b / double(1ull << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof(buf), "%.1f KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

uint64_t TotalBytes(const framecast::ckpt::Manifest& m) {
  uint64_t t = 0;
  for (const auto& r : m.tensors()) t += r.length();
  return t;
}

std::string StageOf(const framecast::ckpt::Manifest& m) {
  if (m.stage_index() < m.stages_size()) return m.stages(m.stage_index()).name();
  return std::to_string(m.stage_index());
}

int List(const std::string& run_dir) {
  std::string dir = run_dir + "/checkpoints";
  if (!Exists(dir))
    return Fail(Status::NotFound(run_dir + ": no checkpoints/ directory (not a run directory?)"));
  auto steps = CommittedSteps(dir);
  std::printf("%-16s %8s %-12s %8s %6s %12s  %s\n", "step dir", "global", "stage", "step", "ranks",
              "bytes", "written");
  for (const auto& [step, path] : steps) {
    auto m = ReadManifest(path);
    if (!m.ok()) {
      std::printf("%-16s %8lld  damaged: %s\n", StepDirName(step).c_str(),
                  static_cast<long long>(step), m.status().message().c_str());
      continue;
    }
    std::time_t t = static_cast<std::time_t>(m.value().created_unix_ms() / 1000);
    char when[32];
    std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
    std::printf("%-16s %8lld %-12s %8lld %6d %12s  %s UTC\n", StepDirName(step).c_str(),
                static_cast<long long>(m.value().global_step()), StageOf(m.value()).c_str(),
                static_cast<long long>(m.value().step()), m.value().world_size(),
                Human(TotalBytes(m.value())).c_str(), when);
  }
  if (steps.empty()) std::printf("(no committed steps)\n");
  return 0;
}

int Inspect(const std::string& step_dir) {
  auto m = ReadManifest(step_dir);
  if (!m.ok()) return Fail(m.status());
  const auto& mm = m.value();
  std::printf("run %s, model %s, framecast %s, format %u\n", mm.run_name().c_str(),
              mm.model_family().c_str(), mm.framecast_version().c_str(), mm.format_version());
  std::printf("global step %lld, stage %d (%s) step %lld, data position %lld, config digest %s\n",
              static_cast<long long>(mm.global_step()), mm.stage_index(), StageOf(mm).c_str(),
              static_cast<long long>(mm.step()), static_cast<long long>(mm.data_position()),
              mm.config_digest().c_str());
  for (const auto& s : mm.stages()) {
    std::string eval;
    if (s.has_best()) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "; best evaluation %.6g at step %lld, %d since",
                    s.best_value(), static_cast<long long>(s.best_step()), s.evals_since_best());
      eval = buf;
    }
    std::printf("  stage %-12s %-8s %lld steps done%s%s\n", s.name().c_str(),
                framecast::ckpt::StageStatus::State_Name(s.state()).c_str(),
                static_cast<long long>(s.steps_done()), s.stopped_early() ? " (stopped early)" : "",
                eval.c_str());
  }
  std::printf("written by %d rank(s), %d tensors, %s\n", mm.world_size(), mm.tensors_size(),
              Human(TotalBytes(mm)).c_str());
  std::printf("%-44s %-9s %-20s %12s %-26s %10s %8s\n", "tensor", "dtype", "shape", "bytes", "file",
              "offset", "crc32c");
  for (const auto& r : mm.tensors()) {
    std::string shape = "[";
    for (int i = 0; i < r.shape_size(); ++i) shape += (i ? "," : "") + std::to_string(r.shape(i));
    shape += "]";
    std::printf("%-44s %-9s %-20s %12llu %-26s %10llu %08x\n", r.name().c_str(), r.dtype().c_str(),
                shape.c_str(), static_cast<unsigned long long>(r.length()), r.file().c_str(),
                static_cast<unsigned long long>(r.offset()), r.crc32c());
  }
  return 0;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The safetensors dtype name of a checkpoint tensor, or "" for one the format has no name for.
std::string SafetensorsDtype(at::ScalarType t) {
  switch (t) {
    case at::kDouble:
      return "F64";
    case at::kFloat:
      return "F32";
    case at::kHalf:
      return "F16";
    case at::kBFloat16:
      return "BF16";
    case at::kLong:
      return "I64";
    case at::kInt:
      return "I32";
    case at::kShort:
      return "I16";
    case at::kChar:
      return "I8";
    case at::kByte:
      return "U8";
    case at::kBool:
      return "BOOL";
    default:
      return "";
  }
}

// Stages whose training had ended (DONE) at this step: a cascade samples only those levels.
int FinishedStages(const framecast::ckpt::Manifest& m) {
  int n = 0;
  for (const auto& st : m.stages()) n += st.state() == framecast::ckpt::StageStatus::DONE;
  return n;
}

// The safetensors layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header (name -> dtype, shape, [begin, end) in the data area; "__metadata__" holds
// strings), padded with spaces to a multiple of 8, then the tensors' bytes, contiguous,
// little-endian, in header order. The metadata carries what a loader needs to rebuild the model:
// the family, the effective config text and the step.
Result<std::string> SafetensorsBytes(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                     const framecast::ckpt::Manifest& m) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"},
                            {"framecast.family", m.model_family()},
                            {"framecast.run_name", m.run_name()},
                            {"framecast.global_step", std::to_string(m.global_step())},
                            {"framecast.stage_index", std::to_string(m.stage_index())},
                            {"framecast.finished_stages", std::to_string(FinishedStages(m))},
                            {"framecast.config_digest", m.config_digest()},
                            {"framecast.config", m.config_text()}};
  uint64_t offset = 0;
  std::vector<at::Tensor> data;
  for (const auto& [name, t] : tensors) {
    const std::string dtype = SafetensorsDtype(t.scalar_type());
    if (dtype.empty())
      return Status::InvalidArgument("tensor " + name + " has dtype " +
                                     std::string(c10::toString(t.scalar_type())) +
                                     ", which safetensors cannot hold");
    at::Tensor c = t.contiguous().cpu();
    const uint64_t n = c.numel() * c.element_size();
    header[name] = {
        {"dtype", dtype}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(std::move(c));
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  const uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  bytes += json;
  bytes.reserve(bytes.size() + offset);
  for (const auto& c : data)
    bytes.append(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
  return bytes;
}

// torch.save's zip layout with a plain pickled dict: no TorchScript type tags, so Python's
// torch.load opens it with its default weights_only=True.
std::string TorchSaveBytes(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [n, t] : tensors) dict.insert(n, t);
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* buf, size_t n) { pickled.insert(pickled.end(), buf, buf + n); }, nullptr,
      nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(c10::IValue(dict));
  pickler.stop();
  std::string bytes;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, size_t n) -> size_t {
      bytes.append(static_cast<const char*>(buf), n);
      return n;
    });
    torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(),
                                       writer);
    writer.writeEndOfFile();
  }
  return bytes;
}

int Export(const std::string& step_dir, const std::string& out) {
  const bool safetensors = EndsWith(out, ".safetensors");
  if (!safetensors && !EndsWith(out, ".pt") && !EndsWith(out, ".pth")) {
    std::fprintf(stderr,
                 "error: ckpt export: %s: the output's extension picks the format: .safetensors, "
                 ".pt or .pth (torch.load)\n",
                 out.c_str());
    return 2;
  }
  auto m = ReadManifest(step_dir);
  if (!m.ok()) return Fail(m.status());
  std::vector<std::string> names;
  for (const auto& r : m.value().tensors()) {
    if (r.name().rfind("model/", 0) == 0) names.push_back(r.name());
  }
  auto tensors = ReadTensors(step_dir, m.value(), names);
  if (!tensors.ok()) return Fail(tensors.status());
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (auto& [n, t] : tensors.value())
    named.emplace_back(n.substr(std::string("model/").size()), t);
  std::string bytes;
  if (safetensors) {
    auto b = SafetensorsBytes(named, m.value());
    if (!b.ok()) return Fail(Status::InvalidArgument(step_dir + ": " + b.status().message()));
    bytes = std::move(b.value());
  } else {
    bytes = TorchSaveBytes(named);
  }
  // Write next to the target, then rename: an existing OUT is never left half-written.
  Status s = WriteFileAtomic(out, bytes);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %zu tensors (%s, %s) to %s\n", names.size(), Human(bytes.size()).c_str(),
              safetensors ? "safetensors" : "torch.load", out.c_str());
  return 0;
}

}  // namespace

int CkptCommand(int argc, char** argv, int first) {
  const char* usage =
      "usage: framecast ckpt list RUN_DIR | verify STEP_DIR | inspect STEP_DIR | export STEP_DIR "
      "OUT.pt|OUT.safetensors\n";
  for (int i = first; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(usage, stdout);
      std::fputs(
          "  list RUN_DIR       the committed steps of a run and what each holds\n"
          "  verify STEP_DIR    every tensor's size and CRC-32C, the manifest's checksum\n"
          "  inspect STEP_DIR   the manifest: progress, stages, tensors with dtype, shape, CRC\n"
          "  export STEP_DIR OUT.pt   the model's tensors as a dict for torch.load\n"
          "  export STEP_DIR OUT.safetensors   the same in safetensors, with the family, config\n"
          "                     and step in its metadata (python/framecast loads either)\n",
          stdout);
      return 0;
    }
  }
  if (first + 1 >= argc) {
    std::fputs(usage, stderr);
    return 2;
  }
  const std::string sub = argv[first], arg = argv[first + 1];
  if (sub == "list" && argc == first + 2) return List(arg);
  if (sub == "inspect" && argc == first + 2) return Inspect(arg);
  if (sub == "verify" && argc == first + 2) {
    Status s = VerifyCheckpoint(arg);
    if (!s.ok()) return Fail(s);
    auto m = ReadManifest(arg);
    std::printf("%s: OK (%d tensors, %s, every CRC32C matches)\n", arg.c_str(),
                m.value().tensors_size(), Human(TotalBytes(m.value())).c_str());
    return 0;
  }
  if (sub == "export" && argc == first + 3) return Export(arg, argv[first + 2]);
  std::fputs(usage, stderr);
  return 2;
}

}  // namespace fc::ckpt
