// Flags: the command line of one subcommand, parsed with CLI11 (Debian's libcli11-dev).
//
// Each subcommand declares its flags with defaults and help; Parse() rejects unknown flags,
// missing values and malformed numbers with a one-line error naming the flag. "--name value" and
// "--name=value" both work; boolean flags are "--name" / "--no-name" (or --name=true|false|1|0).
// `--help` / `-h` prints the usage line, the description and every flag with its default to
// stdout and exits 0 (from Parse, before anything else has started). `framecast completion bash`
// completes flags from that same output.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc {

class Flags {
 public:
  explicit Flags(std::string command) : command_(std::move(command)) {}
  // The synopsis `--help` prints first, e.g. "framecast eval CONFIG --checkpoint STEP_DIR [flags]",
  // and an optional paragraph after it.
  void SetUsage(std::string synopsis, std::string description = "");
  void Add(const std::string& name, const std::string& default_value, const std::string& help);
  // An on/off flag: --name, --no-name, --name=true|false|1|0 (a bare 0/1/true/false after --name is
  // also read as its value).
  void AddBool(const std::string& name, bool default_value, const std::string& help);
  // A flag that may be given several times (e.g. --set a=1 --set b=2); values kept in order.
  void AddList(const std::string& name, const std::string& help);
  const std::vector<std::string>& List(const std::string& name) const;
  // Parses argv[first..argc). Positional arguments are collected in positional(). --help: prints
  // Help() and exits 0.
  Status Parse(int argc, char** argv, int first);
  std::string Str(const std::string& name) const;
  Result<int64_t> Int(const std::string& name) const;
  Result<double> Double(const std::string& name) const;
  Result<bool> Bool(const std::string& name) const;
  // Sizes like 4096, 4K, 32M, 1G (powers of 1024).
  Result<int64_t> Bytes(const std::string& name) const;
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }
  // One entry per flag: "  --name (default D)\n      help".
  std::string Usage() const;
  // What --help prints.
  std::string Help() const;

 private:
  struct Spec {
    std::string def, help;
    bool is_bool = false, is_list = false;
  };
  std::string command_, synopsis_, description_;
  std::map<std::string, Spec> specs_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::vector<std::string> positional_;
};

}  // namespace fc
