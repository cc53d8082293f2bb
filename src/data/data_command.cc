#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>

#include "config/run_config.h"
#include "data/commands.h"
#include "data/prepare.h"
#include "data/prepared.h"
#include "data/rng.h"
#include "data/sources.h"
#include "media/gif.h"
#include "media/video_writer.h"
#include "util/files.h"
#include "util/flags.h"

namespace fc::data {
namespace {

const char* kUsage =
    "usage: framecast data prepare --format frames|video --in RAW_DIR --out DATASET_DIR [flags]\n"
    "       framecast data preview (DATASET_DIR | RUN_CONFIG.pbtxt) --out FILE.gif|FILE.mp4 "
    "[flags]\n"
    "       framecast data info DATASET_DIR\n"
    "       framecast data verify DATASET_DIR\n"
    "`framecast data <sub> --help` lists the flags; recipes: src/data/README.md\n";

int Usage(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  return 2;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

bool WantsHelp(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) return true;
  }
  return false;
}

// Bare boolean flags ("--overwrite") become "--overwrite=true" for the Flags parser.
std::vector<std::string> ExpandBooleans(int argc, char** argv, int first,
                                        const std::vector<std::string>& booleans) {
  std::vector<std::string> out;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    bool bare = false;
    for (const auto& b : booleans) bare = bare || a == "--" + b;
    if (bare) {
      std::string next = i + 1 < argc ? argv[i + 1] : "";
      if (next == "true" || next == "false") {
        out.push_back(a + "=" + next);
        ++i;
      } else {
        out.push_back(a + "=true");
      }
    } else {
      out.push_back(a);
    }
  }
  return out;
}

Result<bool> Bool(const Flags& f, const std::string& name) {
  const std::string v = f.Str(name);
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Status::InvalidArgument("--" + name + " expects true or false, got '" + v + "'");
}

int PrepareCmd(int argc, char** argv, int first) {
  Flags f("framecast data prepare");
  f.SetUsage("framecast data prepare --in DIR --out DATASET_DIR [flags]",
             "Converts frame folders or video files into framecast's checksummed uint8 layout "
             "(data.clips.path).");
  f.Add("format", "frames", "frames (one folder of images per sequence) | video (video files)");
  f.Add("in", "", "the raw dataset folder");
  f.Add("out", "", "the prepared dataset folder to create (written atomically)");
  f.Add("name", "", "dataset name in the manifest (default: the --out folder's name)");
  f.Add("size", "0", "square output side: centre crop, then area resize (0: native size)");
  f.Add("crop", "0", "centre-crop side before resizing (0: the shorter side), e.g. 1024");
  f.Add("channels", "3", "3 (RGB) or 1 (grayscale)");
  f.Add("max-frames", "0", "keep at most this many frames per sequence (0: all)");
  f.Add("chunk", "0", "frames: cut each folder into sequences of this many frames (Cityscapes 30)");
  f.Add("labels", "", "parent (class = containing folder) | none; default parent for video");
  f.Add("test-range", "", "a:b: sequences a..b-1 of the sorted list form the test split");
  f.Add("test-list", "", "file of sequence names (one per line) that form the test split");
  f.Add("test-prefix", "", "sequences whose name starts with this form the test split");
  f.Add("test-count", "0", "keep this many of the selected test sequences (fixed-seed choice)");
  f.Add("test-seed", "42", "seed of the --test-count choice");
  f.Add("threads", "2", "decoding threads");
  f.AddBool("overwrite", false, "replace an existing --out folder (at the end, atomically)");
  f.AddBool("skip-bad", false, "skip inputs that fail to decode (listed as warnings)");
  if (WantsHelp(argc, argv, first)) {
    std::fputs(f.Usage().c_str(), stdout);
    return 0;
  }
  std::vector<std::string> args = ExpandBooleans(argc, argv, first, {"overwrite", "skip-bad"});
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  Status st = f.Parse(static_cast<int>(av.size()), av.data(), 0);
  if (!st.ok()) return Usage(st.message());
  if (!f.positional().empty())
    return Usage("framecast data prepare: unexpected argument '" + f.positional()[0] + "'");
  PrepareOptions o;
  o.format = f.Str("format");
  o.input = f.Str("in");
  o.output = f.Str("out");
  o.name = f.Str("name");
  o.labels = f.Str("labels");
  o.test_range = f.Str("test-range");
  o.test_list = f.Str("test-list");
  o.test_prefix = f.Str("test-prefix");
  if (o.input.empty()) return Usage("framecast data prepare: --in is required");
  if (o.output.empty()) return Usage("framecast data prepare: --out is required");
  for (const char* name :
       {"size", "crop", "channels", "max-frames", "chunk", "test-count", "test-seed", "threads"}) {
    auto v = f.Int(name);
    if (!v.ok()) return Usage(v.status().message());
    if (v.value() < 0) return Usage(std::string("--") + name + " must be >= 0");
  }
  o.frames.size = static_cast<int>(f.Int("size").value());
  o.frames.crop = static_cast<int>(f.Int("crop").value());
  o.frames.channels = static_cast<int>(f.Int("channels").value());
  o.frames.max_frames = f.Int("max-frames").value();
  o.chunk = static_cast<int>(f.Int("chunk").value());
  o.test_count = f.Int("test-count").value();
  o.test_seed = static_cast<uint64_t>(f.Int("test-seed").value());
  o.threads = static_cast<int>(f.Int("threads").value());
  auto ow = Bool(f, "overwrite"), sb = Bool(f, "skip-bad");
  if (!ow.ok()) return Usage(ow.status().message());
  if (!sb.ok()) return Usage(sb.status().message());
  o.overwrite = ow.value();
  o.skip_bad = sb.value();
  o.command = "framecast data prepare";
  for (int i = first; i < argc; ++i) o.command += std::string(" ") + argv[i];
  auto r = Prepare(o);
  if (!r.ok()) return Fail(r.status());
  const auto& rep = r.value();
  std::printf("prepared %s: %lld train + %lld test sequences, %lld frames of %dx%dx%d",
              o.output.c_str(), static_cast<long long>(rep.train_sequences),
              static_cast<long long>(rep.test_sequences), static_cast<long long>(rep.frames),
              rep.width, rep.height, rep.channels);
  if (!rep.label_names.empty()) std::printf(", %zu classes", rep.label_names.size());
  if (rep.skipped > 0) std::printf(", %lld inputs skipped", static_cast<long long>(rep.skipped));
  std::printf("\n");
  return 0;
}

