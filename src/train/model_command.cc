// framecast model summary CONFIG [--set field.path=value ...]
#include <cstdio>

#include "config/run_config.h"
#include "models/cvg/config.h"
#include "models/hvrnn/hvrnn.h"
#include "train/commands.h"
#include "util/flags.h"
#include "util/logging.h"
#include "util/torch_status.h"

namespace fc::train {

int ModelCommand(int argc, char** argv, int first) {
  Flags flags("framecast model summary");
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
  if (cfg.ok() && cfg.value().model().has_hvrnn()) {
    Status v = models::hvrnn::ValidateHvrnn(cfg.value().model().hvrnn());
    if (!v.ok()) cfg = v.WithContext(pos[1]);
  }
  if (cfg.ok() && cfg.value().model().has_cvg()) {
    Status v = models::cvg::ApplyCvgDefaults(cfg.value().mutable_model()->mutable_cvg());
    if (v.ok()) v = models::cvg::ValidateCvg(cfg.value().model().cvg());
    if (!v.ok()) cfg = v.WithContext(pos[1]);
  }
  if (!cfg.ok()) {
    LogError(cfg.status().message());
    return 1;
  }
  const auto& model = cfg.value().model();
  std::string text;
  Status built = TryTorch([&] {
    if (model.has_hvrnn()) {
      models::hvrnn::Hvrnn m(model.hvrnn());
      text = "hvrnn model of " + pos[1] + "\n" + models::hvrnn::ParameterSummary(*m);
    } else if (model.has_cvg()) {
      text = "cvg model of " + pos[1] + "\n" + models::cvg::ParameterSummary(model.cvg());
    } else {
      text = "model family without a summary";
    }
  });
  if (!built.ok()) {
    LogError(pos[1] + ": " + built.message());
    return 1;
  }
  std::fputs(text.c_str(), stdout);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  return 0;
}

}  // namespace fc::train
