// framecast sample RUN_DIR --num N --out FILE [--seed S] [--fps F] [--columns C]
//
// Samples from a run's newest committed checkpoint (one process, CPU) through its family
// (train/family.h Family::Sample) and writes them as an MP4 grid (FILE) and a GIF grid next to it
// (FILE with its extension replaced by .gif); a FILE ending in .gif gets the GIF alone.
//   cvg:   full-length samples of the finished levels of the cascade (a run stopped in stage k
//          samples levels 1..k-1); class-conditional runs sample class i % num_classes for
//          sample i and print it.
//   hvrnn, srvp: held-out sequences 0..N-1, each as two tiles: the ground truth, and the context
//          followed by one prediction of data.eval_predicted_frames frames (srvp --euler-steps K:
//          every sub-step is a frame, K times the frame rate).
#include <algorithm>
#include <cstdio>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "media/gif.h"
#include "media/video_writer.h"
#include "train/commands.h"
#include "train/family.h"
#include "util/files.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {

namespace {

Status Sample(const std::string& run_dir, int64_t num, const std::string& out, uint64_t seed,
              int fps, int columns, int64_t euler_steps) {
  const std::string cfg_path = run_dir + "/config.pbtxt";
  if (!Exists(cfg_path))
    return Status::NotFound(run_dir + ": not a run directory (no config.pbtxt)");
  auto cfg = config::LoadRunConfig(cfg_path, {}, /*validate=*/false);
  if (!cfg.ok()) return cfg.status();
  const framecast::RunConfig& config = cfg.value();
  FC_ASSIGN_OR_RETURN(const Family* family, FamilyFor(config));
  if (Status v = family->ValidateModel(config); !v.ok()) return v.WithContext(cfg_path);
  const std::string ckpt_dir = run_dir + "/checkpoints";
  auto steps = ckpt::CommittedSteps(ckpt_dir);
  if (steps.empty()) return Status::NotFound(ckpt_dir + ": no committed checkpoint");
  const std::string step_dir = steps.back().second;
  FC_ASSIGN_OR_RETURN(auto manifest, ckpt::ReadManifest(step_dir));
  if (manifest.model_family() != family->name())
    return Status::InvalidArgument(step_dir + ": holds a '" + manifest.model_family() +
                                   "' model, the config describes '" + family->name() + "'");
  SampleRequest request;
  request.run_dir = run_dir;
  request.step_dir = step_dir;
  request.num = num;
  request.seed = seed;
  request.euler_steps = euler_steps;
  if (euler_steps != 0 && !family->has_step_size())
    return Status::InvalidArgument("--euler-steps: the " + family->name() +
                                   " family's dynamics have no step size (srvp has)");
  FC_ASSIGN_OR_RETURN(SampleResult result, family->Sample(config, manifest, request));
  if (result.tiles.empty()) return Status::InvalidArgument(run_dir + ": nothing was sampled");

  const int per = std::max(1, result.tiles_per_sample);
  const int64_t samples = static_cast<int64_t>(result.tiles.size()) / per;
  const int cols = columns > 0 ? columns : static_cast<int>(std::min<int64_t>(samples, 4));
  at::Tensor grid;
  FC_TRY_TORCH(grid = media::TileClips(result.tiles, cols * per));
  const std::string dir = DirName(out);
  if (!dir.empty() && dir != ".") FC_RETURN_IF_ERROR(MakeDirs(dir));
  const size_t dot = out.find_last_of('.');
  const size_t slash = out.find_last_of('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  const bool gif_only = has_ext && out.substr(dot) == ".gif";
  // --out F.gif writes the GIF alone; any other name an MP4 and the GIF beside it.
  if (!gif_only) FC_RETURN_IF_ERROR(media::WriteMp4(out, grid, fps).WithContext(out));
  const std::string gif = gif_only ? out : (has_ext ? out.substr(0, dot) : out) + ".gif";
  FC_RETURN_IF_ERROR(media::WriteGif(gif, grid, fps).WithContext(gif));

  std::printf("sampled %s\n", result.what.c_str());
  for (const auto& line : result.lines) std::printf("%s\n", line.c_str());
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
  flags.SetUsage(
      "framecast sample RUN_DIR [--num N] [--out FILE.mp4|FILE.gif] [flags]",
      "Samples from the run's newest committed checkpoint: cvg clips of the finished levels; hvrnn "
      "and srvp held-out context followed by a prediction, next to the ground truth.");
  flags.Add("num", "4", "number of samples");
  flags.Add("out", "samples.mp4",
            "output MP4 (a GIF grid is written next to it; FILE.gif: the GIF alone)");
  flags.Add("seed", "1", "noise seed");
  flags.Add("fps", "4", "frames per second of the videos");
  flags.Add("columns", "0", "grid columns (0: min(num, 4))");
  flags.Add("euler-steps", "0",
            "srvp: Euler sub-steps per frame, each shown as a frame (0: the training value; 2: "
            "twice the frame rate)");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1) st = Status::InvalidArgument("expected RUN_DIR");
  auto num = flags.Int("num");
  auto seed = flags.Int("seed");
  auto fps = flags.Int("fps");
  auto columns = flags.Int("columns");
  auto euler = flags.Int("euler-steps");
  if (st.ok() && !euler.ok()) st = euler.status();
  if (st.ok() && (euler.value() < 0 || euler.value() > 64))
    st = Status::InvalidArgument("--euler-steps must be in [0, 64]");
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
               static_cast<int>(columns.value()), euler.value());
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
