// Helpers shared by the eval tests: a private temp directory and running a Python script.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace fc::eval::testing {

// A fresh directory under /tmp (kept on failure for inspection).
inline std::string MakeTempDir() {
  char tmpl[] = "/tmp/fc_eval_test_XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? std::string(d) : std::string();
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Runs `script` (Python source, saved into dir/name.py) with `args`; returns its stdout and sets
// *rc to the exit status.
inline std::string RunPython(const std::string& dir, const std::string& name,
                             const std::string& script, const std::string& args, int* rc) {
  const std::string path = dir + "/" + name + ".py";
  WriteText(path, script);
  const std::string cmd = std::string(FRAMECAST_PYTHON) + " " + path + " " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

}  // namespace fc::eval::testing
