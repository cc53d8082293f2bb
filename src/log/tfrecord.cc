#include "log/tfrecord.h"

#include <cstring>

#include "util/crc32c.h"

namespace fc::log {
namespace {

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t MaskedCrc32c(const void* data, size_t n) {
  const uint32_t crc = Crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string FrameRecord(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  PutLe(&out, data.size(), 8);
  PutLe(&out, MaskedCrc32c(out.data(), 8), 4);
  out += data;
  PutLe(&out, MaskedCrc32c(data.data(), data.size()), 4);
  return out;
}

Result<std::vector<std::string>> ParseRecords(const std::string& bytes) {
  std::vector<std::string> records;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where =
        "record " + std::to_string(records.size()) + " at byte offset " + std::to_string(at);
    if (bytes.size() - at < 12) return Status::Corruption(where + ": truncated header");
    const uint64_t len = GetLe(bytes, at, 8);
    if (GetLe(bytes, at + 8, 4) != MaskedCrc32c(bytes.data() + at, 8))
      return Status::Corruption(where + ": length CRC mismatch");
    if (len > bytes.size() - at - 12 || bytes.size() - at - 12 - len < 4)
      return Status::Corruption(where + ": truncated data (length " + std::to_string(len) + ")");
    std::string data = bytes.substr(at + 12, len);
    if (GetLe(bytes, at + 12 + len, 4) != MaskedCrc32c(data.data(), data.size()))
      return Status::Corruption(where + ": data CRC mismatch");
    records.push_back(std::move(data));
    at += 16 + len;
  }
  return records;
}

}  // namespace fc::log
