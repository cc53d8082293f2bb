// framecast train [CONFIG] [--set field.path=value ...]
#include <ATen/Parallel.h>

#include <cstdio>
#include <thread>

#include "config/run_config.h"
#include "train/commands.h"
#include "train/default_config.h"
#include "train/run.h"
#include "util/env.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::train {

int TrainCommand(int argc, char** argv, int first) {
  Flags flags("framecast train");
  flags.SetUsage(
      "[mpirun -np N] framecast train [CONFIG] [--set field.path=value ...] [flags]",
      "Trains CONFIG (default: the embedded configs/demo.pbtxt) data-parallel over the MPI ranks, "
      "resuming from the run directory's newest intact checkpoint. Every config field can be "
      "overridden with --set (e.g. --set stages[0].steps=100 --set data.global_batch=32); "
      "`framecast config check CONFIG` prints the effective config.");
  flags.AddList("set", "override one config field, e.g. --set stages[0].steps=10");
  flags.Add("threads", "0", "intra-op threads per rank (0: cores / local ranks)");
  Status st = flags.Parse(argc, argv, first);
  if (st.ok() && flags.positional().size() > 1) {
    st = Status::InvalidArgument("framecast train: expected at most one CONFIG, got '" +
                                 flags.positional()[1] + "' too");
  }
  auto threads = flags.Int("threads");
  if (st.ok()) st = threads.status();
  if (!st.ok()) {
    std::fprintf(
        stderr,
        "error: %s\nusage: framecast train [CONFIG] [--set field.path=value ...]\nflags:\n%s",
        st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  // The config: a file, or the embedded default (configs/demo.pbtxt at build time).
  Result<framecast::RunConfig> cfg = Status::Internal("unset");
  if (flags.positional().empty()) {
    cfg = config::ParseRunConfigText(kDefaultConfigText, "<embedded configs/demo.pbtxt>");
    if (cfg.ok()) {
      for (const auto& o : flags.List("set")) {
        if (st = config::ApplyOverride(&cfg.value(), o); !st.ok()) break;
      }
      if (st.ok()) {
        config::ApplyDefaults(&cfg.value());
        st = config::Validate(cfg.value());
      }
      if (!st.ok()) cfg = st;
    }
  } else {
    cfg = config::LoadRunConfig(flags.positional()[0], flags.List("set"));
  }
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  auto world = StartWorld(cfg.value(), &argc, &argv, threads.value());
  if (!world.ok()) {
    LogError(world.status().ToString());
    return 1;
  }
  auto run = RunTraining(cfg.value(), *world.value());
  if (!run.ok()) {
    LogError(run.status().ToString());
    return 1;
  }
  // 0, or the documented status of a run stopped on a signal or on non-finite values (faults.h).
  const int rc = ExitStatusFor(run.value().stop);
  RecordExitStatus(rc);  // before MPI teardown (launch/run.sh reads it)
  return rc;
}

}  // namespace fc::train
