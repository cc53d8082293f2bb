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
// Every rule of FORMAT.md that needs no file access (versions, names, dtypes, shapes, offsets,
// and the range of every progress field); errors start with `where`.
Status ValidateManifest(const framecast::ckpt::Manifest& m, const std::string& where);

// MANIFEST.pb's bytes (FORMAT.md "Manifest"): the serialised Manifest, then a 12-byte trailer,
// the magic "FCMANIF2" and the CRC-32C of the serialisation (u32 little-endian). Encode sets
// format_version 2. Decode checks the trailer (a version-1 manifest has none and is still read;
// a version-2 manifest without a valid trailer is damage), parses and validates.
inline constexpr uint32_t kManifestVersion = 2;
std::string EncodeManifest(framecast::ckpt::Manifest m);
Result<framecast::ckpt::Manifest> DecodeManifest(const std::string& bytes,
                                                 const std::string& where);

}  // namespace fc::ckpt
