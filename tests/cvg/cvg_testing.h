// Shared helpers of the CVG tests: the repository's configs, parsed and defaulted.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "config/run_config.h"
#include "models/cvg/config.h"

namespace fc::models::cvg::testing {

inline std::string ConfigPath(const std::string& name) {
  return std::string(FRAMECAST_SOURCE_DIR) + "/configs/" + name;
}

// The run config `name` (configs/), parsed, with the CVG defaults applied; fails the test on error.
inline framecast::RunConfig LoadRun(const std::string& name) {
  std::ifstream in(ConfigPath(name));
  std::stringstream ss;
  ss << in.rdbuf();
  auto run = config::ParseRunConfigText(ss.str(), name);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  if (!run.ok()) return {};
  framecast::RunConfig c = run.value();
  Status s = ApplyCvgRunDefaults(&c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return c;
}

inline framecast::CvgConfig LoadCvg(const std::string& name) { return LoadRun(name).model().cvg(); }

}  // namespace fc::models::cvg::testing