int PreviewCmd(int argc, char** argv, int first) {
  Flags f("framecast data preview");
  f.SetUsage("framecast data preview DATASET_DIR|RUN_CONFIG.pbtxt --out FILE.gif|FILE.mp4 [flags]",
             "A grid of training (or test) clips as the loader delivers them.");
  f.Add("out", "", "output file: .gif (animated grid) or .mp4");
  f.Add("num", "4", "number of clips");
  f.Add("split", "train", "train | test");
  f.Add("frames", "0", "frames per clip (0: the config's clip length, or up to 30)");
  f.Add("fps", "8", "frames per second");
  f.Add("columns", "0", "grid columns (0: up to 4)");
  f.Add("seed", "0", "seed of the training clips (default: the run config's seed)");
  f.AddList("set", "override a run-config field, e.g. --set data.moving_mnist.num_digits=3");
  if (WantsHelp(argc, argv, first)) {
    std::fputs(f.Usage().c_str(), stdout);
    return 0;
  }
  Status st = f.Parse(argc, argv, first);
  if (!st.ok()) return Usage(st.message());
  if (f.positional().size() != 1) {
    return Usage("framecast data preview: expected one DATASET_DIR or RUN_CONFIG.pbtxt");
  }
  const std::string out = f.Str("out"), split = f.Str("split");
  if (out.empty()) return Usage("framecast data preview: --out is required");
  const bool mp4 = out.size() > 4 && out.substr(out.size() - 4) == ".mp4";
  const bool gif = out.size() > 4 && out.substr(out.size() - 4) == ".gif";
  if (!mp4 && !gif) return Usage("--out: '" + out + "' must end in .gif or .mp4");
  if (split != "train" && split != "test") return Usage("--split: '" + split + "' (train|test)");
  for (const char* name : {"num", "frames", "fps", "columns", "seed"}) {
    auto v = f.Int(name);
    if (!v.ok()) return Usage(v.status().message());
    if (v.value() < 0) return Usage(std::string("--") + name + " must be >= 0");
  }
  const int64_t num = std::max<int64_t>(1, f.Int("num").value());
  int64_t frames = f.Int("frames").value();
  const int fps = static_cast<int>(std::max<int64_t>(1, f.Int("fps").value()));
  uint64_t seed = static_cast<uint64_t>(f.Int("seed").value());
  const std::string input = f.positional()[0];
  framecast::DataConfig data;
  const bool is_config = input.size() > 6 && input.substr(input.size() - 6) == ".pbtxt";
  if (is_config) {
    // Only the data part matters here (validated below): a config whose model does not fit this
    // data still previews its clips.
    auto cfg = config::LoadRunConfig(input, f.List("set"), /*validate=*/false);
    if (!cfg.ok()) return Fail(cfg.status());
    data = cfg.value().data();
    if (!f.Has("seed")) seed = cfg.value().seed();
  } else {
    if (!f.List("set").empty()) return Usage("--set: only with a RUN_CONFIG.pbtxt");
    data.mutable_clips()->set_path(input);
    data.set_global_batch(static_cast<int32_t>(num));
  }
  Status s = ApplyDataDefaults(&data);
  if (s.ok()) s = ValidateData(data);
  if (!s.ok()) return Fail(s.WithContext(input));
  if (frames == 0) {
    frames = data.context_frames() +
             (split == "test" ? data.eval_predicted_frames() : data.predicted_frames());
  }
  if (frames == 0 && data.has_clips()) {
    auto ds = PreparedDataset::Open(data.clips().path());
    if (!ds.ok()) return Fail(ds.status());
    for (const auto& sp : ds.value()->manifest().splits()) {
      if (sp.name() == split) frames = std::min<int64_t>(30, sp.min_sequence_frames());
    }
  }
  if (frames == 0) frames = 20;
  auto src = split == "test" ? MakeTestSource(data, frames) : MakeTrainSource(data, frames);
  if (!src.ok()) return Fail(src.status());
  std::vector<at::Tensor> clips;
  for (int64_t i = 0; i < std::min<int64_t>(num, src.value()->size()); ++i) {
    auto clip = src.value()->Get(i, HashCombine(HashCombine(seed, 0), static_cast<uint64_t>(i)));
    if (!clip.ok()) return Fail(clip.status());
    clips.push_back(clip.value().frames);
  }
  int columns = static_cast<int>(f.Int("columns").value());
  if (columns == 0) columns = static_cast<int>(std::min<int64_t>(4, clips.size()));
  at::Tensor grid = media::TileClips(clips, columns);
  s = mp4 ? media::WriteMp4(out, grid, fps) : media::WriteGif(out, grid, fps);
  if (!s.ok()) return Fail(s);
  std::printf("wrote %s: %zu clips of %lld frames (%s)\n", out.c_str(), clips.size(),
              static_cast<long long>(frames), src.value()->Describe().c_str());
  return 0;
}

