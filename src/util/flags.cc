#include "util/flags.h"

#include <cstdlib>

namespace fc {

void Flags::Add(const std::string& name, const std::string& default_value,
                const std::string& help) {
  specs_[name] = Spec{default_value, help};
  order_.push_back(name);
}

void Flags::AddList(const std::string& name, const std::string& help) {
  specs_[name] = Spec{"", help + " (repeatable)"};
  order_.push_back(name);
  lists_[name];
}

const std::vector<std::string>& Flags::List(const std::string& name) const { return lists_.at(name); }

Status Flags::Parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (specs_.count(name) == 0)
        return Status::InvalidArgument(command_ + ": unknown flag --" + name);
      if (i + 1 >= argc)
        return Status::InvalidArgument(command_ + ": flag --" + name + " needs a value");
      value = argv[++i];
    }
    if (specs_.count(name) == 0)
      return Status::InvalidArgument(command_ + ": unknown flag --" + name);
    if (lists_.count(name)) {
      lists_[name].push_back(value);
    } else {
      values_[name] = value;
    }
  }
  return Status::Ok();
}

std::string Flags::Str(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() ? it->second : specs_.at(name).def;
}

Result<int64_t> Flags::Int(const std::string& name) const {
  std::string v = Str(name);
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0') {
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

Result<int64_t> Flags::Bytes(const std::string& name) const {
  std::string v = Str(name);
  char* end = nullptr;
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
  if (v.empty() || end == v.c_str() || mult < 0 || x < 0) {
    return Status::InvalidArgument(command_ + ": --" + name +
                                   " expects a size like 4096, 4K, 32M, got '" + v + "'");
  }
  return static_cast<int64_t>(x) * mult;
}

std::string Flags::Usage() const {
  std::string s;
  for (const auto& n : order_) {
    const Spec& sp = specs_.at(n);
    s += "  --" + n + " (default " + (sp.def.empty() ? "\"\"" : sp.def) + ")\n      " + sp.help +
         "\n";
  }
  return s;
}

}  // namespace fc
