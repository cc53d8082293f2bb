// FNV-1a 64-bit digest as 16 lowercase hex digits: the config digest stored in checkpoint
// manifests and printed in the start-up banner. Header-only (the checkpoint fuzz targets build
// without the util library).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace fc {

inline std::string Fnv1a64Hex(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace fc
