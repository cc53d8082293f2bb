// framecast sample RUN_DIR --num N --out FILE [--seed S] [--fps F] [--columns C]
//
// Runs the whole trained cascade of a CVG run from its newest committed checkpoint (one process,
// CPU) and writes the full-length samples as an MP4 grid (FILE) and a GIF grid next to it (FILE
// with its extension replaced by .gif); a FILE ending in .gif gets the GIF alone. Class-conditional
// runs sample class i % num_classes for sample i and print it. Only finished levels are used (a run
// stopped in stage k samples levels 1..k-1).
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>

#include "ckpt/checkpoint.h"
#include "ckpt/files.h"
#include "config/run_config.h"
#include "media/gif.h"
#include "media/video_writer.h"
#include "models/cvg/pyramid.h"
#include "train/commands.h"
#include "train/cvg_family.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {

namespace {

const char* const kFashionNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

Status Sample(const std::string& run_dir, int64_t num, const std::string& out, uint64_t seed,
              int fps, int columns) {
  const std::string cfg_path = run_dir + "/config.pbtxt";
  if (!ckpt::Exists(cfg_path))
    return Status::NotFound(run_dir + ": not a run directory (no config.pbtxt)");
  auto cfg = config::LoadRunConfig(cfg_path, {}, /*validate=*/false);
  if (!cfg.ok()) return cfg.status();
  const framecast::RunConfig& config = cfg.value();
  if (!config.model().has_cvg())
    return Status::InvalidArgument(cfg_path + ": not a CVG run (sample needs model.cvg)");
  const std::string ckpt_dir = run_dir + "/checkpoints";
  auto steps = ckpt::CommittedSteps(ckpt_dir);
  if (steps.empty()) return Status::NotFound(ckpt_dir + ": no committed checkpoint");
  const std::string step_dir = steps.back().second;
  FC_ASSIGN_OR_RETURN(auto manifest, ckpt::ReadManifest(step_dir));
  if (manifest.model_family() != "cvg")
    return Status::InvalidArgument(step_dir + ": holds a '" + manifest.model_family() +
                                   "' model, not a CVG cascade");
  const int done = FinishedLevels(manifest, config);
  if (done == 0)
    return Status::InvalidArgument(step_dir + ": level 1 has not finished training yet");
  FC_ASSIGN_OR_RETURN(auto tensors, ckpt::ReadTensors(step_dir, manifest, {}));

  CvgReplicaOptions o;
  o.with_data = false;
  FC_ASSIGN_OR_RETURN(auto replica, CvgReplica::Create(config, nullptr, o));
  FC_RETURN_IF_ERROR(replica->LoadReplicatedState(tensors).WithContext(step_dir));
  replica->FreezeLevels(done);

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor labels;
  const int64_t classes = replica->num_classes();
  if (classes > 0) labels = at::arange(num, at::kLong).remainder(classes);
  FC_ASSIGN_OR_RETURN(auto outs, replica->SampleCascade(done, labels, num, gen));
  at::Tensor x = models::cvg::FromModelRange(outs.back()).clamp(0, 1).to(at::kFloat).cpu();
  std::vector<at::Tensor> clips;
  for (int64_t i = 0; i < x.size(0); ++i) clips.push_back(x[i]);
  at::Tensor grid;
  FC_TRY_TORCH(grid = media::TileClips(
                   clips, columns > 0 ? columns : static_cast<int>(std::min<int64_t>(num, 4))));
  const std::string dir = ckpt::DirName(out);
  if (!dir.empty() && dir != ".") FC_RETURN_IF_ERROR(ckpt::MakeDirs(dir));
  const size_t dot = out.find_last_of('.');
  const size_t slash = out.find_last_of('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const bool gif_only = has_ext && out.substr(dot) == ".gif";
  // --out F.gif writes the GIF alone; any other name an MP4 and the GIF beside it.
  if (!gif_only) FC_RETURN_IF_ERROR(media::WriteMp4(out, grid, fps).WithContext(out));
  const std::string gif = gif_only ? out : (has_ext ? out.substr(0, dot) : out) + ".gif";
  FC_RETURN_IF_ERROR(media::WriteGif(gif, grid, fps).WithContext(gif));

  const bool fashion =
      config.data().has_moving_mnist() &&
      config.data().moving_mnist().train_labels().find("fashion") != std::string::npos &&
      classes == 10;
  std::printf("sampled %lld clip(s) of %lld frames at %lldx%lld from %s (levels 1..%d)\n",
              static_cast<long long>(num), static_cast<long long>(x.size(1)),
              static_cast<long long>(x.size(3)), static_cast<long long>(x.size(4)),
              step_dir.c_str(), done);
  if (classes > 0) {
    for (int64_t i = 0; i < num; ++i) {
      const int64_t c = labels[i].item<int64_t>();
      std::printf("sample %lld: class %lld%s%s\n", static_cast<long long>(i),
                  static_cast<long long>(c), fashion ? " " : "", fashion ? kFashionNames[c] : "");
    }
  }
  if (gif_only) {
    std::printf("wrote %s\n", gif.c_str());
  } else {
    std::printf("wrote %s and %s\n", out.c_str(), gif.c_str());
  }
  return Status::Ok();
}

}  // namespace

int SampleCommand(int argc, char** argv, int first) {
  Flags flags("framecast sample");
  flags.Add("num", "4", "number of samples");
  flags.Add("out", "samples.mp4", "output MP4 (a GIF grid is written next to it)");
  flags.Add("seed", "1", "noise seed");
  flags.Add("fps", "4", "frames per second of the videos");
  flags.Add("columns", "0", "grid columns (0: min(num, 4))");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1) st = Status::InvalidArgument("expected RUN_DIR");
  auto num = flags.Int("num");
  auto seed = flags.Int("seed");
  auto fps = flags.Int("fps");
  auto columns = flags.Int("columns");
  if (st.ok() && !num.ok()) st = num.status();
  if (st.ok() && !seed.ok()) st = seed.status();
  if (st.ok() && !fps.ok()) st = fps.status();
  if (st.ok() && !columns.ok()) st = columns.status();
  if (st.ok() && (num.value() < 1 || fps.value() < 1 || columns.value() < 0))
    st = Status::InvalidArgument("--num and --fps must be >= 1, --columns >= 0");
  if (!st.ok()) {
    std::fprintf(stderr,
                 "error: %s\nusage: framecast sample RUN_DIR --num N --out FILE.mp4 [--seed S] "
                 "[--fps F]\n%s",
                 st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  Status s;
  try {
    s = Sample(flags.positional()[0], num.value(), flags.Str("out"),
               static_cast<uint64_t>(seed.value()), static_cast<int>(fps.value()),
               static_cast<int>(columns.value()));
  } catch (const std::exception& e) {
    s = Status::Internal(flags.positional()[0] + ": " + e.what());
  }
  if (!s.ok()) {
    LogError(s.message());
    return 1;
  }
  return 0;
}

}  // namespace fc::train
