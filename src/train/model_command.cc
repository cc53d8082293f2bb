// framecast model summary CONFIG [--set field.path=value ...]
#include <cstdio>

#include "config/run_config.h"
#include "train/commands.h"
#include "train/family.h"
#include "util/flags.h"
#include "util/logging.h"

namespace fc::train {

int ModelCommand(int argc, char** argv, int first) {
  Flags flags("framecast model summary");
  flags.SetUsage("framecast model summary CONFIG [--set field.path=value ...]",
                 "Parameter counts per module of the config's model (no dataset needed).");
  flags.AddList("set", "override one config field, e.g. --set model.hvrnn.groups=8");
  Status st = flags.Parse(argc, argv, first);
  const auto& pos = flags.positional();
  if (st.ok() && (pos.size() != 2 || pos[0] != "summary")) {
    st = Status::InvalidArgument("expected `summary CONFIG`");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\nusage: framecast model summary CONFIG [--set f=v ...]\n%s",
                 st.message().c_str(), flags.Usage().c_str());
    return 2;
  }
  // Only the model part has to be valid: the summary needs no dataset on this machine.
  auto cfg = config::LoadRunConfig(pos[1], flags.List("set"), /*validate=*/false);
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  auto summary = [&]() -> Result<std::string> {
    FC_ASSIGN_OR_RETURN(const Family* family, FamilyFor(cfg.value()));
    FC_RETURN_IF_ERROR(family->ValidateModel(cfg.value()));
    FC_ASSIGN_OR_RETURN(std::string table, family->Summary(cfg.value()));
    return family->name() + " model of " + pos[1] + "\n" + table;
  }();
  if (!summary.ok()) {
    LogError(summary.status().WithContext(pos[1]).message());
    return 1;
  }
  const std::string& out = summary.value();
  std::fputs(out.c_str(), stdout);
  if (out.back() != '\n') std::fputc('\n', stdout);
  return 0;
}

}  // namespace fc::train
