#include "data/idx.h"

#include <ATen/ATen.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/files.h"

namespace fc::data {
namespace {

// Reads a whole file, inflating it when it starts with the gzip magic (gzread passes plain files
// through unchanged).
Result<std::vector<uint8_t>> ReadAllMaybeGzip(const std::string& path) {
  if (!Exists(path)) return Status::NotFound(path + ": no such file");
  // A regular file only (a FIFO would block gzopen), opened without blocking, then read by zlib.
  FC_ASSIGN_OR_RETURN(int fd, OpenForRead(path));
  gzFile f = gzdopen(fd, "rb");
  if (f == nullptr) {
    ::close(fd);
    return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  }
  gzbuffer(f, 1 << 17);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      return Status::Corruption(path + ": gzip stream damaged at uncompressed byte offset " +
                                std::to_string(out.size()) + ": " + msg);
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  // A gzip member cut short reads as EOF without error on some zlib versions: ask explicitly.
  int code = 0;
  const char* msg = gzerror(f, &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    std::string m = msg;
    gzclose(f);
    return Status::Corruption(path + ": gzip stream damaged at uncompressed byte offset " +
                              std::to_string(out.size()) + ": " + m);
  }
  int rc = gzclose(f);
  if (rc == Z_BUF_ERROR) {
    return Status::Corruption(path + ": gzip stream truncated at uncompressed byte offset " +
                              std::to_string(out.size()));
  }
  if (rc != Z_OK) {
    return Status::Corruption(path + ": gzip stream damaged (zlib error " + std::to_string(rc) +
                              ") at uncompressed byte offset " + std::to_string(out.size()));
  }
  return out;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

Result<at::Tensor> ReadIdx(const std::string& path) {
  FC_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAllMaybeGzip(path));
  if (bytes.size() < 4) {
    return Status::Corruption(path + ": IDX header truncated at byte offset " +
                              std::to_string(bytes.size()) + " (need 4 magic bytes)");
  }
  if (bytes[0] != 0 || bytes[1] != 0) {
    char m[16];
    std::snprintf(m, sizeof(m), "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
    return Status::Corruption(path + ": bad IDX magic 0x" + m +
                              " at byte offset 0 (expected 0x000008NN)");
  }
  if (bytes[2] != 0x08) {
    char m[8];
    std::snprintf(m, sizeof(m), "0x%02x", bytes[2]);
    return Status::Corruption(path + ": IDX element type " + m +
                              " at byte offset 2 is not unsigned byte (0x08)");
  }
  const int ndim = bytes[3];
  if (ndim < 1 || ndim > 8) {
    return Status::Corruption(path + ": IDX dimension count " + std::to_string(ndim) +
                              " at byte offset 3 (must be 1..8)");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header) {
    return Status::Corruption(path + ": IDX header truncated at byte offset " +
                              std::to_string(bytes.size()) + " (need " + std::to_string(header) +
                              " bytes for " + std::to_string(ndim) + " dimensions)");
  }
  std::vector<int64_t> shape;
  uint64_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    uint32_t s = BigEndian32(bytes.data() + 4 + 4 * d);
    if (s == 0 && d > 0) {
      return Status::Corruption(path + ": IDX dimension " + std::to_string(d) + " at byte offset " +
                                std::to_string(4 + 4 * d) + " is 0");
    }
    count *= s;
    if (count > (uint64_t(1) << 40)) {
      return Status::Corruption(path +
                                ": IDX dimensions at byte offset 4 describe more than 2^40 "
                                "elements");
    }
    shape.push_back(s);
  }
  if (bytes.size() - header != count) {
    const char* what = bytes.size() - header < count ? "truncated" : "has trailing bytes";
    return Status::Corruption(
        path + ": IDX body " + what + ": " + std::to_string(bytes.size() - header) +
        " bytes after the header at " + "byte offset " + std::to_string(header) +
        ", dimensions need " + std::to_string(count));
  }
  at::Tensor t = at::empty(shape, at::kByte);
  if (count > 0) std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + header, count);
  return t;
}

Result<at::Tensor> ReadIdxImages(const std::string& path) {
  FC_ASSIGN_OR_RETURN(at::Tensor t, ReadIdx(path));
  if (t.dim() != 3) {
    return Status::InvalidArgument(path + ": IDX file has " + std::to_string(t.dim()) +
                                   " dimensions at byte offset 3; images need 3 (N, H, W)");
  }
  if (t.size(0) == 0) return Status::InvalidArgument(path + ": IDX image file holds no images");
  return t;
}

Result<at::Tensor> ReadIdxLabels(const std::string& path) {
  FC_ASSIGN_OR_RETURN(at::Tensor t, ReadIdx(path));
  if (t.dim() != 1) {
    return Status::InvalidArgument(path + ": IDX file has " + std::to_string(t.dim()) +
                                   " dimensions at byte offset 3; labels need 1 (N)");
  }
  return t;
}

Status WriteIdx(const std::string& path, const at::Tensor& data, bool gzip) {
  if (data.scalar_type() != at::kByte || data.dim() < 1 || data.dim() > 8) {
    return Status::InvalidArgument(path + ": WriteIdx needs a uint8 tensor with 1..8 dimensions");
  }
  at::Tensor c = data.contiguous();
  std::string bytes = {0, 0, 8, static_cast<char>(c.dim())};
  for (int64_t d = 0; d < c.dim(); ++d) {
    uint32_t s = static_cast<uint32_t>(c.size(d));
    for (int k = 3; k >= 0; --k) bytes.push_back(static_cast<char>((s >> (8 * k)) & 0xff));
  }
  bytes.append(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
  if (!gzip) return WriteFileAtomic(path, bytes);
  const std::string tmp = path + ".tmp";
  gzFile f = gzopen(tmp.c_str(), "wb6");
  if (f == nullptr) return Status::IoError(tmp + ": cannot create: " + std::strerror(errno));
  int n = bytes.empty() ? 0 : gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  int rc = gzclose(f);
  if (n != static_cast<int>(bytes.size()) || rc != Z_OK) {
    (void)RemoveFile(tmp);
    return Status::IoError(tmp + ": gzip write failed");
  }
  return RenamePath(tmp, path);
}

}  // namespace fc::data
