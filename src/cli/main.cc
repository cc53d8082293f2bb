// framecast: the single executable. Subcommands dispatch to their libraries; nothing else here.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "bench/commands.h"
#include "ckpt/commands.h"
#include "config/commands.h"
#include "data/commands.h"
#include "train/commands.h"
#include "train/family.h"
#include "train/trainer.h"
#include "util/allocator.h"
#include "util/env.h"

namespace {

const char* kUsage =
    "framecast " FRAMECAST_VERSION
    " - data-parallel training of generative video models\n"
    "\n"
    "usage: framecast <command> [flags]        (launch ranks with mpirun or srun)\n"
    "\n"
    "commands:\n"
    "  train              train the embedded default workload data-parallel and print per-step "
    "loss\n"
    "  ckpt list RUN_DIR | verify STEP_DIR | inspect STEP_DIR | export STEP_DIR "
    "OUT.pt|.safetensors\n"
    "                     committed steps; check every CRC; tensors and metadata; model tensors "
    "for torch.load or safetensors (python/framecast loads both)\n"
    "  runs list DIR      runs under DIR: stage, step, last loss, last checkpoint\n"
    "  runs timeline RUN_DIR  merge the ranks' timelines (logging.timeline) for Perfetto; "
    "each span's share of the step\n"
    "  data prepare | preview | info | verify   convert raw datasets; preview clips as GIF/MP4\n"
    "  config check CONFIG  validate a run config (--set path=value overrides) and print the "
    "effective config\n"
    "  bench allreduce    all-reduce bandwidth table: raw backend vs GradientSync (nccl-tests "
    "layout)\n"
    "  bench ckpt         checkpoint save/load GB/s vs raw write+fsync (peer: "
    "torch.distributed.checkpoint)\n"
    "  bench step         ms/step of the data-parallel demo step (peer: PyTorch DDP)\n"
    "  bench step CONFIG  ms/step, sequences/s, peak memory of a config's model step (peer: "
    "PyTorch "
    "eager)\n"
    "  model summary CONFIG  parameter count per module of a config's model\n"
    "  eval CONFIG --checkpoint STEP_DIR  best-of-N PSNR/SSIM (LPIPS, FVD with their weights) vs "
    "baselines\n"
    "  sample RUN_DIR --num N --out FILE.mp4  samples of a run's newest checkpoint (MP4 + GIF "
    "grid): CVG clips, HVRNN context + prediction\n"
    "  completion bash    bash completion (source <(framecast completion bash))\n"
    "  version            print the version\n"
    "  help               this text; `framecast <command> --help` lists a command's flags\n";

// `framecast completion bash`: flags are completed from each command's own --help (util/flags.h),
// so they are always the flags the program has.
const char* kBashCompletion =
    R"SH(# bash completion for framecast: source <(framecast completion bash)
_framecast() {
  local cur="${COMP_WORDS[COMP_CWORD]}" cmd="${COMP_WORDS[1]:-}" subs=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "train eval sample model ckpt runs data config bench completion version help" -- "$cur"))
    return
  fi
  case "$cmd" in
    ckpt) subs="list verify inspect export" ;; runs) subs="list timeline" ;; model) subs="summary" ;;
    data) subs="prepare preview info verify" ;; config) subs="check" ;; bench) subs="allreduce step ckpt" ;;
    eval) subs="train-classifier" ;; completion) subs="bash" ;;
  esac
  if [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ] && [[ "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    [ ${#COMPREPLY[@]} -gt 0 ] && return
  fi
  if [[ "$cur" == -* ]]; then
    local words=("${COMP_WORDS[0]}" "$cmd")
    if [ -n "$subs" ] && [ "$COMP_CWORD" -gt 2 ] && [[ "${COMP_WORDS[2]}" != -* ]]; then
      words+=("${COMP_WORDS[2]}")
      [ "$cmd" = bench ] && [ "${COMP_WORDS[2]}" = step ] && [ "$COMP_CWORD" -gt 3 ] &&
        [[ "${COMP_WORDS[3]}" != -* ]] && words+=("${COMP_WORDS[3]}")
    fi
    COMPREPLY=($(compgen -W "$("${words[@]}" --help 2>/dev/null | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _framecast framecast
)SH";

int Dispatch(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "version" || cmd == "--version") {
    std::printf("framecast %s\n", FRAMECAST_VERSION);
    return 0;
  }
  if (cmd == "completion") {
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        std::fputs(
            "usage: framecast completion bash   (e.g. source <(framecast completion bash))\n",
            stdout);
        return 0;
      }
    }
    if (argc == 3 && std::strcmp(argv[2], "bash") == 0)
      return std::fputs(kBashCompletion, stdout), 0;
    std::fputs("usage: framecast completion bash   (e.g. source <(framecast completion bash))\n",
               stderr);
    return 2;
  }
  if (cmd == "train") return fc::train::TrainCommand(argc, argv, 2);
  if (cmd == "ckpt") return fc::ckpt::CkptCommand(argc, argv, 2);
  if (cmd == "model") return fc::train::ModelCommand(argc, argv, 2);
  if (cmd == "eval") return fc::train::EvalCommand(argc, argv, 2);
  if (cmd == "sample") return fc::train::SampleCommand(argc, argv, 2);
  if (cmd == "runs") return fc::train::RunsCommand(argc, argv, 2);
  if (cmd == "data") return fc::data::DataCommand(argc, argv, 2);
  if (cmd == "config") return fc::config::ConfigCommand(argc, argv, 2);
  if (cmd == "bench") {
    const char* usage =
        "usage: framecast bench allreduce|step|ckpt [flags]   (`framecast bench <name> --help`)\n"
        "  allreduce        raw all-reduce and GradientSync bandwidth per message size\n"
        "  step             the demo training step (data, forward, backward, sync)\n"
        "  step CONFIG      a model family's step against its PyTorch peer\n"
        "  ckpt             checkpoint write and read bandwidth on a disk\n";
    const std::string sub = argc >= 3 ? argv[2] : "";
    if (sub == "--help" || sub == "-h") return std::fputs(usage, stdout), 0;
    if (sub == "allreduce") return fc::bench::AllReduceCommand(argc, argv, 3);
    if (sub == "step" && argc >= 4 && argv[3][0] != '-')
      return fc::bench::ModelStepCommand(argc, argv, 3);
    if (sub == "step") return fc::bench::StepCommand(argc, argv, 3);
    if (sub == "ckpt") return fc::bench::CkptCommand(argc, argv, 3);
    std::fputs(usage, stderr);
    return 2;
  }
  std::fprintf(stderr, "framecast: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fc::TuneHostAllocator();  // before anything allocates
  fc::train::InstallFamilyConfigHooks();
  int rc = 1;
  // Nothing escapes as an exception (std::terminate would abort with exit 134): a command's
  // unexpected exception is one line and exit 1.
  try {
    rc = Dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));  // torch's messages carry a backtrace
    std::fprintf(stderr, "error: framecast %s: unexpected failure: %s\n", argc > 1 ? argv[1] : "",
                 what.c_str());
    rc = 1;
  } catch (...) {
    std::fprintf(stderr, "error: framecast %s: unexpected failure (unknown exception)\n",
                 argc > 1 ? argv[1] : "");
    rc = 1;
  }
  std::fflush(stdout);
  fc::RecordExitStatus(rc);
  return rc;
}
