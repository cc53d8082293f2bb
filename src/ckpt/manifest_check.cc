#include "ckpt/manifest_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "util/crc32c.h"
#include "util/digest.h"

namespace fc::ckpt {
namespace {
constexpr char kTrailerMagic[9] = "FCMANIF2";
constexpr size_t kTrailerBytes = 12;
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
  if (m.format_version() != 1 && m.format_version() != kManifestVersion) {
    return Status::Corruption(path + ": format_version " + std::to_string(m.format_version()) +
                              " (this framecast reads 1 and " + std::to_string(kManifestVersion) +
                              ")");
  }
  // Progress fields: resume indexes with them.
  auto bad = [&](const std::string& field, long long v, const std::string& rule) {
    return Status::Corruption(path + ": " + field + " " + std::to_string(v) + " out of range (" +
                              rule + ")");
  };
  if (m.step() < 0) return bad("step", m.step(), ">= 0");
  if (m.global_step() < m.step()) return bad("global_step", m.global_step(), ">= step");
  if (m.micro_step() < 0) return bad("micro_step", m.micro_step(), ">= 0");
  if (m.data_epoch() < 0) return bad("data_epoch", m.data_epoch(), ">= 0");
  if (m.data_position() < 0) return bad("data_position", m.data_position(), ">= 0");
  if (m.created_unix_ms() < 0) return bad("created_unix_ms", m.created_unix_ms(), ">= 0");
  if (m.stages_size() > 4096) return bad("stages count", m.stages_size(), "<= 4096");
  if (m.stage_index() < 0 || (m.stages_size() > 0 && m.stage_index() >= m.stages_size()))
    return bad("stage_index", m.stage_index(),
               "0 to " + std::to_string(std::max(0, m.stages_size() - 1)));
  for (int i = 0; i < m.stages_size(); ++i) {
    const auto& st = m.stages(i);
    const std::string f = "stages[" + std::to_string(i) + "].";
    if (!framecast::ckpt::StageStatus::State_IsValid(st.state()))
      return bad(f + "state", st.state(), "PENDING, RUNNING or DONE");
    if (st.steps_done() < 0) return bad(f + "steps_done", st.steps_done(), ">= 0");
    if (st.best_step() < 0) return bad(f + "best_step", st.best_step(), ">= 0");
    if (st.evals_since_best() < 0)
      return bad(f + "evals_since_best", st.evals_since_best(), ">= 0");
    if (st.has_best() && !std::isfinite(st.best_value()))
      return Status::Corruption(path + ": " + f + "best_value is not finite");
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

std::string EncodeManifest(framecast::ckpt::Manifest m) {
  m.set_format_version(kManifestVersion);
  std::string bytes = m.SerializeAsString();
  const uint32_t crc = Crc32c(bytes.data(), bytes.size());
  bytes.append(kTrailerMagic, 8);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return bytes;
}

Result<framecast::ckpt::Manifest> DecodeManifest(const std::string& bytes,
                                                 const std::string& where) {
  const bool trailer =
      bytes.size() >= kTrailerBytes &&
      std::memcmp(bytes.data() + bytes.size() - kTrailerBytes, kTrailerMagic, 8) == 0;
  const size_t body = trailer ? bytes.size() - kTrailerBytes : bytes.size();
  if (trailer) {
    uint32_t want = 0;
    for (int i = 0; i < 4; ++i)
      want |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[body + 8 + i])) << (8 * i);
    const uint32_t got = Crc32c(bytes.data(), body);
    if (got != want) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), ": checksum mismatch (CRC-32C %08x, trailer says %08x)", got,
                    want);
      return Status::Corruption(where + buf);
    }
  }
  framecast::ckpt::Manifest m;
  if (body > static_cast<size_t>(INT32_MAX) ||
      !m.ParseFromArray(bytes.data(), static_cast<int>(body)))
    return Status::Corruption(where + ": not a framecast checkpoint manifest");
  if (trailer && m.format_version() < kManifestVersion)
    return Status::Corruption(where + ": format_version " + std::to_string(m.format_version()) +
                              " with a version-2 checksum trailer");
  if (!trailer && m.format_version() >= kManifestVersion)
    return Status::Corruption(where + ": format_version " + std::to_string(m.format_version()) +
                              " manifest without its checksum trailer (truncated or damaged)");
  FC_RETURN_IF_ERROR(ValidateManifest(m, where));
  return m;
}

}  // namespace fc::ckpt
