// framecast eval CONFIG --checkpoint STEP_DIR: the family's evaluation of a committed step
// (train/family.h Family::Eval; hvrnn, srvp: train/prediction_eval.cc, cvg: train/cvg_eval.cc).
// Report and samples go to --out (default RUN_DIR/eval/<step>/). `eval train-classifier` trains the
// frame classifier the cvg evaluation scores samples with.
#include <cstdio>
#include <string>

#include "ckpt/checkpoint.h"
#include "config/run_config.h"
#include "dist/world.h"
#include "train/commands.h"
#include "train/cvg_eval.h"
#include "train/family.h"
#include "train/run.h"
#include "util/files.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::train {
namespace {

Status RunEval(const framecast::RunConfig& c, EvalRequest a, dist::World& world) {
  FC_ASSIGN_OR_RETURN(const Family* family, FamilyFor(c));
  FC_ASSIGN_OR_RETURN(a.manifest, ckpt::ReadManifest(a.step_dir));
  if (a.manifest.model_family() != family->name()) {
    return Status::InvalidArgument(a.step_dir + ": holds a '" + a.manifest.model_family() +
                                   "' model, the config describes '" + family->name() + "'");
  }
  if (a.euler_steps != 0 && !family->has_step_size())
    return Status::InvalidArgument("--euler-steps: the " + family->name() +
                                   " family's dynamics have no step size (srvp has)");
  return family->Eval(c, a, world);
}

}  // namespace

int EvalCommand(int argc, char** argv, int first) {
  if (first < argc && std::string(argv[first]) == "train-classifier")
    return TrainClassifierCommand(argc, argv, first + 1);
  Flags flags("framecast eval");
  flags.SetUsage("[mpirun -np N] framecast eval CONFIG --checkpoint STEP_DIR [flags]",
                 "Evaluates a committed step with the family's metrics next to its baselines "
                 "(hvrnn, srvp: best-of-N PSNR/SSIM and the held-out -ELBO; cvg: IS, FID, class "
                 "accuracy, FVD). Writes table.txt, report.json, curves and samples.gif to --out.");
  flags.AddList("set", "override one config field");
  flags.Add("checkpoint", "", "committed step directory (RUN_DIR/checkpoints/step-N); required");
  flags.Add("samples", "0", "samples per test sequence (0: eval.samples, default 100)");
  flags.Add("sequences", "0", "held-out sequences (0: data.eval_sequences)");
  flags.Add("batch", "16", "sequences per generation call");
  flags.Add("out", "", "report directory (default RUN_DIR/eval/<step>)");
  flags.Add("gif", "",
            "GIF of context + prediction next to ground truth (default <out>/samples.gif; "
            "'none' to skip)");
  flags.AddBool("baselines", true,
                "also evaluate the family's baselines (hvrnn: copy-last-frame, mean-frame, "
                "blur-last-frame; cvg: the untrained generator)");
  flags.Add("threads", "0", "intra-op threads per rank (0: cores / local ranks)");
  flags.Add("euler-steps", "0",
            "srvp: Euler sub-steps per frame interval at generation (0: the training value; "
            "2: the paper's dt/2)");
  flags.Add("classifier-steps", "1500",
            "cvg: steps of the frame classifier trained when the run has none");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() != 1)
    st = Status::InvalidArgument("expected one CONFIG");
  if (st.ok() && flags.Str("checkpoint").empty())
    st = Status::InvalidArgument("--checkpoint STEP_DIR is required");
  EvalRequest a;
  for (auto [name, dst] : {std::pair<const char*, int64_t*>{"samples", &a.samples},
                           {"sequences", &a.sequences},
                           {"batch", &a.batch},
                           {"classifier-steps", &a.classifier_steps},
                           {"euler-steps", &a.euler_steps}}) {
    auto v = flags.Int(name);
    if (st.ok() && !v.ok()) st = v.status();
    if (v.ok()) *dst = v.value();
  }
  auto baselines = flags.Bool("baselines");
  auto threads = flags.Int("threads");
  if (st.ok() && !baselines.ok()) st = baselines.status();
  if (st.ok() && !threads.ok()) st = threads.status();
  if (st.ok() && (a.samples < 0 || a.sequences < 0 || a.batch < 1 || a.batch > 4096 ||
                  a.classifier_steps < 1 || a.classifier_steps > 1000000 || a.euler_steps < 0 ||
                  a.euler_steps > 64))
    st = Status::InvalidArgument(
        "--samples/--sequences must be >= 0, --batch in [1, 4096], --classifier-steps in [1, 1e6], "
        "--euler-steps in [0, 64]");
  if (!st.ok()) {
    std::fprintf(
        stderr, "error: %s\nusage: framecast eval CONFIG --checkpoint STEP_DIR [flags]\nflags:\n%s",
        st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  a.config_path = flags.positional()[0];
  a.step_dir = flags.Str("checkpoint");
  while (a.step_dir.size() > 1 && a.step_dir.back() == '/') a.step_dir.pop_back();
  a.baselines = baselines.value();
  auto cfg = config::LoadRunConfig(a.config_path, flags.List("set"));
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  a.out_dir = flags.Str("out").empty()
                  ? config::RunDir(cfg.value()) + "/eval/" + BaseName(a.step_dir)
                  : flags.Str("out");
  a.gif = flags.Str("gif").empty()     ? a.out_dir + "/samples.gif"
          : flags.Str("gif") == "none" ? ""
                                       : flags.Str("gif");
  auto world = StartWorld(cfg.value(), &argc, &argv, threads.value());
  if (!world.ok()) {
    LogError(world.status().ToString());
    return 1;
  }
  st = RunEval(cfg.value(), a, *world.value());
  if (!st.ok()) {
    LogError(st.ToString());
    return 1;
  }
  return 0;
}

}  // namespace fc::train
