#include "util/flags.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace fc {
namespace {

bool BoolWord(const std::string& v, bool* out) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return *out = true, true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return *out = false, true;
  return false;
}

}  // namespace

void Flags::SetUsage(std::string synopsis, std::string description) {
  synopsis_ = std::move(synopsis);
  description_ = std::move(description);
}

void Flags::Add(const std::string& name, const std::string& default_value,
                const std::string& help) {
  specs_[name] = Spec{default_value, help};
  order_.push_back(name);
}

void Flags::AddBool(const std::string& name, bool default_value, const std::string& help) {
  Spec s{default_value ? "true" : "false", help};
  s.is_bool = true;
  specs_[name] = s;
  order_.push_back(name);
}

void Flags::AddList(const std::string& name, const std::string& help) {
  Spec s{"", help + " (repeatable)"};
  s.is_list = true;
  specs_[name] = s;
  order_.push_back(name);
  lists_[name];
}

const std::vector<std::string>& Flags::List(const std::string& name) const {
  return lists_.at(name);
}

Status Flags::Parse(int argc, char** argv, int first) {
  // 1. Normalise and check every token against the declared flags (one-line errors naming the
  // flag, as framecast's callers and tests expect): "--name value" -> "--name=value", booleans to
  // "--name=true|false".
  std::vector<std::string> args;
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(Help().c_str(), stdout);
      std::fflush(stdout);
      std::exit(0);
    }
    if (a.rfind("--", 0) != 0 || a == "--") {
      args.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = specs_.find(name);
    if (it == specs_.end() && !has_value && name.rfind("no-", 0) == 0) {
      auto b = specs_.find(name.substr(3));
      if (b != specs_.end() && b->second.is_bool) {
        args.push_back("--" + b->first + "=false");
        continue;
      }
    }
    if (it == specs_.end()) return Status::InvalidArgument(command_ + ": unknown flag --" + name);
    if (it->second.is_bool) {
      bool v = true;
      if (has_value && !BoolWord(value, &v))
        return Status::InvalidArgument(command_ + ": --" + name + " is on/off, got '" + value +
                                       "' (use --" + name + " or --no-" + name + ")");
      if (!has_value && i + 1 < argc && BoolWord(argv[i + 1], &v)) ++i;  // "--name 0"
      args.push_back("--" + name + (v ? "=true" : "=false"));
      continue;
    }
    if (!has_value) {
      if (i + 1 >= argc)
        return Status::InvalidArgument(command_ + ": flag --" + name + " needs a value");
      value = argv[++i];
    }
    args.push_back("--" + name + "=" + value);
  }

  // 2. CLI11 does the parse proper.
  CLI::App app(description_, command_);
  app.set_help_flag();  // handled above
  app.allow_extras(false);
  std::map<std::string, std::string> got;
  std::map<std::string, std::vector<std::string>> lists;
  for (const auto& n : order_) {
    const Spec& sp = specs_.at(n);
    if (sp.is_list) {
      app.add_option("--" + n, lists[n], sp.help)
          ->expected(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else {
      app.add_option("--" + n, got[n], sp.help)
          ->expected(1)
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  }
  std::vector<std::string> positional;
  app.add_option("args", positional, "positional arguments");
  app.positionals_at_end(false);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(command_ + ": " + e.what());
  }
  for (const auto& n : order_) {
    const Spec& sp = specs_.at(n);
    if (sp.is_list) {
      if (app.count("--" + n) > 0) lists_[n] = lists[n];
    } else if (app.count("--" + n) > 0) {
      values_[n] = got[n];
    }
  }
  positional_ = positional;
  return Status::Ok();
}

std::string Flags::Str(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() ? it->second : specs_.at(name).def;
}

Result<int64_t> Flags::Int(const std::string& name) const {
  std::string v = Str(name);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE) {
    return Status::InvalidArgument(command_ + ": --" + name + " expects an integer, got '" + v +
                                   "'");
  }
  return static_cast<int64_t>(x);
}

Result<double> Flags::Double(const std::string& name) const {
  std::string v = Str(name);
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') {
    return Status::InvalidArgument(command_ + ": --" + name + " expects a number, got '" + v + "'");
  }
  return x;
}

Result<bool> Flags::Bool(const std::string& name) const {
  bool v = false;
  if (!BoolWord(Str(name), &v))
    return Status::InvalidArgument(command_ + ": --" + name + " is on/off, got '" + Str(name) +
                                   "'");
  return v;
}

Result<int64_t> Flags::Bytes(const std::string& name) const {
  std::string v = Str(name);
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  int64_t mult = 1;
  std::string suffix = end ? end : "";
  if (suffix == "K" || suffix == "k")
    mult = 1024;
  else if (suffix == "M" || suffix == "m")
    mult = 1024 * 1024;
  else if (suffix == "G" || suffix == "g")
    mult = int64_t{1024} * 1024 * 1024;
  else if (!suffix.empty())
    mult = -1;
  if (v.empty() || end == v.c_str() || mult < 0 || x < 0 || errno == ERANGE ||
      x > INT64_MAX / mult) {
    return Status::InvalidArgument(command_ + ": --" + name +
                                   " expects a size like 4096, 4K, 32M, got '" + v + "'");
  }
  return static_cast<int64_t>(x) * mult;
}

std::string Flags::Usage() const {
  std::string s;
  for (const auto& n : order_) {
    const Spec& sp = specs_.at(n);
    if (sp.is_bool) {
      s += "  --" + n + " / --no-" + n + " (default " + (sp.def == "true" ? "on" : "off") +
           ")\n      " + sp.help + "\n";
    } else {
      s += "  --" + n + (sp.is_list ? " VALUE" : "") + " (default " +
           (sp.def.empty() ? "\"\"" : sp.def) + ")\n      " + sp.help + "\n";
    }
  }
  return s;
}

std::string Flags::Help() const {
  std::string s = "usage: " + (synopsis_.empty() ? command_ + " [flags]" : synopsis_) + "\n";
  if (!description_.empty()) s += "\n" + description_ + "\n";
  s += "\nflags:\n" + Usage() + "  --help, -h\n      print this help and exit\n";
  return s;
}

}  // namespace fc
