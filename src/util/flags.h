// Flags: a strict "--name value" / "--name=value" parser for subcommands.
//
// Each subcommand declares its flags with defaults and help; Parse() rejects unknown flags,
// missing values and malformed numbers with a one-line error naming the flag.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc {

class Flags {
 public:
  explicit Flags(std::string command) : command_(std::move(command)) {}
  void Add(const std::string& name, const std::string& default_value, const std::string& help);
  // A flag that may be given several times (e.g. --set a=1 --set b=2); values kept in order.
  void AddList(const std::string& name, const std::string& help);
  const std::vector<std::string>& List(const std::string& name) const;
  // Parses argv[first..argc). Positional arguments are collected in positional().
  Status Parse(int argc, char** argv, int first);
  std::string Str(const std::string& name) const;
  Result<int64_t> Int(const std::string& name) const;
  Result<double> Double(const std::string& name) const;
  // Sizes like 4096, 4K, 32M, 1G (powers of 1024).
  Result<int64_t> Bytes(const std::string& name) const;
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Usage() const;

 private:
  struct Spec {
    std::string def, help;
  };
  std::string command_;
  std::map<std::string, Spec> specs_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::vector<std::string> positional_;
};

}  // namespace fc
