// framecast config check CONFIG [--set field.path=value ...] [--ranks N]
#include <cstdio>

#include "config/commands.h"
#include "config/run_config.h"
#include "util/flags.h"

namespace fc::config {

int ConfigCommand(int argc, char** argv, int first) {
  if (first < argc && (std::string(argv[first]) == "--help" || std::string(argv[first]) == "-h")) {
    std::printf(
        "usage: framecast config check CONFIG [--set field.path=value ...] [--ranks N]\n"
        "  the effective config (defaults filled in) after every rule a run applies; exit 1 on "
        "the first broken rule\n");
    return 0;
  }
  if (first >= argc || std::string(argv[first]) != "check") {
    std::fprintf(stderr,
                 "usage: framecast config check CONFIG [--set field.path=value ...] [--ranks N]\n");
    return 2;
  }
  Flags flags("framecast config check");
  flags.SetUsage(
      "framecast config check CONFIG [--set field.path=value ...] [--ranks N]",
      "The effective config of CONFIG (defaults filled in) after every rule a run applies; exits 1 "
      "on the first broken rule. Files the config names that this machine lacks are a warning.");
  flags.AddList("set", "override one field, e.g. --set stages[0].steps=10");
  flags.Add("ranks", "-1", "also check the rules that depend on N ranks (N >= 1)");
  Status st = flags.Parse(argc, argv, first + 1);
  if (st.ok() && flags.positional().size() != 1) {
    st = Status::InvalidArgument("framecast config check: expected one CONFIG file");
  }
  auto ranks = flags.Int("ranks");
  if (st.ok()) st = ranks.status();
  if (st.ok() && ranks.value() != -1 && (ranks.value() < 1 || ranks.value() > 1000000))
    st = Status::InvalidArgument("--ranks=" + std::to_string(ranks.value()) +
                                 ": must be in [1, 1000000]");
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 2;
  }
  const std::string path = flags.positional()[0];
  // The rules decide the exit status; files the config names that are missing on this machine are
  // a warning (configs are often checked where the datasets are not).
  auto cfg = LoadRunConfig(path, flags.List("set"), /*validate=*/true, /*check_files=*/false);
  if (cfg.ok() && ranks.value() > 0)
    st = ValidateForWorld(cfg.value(), static_cast<int>(ranks.value())).WithContext(path);
  if (!cfg.ok() || !st.ok()) {
    std::fprintf(stderr, "error: %s\n", (cfg.ok() ? st : cfg.status()).message().c_str());
    return 1;
  }
  if (Status files = CheckFiles(cfg.value()).WithContext(path); !files.ok())
    std::fprintf(stderr, "warning: %s (needed to train, not to check)\n", files.message().c_str());
  const std::string text = ToText(cfg.value());
  std::printf("# effective config of %s (digest %s, run directory %s)\n%s", path.c_str(),
              Digest(text).c_str(), RunDir(cfg.value()).c_str(), text.c_str());
  return 0;
}

}  // namespace fc::config
