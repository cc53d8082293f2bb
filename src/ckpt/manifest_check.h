// Validation of a parsed checkpoint manifest against hostile input (see FORMAT.md, "Reading").
// Free of LibTorch so the fuzz target (tests/fuzz/) builds with clang and libFuzzer alone.
#pragma once

#include <cstdint>
#include <string>

#include "ckpt/manifest.pb.h"
#include "util/status.h"

namespace fc::ckpt {

// Bytes per element of a manifest dtype name, or 0 if the name is not a known dtype.
int DtypeSize(const std::string& dtype);
// "shard-00001-of-00003.bin".
std::string ShardFileName(int rank, int world_size);
// Every rule of FORMAT.md that needs no file access; errors start with `where`.
Status ValidateManifest(const framecast::ckpt::Manifest& m, const std::string& where);

}  // namespace fc::ckpt
