// libFuzzer target: arbitrary text as a run config, plus one --set override taken from the first
// line. Parsing, overriding, defaulting and validation must never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/run_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string override_line;
  if (auto nl = text.find('\n'); nl != std::string::npos && text.rfind("--set ", 0) == 0) {
    override_line = text.substr(6, nl - 6);
    text = text.substr(nl + 1);
  }
  auto cfg = fc::config::ParseRunConfigText(text, "fuzz");
  if (!cfg.ok()) return 0;
  if (!override_line.empty()) (void)fc::config::ApplyOverride(&cfg.value(), override_line);
  fc::config::ApplyDefaults(&cfg.value());
  if (fc::config::Validate(cfg.value()).ok()) (void)fc::config::ValidateForWorld(cfg.value(), 3);
  (void)fc::config::ToText(cfg.value());
  return 0;
}
