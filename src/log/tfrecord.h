// TFRecord framing, the container of TensorBoard event files.
//
// A record is: uint64 length (little-endian), uint32 masked CRC-32C of those 8 length bytes, the
// `length` data bytes, uint32 masked CRC-32C of the data (both CRCs little-endian). The mask is
// TensorFlow's: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32). CRC-32C is ckpt/crc32c.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc::log {

// The masked CRC-32C of n bytes at data.
uint32_t MaskedCrc32c(const void* data, size_t n);

// The framed record holding `data` (length + 16 bytes).
std::string FrameRecord(const std::string& data);

// Splits `bytes` (a whole file) into the records' data, checking both CRCs of every record.
// Corruption names the record index and byte offset.
Result<std::vector<std::string>> ParseRecords(const std::string& bytes);

}  // namespace fc::log
