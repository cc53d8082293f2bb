// Environment variables read as numbers (launcher and test-hook settings).
#pragma once

#include <cstdint>
#include <cstdlib>

namespace fc {

// The decimal integer in environment variable `name`; `fallback` when it is unset, empty or not
// entirely a decimal integer (with an optional sign).
inline int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<int64_t>(x) : fallback;
}

}  // namespace fc