int InfoCmd(const std::string& dir, bool verify) {
  auto ds = PreparedDataset::Open(dir);
  if (!ds.ok()) return Fail(ds.status());
  const auto& m = ds.value()->manifest();
  if (verify) {  // check first: a failure is one line on stderr
    for (const auto& sp : m.splits()) {
      auto split = ds.value()->split(sp.name());
      if (!split.ok()) return Fail(split.status());
      Status s = split.value()->VerifyAll();
      if (!s.ok()) return Fail(s);
    }
  }
  std::printf("%s: dataset '%s', %dx%dx%d (%s uint8), %d classes, made by: %s\n", dir.c_str(),
              m.name().c_str(), m.width(), m.height(), m.channels(), m.layout().c_str(),
              m.label_names_size(), m.command().c_str());
  for (const auto& sp : m.splits()) {
    std::printf("  %-6s %8lld sequences, %10lld frames (%lld..%lld per sequence), %llu bytes\n",
                sp.name().c_str(), static_cast<long long>(sp.num_sequences()),
                static_cast<long long>(sp.num_frames()),
                static_cast<long long>(sp.min_sequence_frames()),
                static_cast<long long>(sp.max_sequence_frames()),
                static_cast<unsigned long long>(sp.frames_bytes()));
  }
  if (verify) std::printf("every frame matches its CRC-32C\n");
  return 0;
}

}  // namespace

int DataCommand(int argc, char** argv, int first) {
  if (first >= argc) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string sub = argv[first];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (sub == "prepare") return PrepareCmd(argc, argv, first + 1);
  if (sub == "preview") return PreviewCmd(argc, argv, first + 1);
  if (sub == "info" || sub == "verify") {
    if (argc == first + 2 &&
        (std::strcmp(argv[first + 1], "--help") == 0 || std::strcmp(argv[first + 1], "-h") == 0)) {
      std::printf("usage: framecast data %s DATASET_DIR\n  %s\n", sub.c_str(),
                  sub == "info" ? "a prepared dataset's manifest: splits, sequences, frames, size"
                                : "every frame's CRC-32C and the index of a prepared dataset");
      return 0;
    }
    if (argc != first + 2 || argv[first + 1][0] == '-') {
      return Usage("usage: framecast data " + sub + " DATASET_DIR");
    }
    return InfoCmd(argv[first + 1], sub == "verify");
  }
  std::fprintf(stderr,
               "error: framecast data: unknown subcommand '%s' (prepare, preview, info, verify)\n",
               sub.c_str());
  return 2;
}

}  // namespace fc::data
