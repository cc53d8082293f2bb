#include "media/png.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/files.h"

namespace fc::media {
namespace {

void PutU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// Appends length, type, data and the CRC-32 of type + data.
void PutChunk(std::string& out, const char type[4], const std::string& data) {
  PutU32(out, static_cast<uint32_t>(data.size()));
  std::string body(type, 4);
  body += data;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  out += body;
  PutU32(out, static_cast<uint32_t>(crc));
}

}  // namespace

Result<std::string> EncodePng(const at::Tensor& hwc_uint8) {
  if (!hwc_uint8.defined() || hwc_uint8.dim() != 3 || hwc_uint8.scalar_type() != at::kByte) {
    return Status::InvalidArgument("png: image must be an [H, W, C] uint8 tensor");
  }
  const int64_t h = hwc_uint8.size(0), w = hwc_uint8.size(1), c = hwc_uint8.size(2);
  if (c != 1 && c != 3 && c != 4) {
    return Status::InvalidArgument("png: channels must be 1, 3 or 4, got " + std::to_string(c));
  }
  if (h < 1 || w < 1 || h >= (int64_t{1} << 31) || w >= (int64_t{1} << 31)) {
    return Status::InvalidArgument("png: bad size " + std::to_string(h) + "x" + std::to_string(w));
  }
  at::Tensor img = hwc_uint8.to(at::kCPU).contiguous();
  const uint8_t* px = img.data_ptr<uint8_t>();
  const size_t row = static_cast<size_t>(w * c);

  // Raw scanlines: one filter byte (0 = None) before each row.
  std::vector<uint8_t> raw(static_cast<size_t>(h) * (row + 1));
  for (int64_t y = 0; y < h; ++y) {
    uint8_t* dst = raw.data() + static_cast<size_t>(y) * (row + 1);
    dst[0] = 0;
    std::copy(px + static_cast<size_t>(y) * row, px + static_cast<size_t>(y + 1) * row, dst + 1);
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::string z(zlen, '\0');
  int zrc = compress2(reinterpret_cast<Bytef*>(&z[0]), &zlen, raw.data(),
                      static_cast<uLong>(raw.size()), 6);
  if (zrc != Z_OK)
    return Status::Internal("png: zlib compress2 failed (" + std::to_string(zrc) + ")");
  z.resize(zlen);

  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  PutU32(ihdr, static_cast<uint32_t>(w));
  PutU32(ihdr, static_cast<uint32_t>(h));
  ihdr.push_back(8);                              // bit depth
  ihdr.push_back(c == 1 ? 0 : (c == 3 ? 2 : 6));  // colour type: grey, RGB, RGBA
  ihdr.push_back(0);                              // compression: deflate
  ihdr.push_back(0);                              // filter method 0
  ihdr.push_back(0);                              // no interlace
  PutChunk(out, "IHDR", ihdr);
  PutChunk(out, "IDAT", z);
  PutChunk(out, "IEND", std::string());
  return out;
}

Status WritePng(const std::string& path, const at::Tensor& hwc_uint8) {
  auto bytes = EncodePng(hwc_uint8);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return WriteFileAtomic(path, bytes.value());
}

}  // namespace fc::media
