// Loading, overriding, defaulting and validating a run config (src/proto/config.proto).
//
// LoadRunConfig reads a protobuf text file. Syntax errors, unknown fields and bad enum values are
// reported as "<file>:<line>:<column>: <what>" (1-based). Each override "field.path=value"
// (repeated fields indexed as stages[0].steps) is applied in order. Path and value errors are
// reported as
// "--set <override>: <what>". Then defaults are filled in, and the result is validated.
// Semantic errors name the field path and the rule, e.g. "data.global_batch=30: not divisible by
// ranks (4) x accumulation_steps (2)".
//
// Validation that depends on the launch (the world size) is a separate call, ValidateForWorld,
// made once the ranks are known.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "proto/config.pb.h"
#include "util/status.h"

namespace fc::config {

// validate = false: defaults only (for tools that look at one part, e.g. the model summary).
// check_files = false: the rules only, not whether the files the config names exist (a config
// checked on a machine without the datasets, e.g. a cluster's login node).
Result<framecast::RunConfig> LoadRunConfig(const std::string& path,
                                           const std::vector<std::string>& overrides,
                                           bool validate = true, bool check_files = true);

// Parses text (named `source` in errors) as a RunConfig, without defaults or validation.
Result<framecast::RunConfig> ParseRunConfigText(const std::string& text, const std::string& source);

// Sets one field from "a.b[2].c=value". Messages on the path are created as needed.
Status ApplyOverride(framecast::RunConfig* config, const std::string& assignment);

// Fills in the documented defaults of zero-valued fields.
void ApplyDefaults(framecast::RunConfig* config);

// Checks the rules that need no knowledge of the launch.
Status Validate(const framecast::RunConfig& config);

// Data-source and model-family defaults and rules live with their code (src/data, src/models); the
// executable installs them here once at start-up, so this library stays free of model code (the
// config fuzzer links it alone). ApplyDefaults and Validate run them after the generic ones;
// CheckFiles runs check_files (the files the config names exist and are what it says).
struct ConfigHooks {
  std::function<void(framecast::RunConfig*)> apply_defaults;
  std::function<Status(const framecast::RunConfig&)> validate;
  std::function<Status(const framecast::RunConfig&)> check_files;
};
void InstallConfigHooks(ConfigHooks hooks);

// The files a validated config names (datasets): errors name the field and the path.
Status CheckFiles(const framecast::RunConfig& config);

// Checks the rules that involve the number of ranks.
Status ValidateForWorld(const framecast::RunConfig& config, int world_size);

// The effective config as protobuf text (stable field order), and its FNV-1a 64 digest in hex.
std::string ToText(const framecast::RunConfig& config);
std::string Digest(const std::string& text);

// The run directory: output_dir, or checkpoints/<name>.
std::string RunDir(const framecast::RunConfig& config);

}  // namespace fc::config
