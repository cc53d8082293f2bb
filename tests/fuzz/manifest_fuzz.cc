// libFuzzer target: arbitrary bytes as a checkpoint manifest. Parsing and validation must never
// crash, read out of bounds or allocate in proportion to a claimed size. Each input is tried as
// it is (mostly stopped by the checksum) and re-wrapped with a valid checksum trailer, so the
// field checks behind the checksum see hostile contents too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ckpt/manifest_check.h"
#include "util/crc32c.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  (void)fc::ckpt::DecodeManifest(raw, "fuzz");
  std::string wrapped = raw;
  const uint32_t crc = fc::Crc32c(raw.data(), raw.size());
  wrapped += "FCMANIF2";
  for (int i = 0; i < 4; ++i) wrapped.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  (void)fc::ckpt::DecodeManifest(wrapped, "fuzz");
  return 0;
}
