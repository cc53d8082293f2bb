#include "ckpt/manifest_check.h"

#include <cstdio>
#include <set>

#include "util/digest.h"

namespace fc::ckpt {
namespace {
constexpr uint32_t kVersion = 1;
constexpr int kMaxWorld = 1 << 20;
constexpr int64_t kMaxElements = int64_t{1} << 42;
constexpr uint64_t kMinOffset = 64;
}  // namespace

int DtypeSize(const std::string& d) {
  if (d == "float32" || d == "int32") return 4;
  if (d == "float64" || d == "int64") return 8;
  if (d == "float16" || d == "bfloat16" || d == "int16") return 2;
  if (d == "int8" || d == "uint8" || d == "bool") return 1;
  return 0;
}

std::string ShardFileName(int rank, int world) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "shard-%05d-of-%05d.bin", rank, world);
  return buf;
}

Status ValidateManifest(const framecast::ckpt::Manifest& m, const std::string& path) {
  if (m.format_version() != kVersion) {
    return Status::Corruption(path + ": format_version " + std::to_string(m.format_version()) +
                              " (this framecast reads " + std::to_string(kVersion) + ")");
  }
  if (m.world_size() < 1 || m.world_size() > kMaxWorld) {
    return Status::Corruption(path + ": world_size " + std::to_string(m.world_size()) +
                              " out of range");
  }
  if (!m.config_digest().empty() && m.config_digest() != Fnv1a64Hex(m.config_text())) {
    return Status::Corruption(path + ": config_text does not match its config_digest " +
                              m.config_digest() + " (the manifest is damaged)");
  }
  if (m.shard_files_size() != m.world_size()) {
    return Status::Corruption(path + ": " + std::to_string(m.shard_files_size()) +
                              " shard files for world_size " + std::to_string(m.world_size()));
  }
  std::set<std::string> files;
  for (int r = 0; r < m.shard_files_size(); ++r) {
    const std::string want = ShardFileName(r, m.world_size());
    if (m.shard_files(r) != want) {
      return Status::Corruption(path + ": shard file #" + std::to_string(r) + " is named '" +
                                m.shard_files(r) + "', expected '" + want + "'");
    }
    files.insert(want);
  }
  std::set<std::string> names;
  for (const auto& r : m.tensors()) {
    const std::string what = path + ": tensor '" + r.name() + "'";
    if (r.name().empty() || !names.insert(r.name()).second) {
      return Status::Corruption(what + ": empty or duplicate name");
    }
    if (files.count(r.file()) == 0) {
      return Status::Corruption(what + ": file '" + r.file() + "' is not one of the shard files");
    }
    const int esize = DtypeSize(r.dtype());
    if (esize == 0) return Status::Corruption(what + ": unknown dtype '" + r.dtype() + "'");
    if (r.shape_size() > 16) return Status::Corruption(what + ": more than 16 dimensions");
    int64_t numel = 1;
    for (int64_t d : r.shape()) {
      if (d < 0 || d > kMaxElements || (d > 0 && numel > kMaxElements / d)) {
        return Status::Corruption(what + ": shape out of range");
      }
      numel *= d;
    }
    if (static_cast<uint64_t>(numel) * static_cast<uint64_t>(esize) != r.length()) {
      return Status::Corruption(what + ": length " + std::to_string(r.length()) +
                                " does not match its shape and dtype");
    }
    if (r.offset() < kMinOffset || r.offset() > (uint64_t{1} << 62) ||
        r.length() > (uint64_t{1} << 62)) {
      return Status::Corruption(what + ": offset " + std::to_string(r.offset()) + " out of range");
    }
  }
  return Status::Ok();
}

}  // namespace fc::ckpt
