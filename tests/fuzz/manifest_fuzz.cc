// libFuzzer target: arbitrary bytes as a checkpoint manifest. Parsing and validation must never
// crash, read out of bounds or allocate in proportion to a claimed size.
#include <cstddef>
#include <cstdint>

#include "ckpt/manifest_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  framecast::ckpt::Manifest m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) return 0;
  (void)fc::ckpt::ValidateManifest(m, "fuzz");
  return 0;
}
