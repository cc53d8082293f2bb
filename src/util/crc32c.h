// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every checkpoint tensor.
//
// Crc32c() uses the SSE4.2 crc32 instruction when the CPU has it and a slicing-by-8 table
// otherwise; Crc32cReference() is the plain bitwise definition the tests compare both against.
// Extend(crc, data, n) continues a running checksum: Crc32c(ab) == Extend(Crc32c(a), b).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fc {

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }
uint32_t Crc32cReference(const void* data, size_t n);
// Which implementation Crc32cExtend uses ("sse4.2" or "table").
const char* Crc32cImplementation();

}  // namespace fc
