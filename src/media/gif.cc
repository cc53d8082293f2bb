#include "media/gif.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "util/files.h"

namespace fc::media {
namespace {

class BitWriter {
 public:
  void Put(uint32_t code, int bits) {
    acc_ |= static_cast<uint64_t>(code) << nbits_;
    nbits_ += bits;
    while (nbits_ >= 8) {
      bytes_.push_back(static_cast<char>(acc_ & 0xff));
      acc_ >>= 8;
      nbits_ -= 8;
    }
  }
  std::string Finish() {
    if (nbits_ > 0) bytes_.push_back(static_cast<char>(acc_ & 0xff));
    acc_ = 0;
    nbits_ = 0;
    return std::move(bytes_);
  }

 private:
  uint64_t acc_ = 0;
  int nbits_ = 0;
  std::string bytes_;
};

void Put16(std::string* s, int v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>((v >> 8) & 0xff));
}

int Level(int v, int levels) {  // nearest of `levels` equally spaced levels in [0, 255]
  return (v * (levels - 1) + 127) / 255;
}

}  // namespace

std::string LzwEncode(const std::vector<uint8_t>& indices, int min_code_size) {
  const int clear = 1 << min_code_size, eoi = clear + 1;
  const int alphabet = 1 << min_code_size;
  // child[prefix * alphabet + symbol] = code + 1 (0: absent).
  std::vector<uint16_t> child(static_cast<size_t>(4096) * alphabet, 0);
  BitWriter w;
  int size = min_code_size + 1, next = eoi + 1;
  w.Put(clear, size);
  if (!indices.empty()) {
    int prefix = indices[0];
    for (size_t i = 1; i < indices.size(); ++i) {
      const int k = indices[i];
      const uint16_t c = child[static_cast<size_t>(prefix) * alphabet + k];
      if (c != 0) {
        prefix = c - 1;
        continue;
      }
      w.Put(prefix, size);
      if (next < 4096) {
        child[static_cast<size_t>(prefix) * alphabet + k] = static_cast<uint16_t>(next + 1);
        ++next;
        if (next > (1 << size) && size < 12) ++size;
      } else {
        w.Put(clear, size);
        std::fill(child.begin(), child.end(), 0);
        size = min_code_size + 1;
        next = eoi + 1;
      }
      prefix = k;
    }
    w.Put(prefix, size);
  }
  w.Put(eoi, size);
  return w.Finish();
}

std::vector<uint8_t> LzwDecodeReference(const std::string& data, int min_code_size) {
  const int clear = 1 << min_code_size, eoi = clear + 1;
  std::vector<std::vector<uint8_t>> table;
  auto reset = [&] {
    table.clear();
    for (int i = 0; i < clear; ++i) table.push_back({static_cast<uint8_t>(i)});
    table.push_back({});
    table.push_back({});
  };
  reset();
  std::vector<uint8_t> out;
  int size = min_code_size + 1;
  size_t bitpos = 0;
  int prev = -1;
  while (bitpos + size <= data.size() * 8) {
    int code = 0;
    for (int b = 0; b < size; ++b, ++bitpos) {
      code |= ((static_cast<uint8_t>(data[bitpos / 8]) >> (bitpos % 8)) & 1) << b;
    }
    if (code == clear) {
      reset();
      size = min_code_size + 1;
      prev = -1;
      continue;
    }
    if (code == eoi) break;
    std::vector<uint8_t> entry;
    if (code < static_cast<int>(table.size())) {
      entry = table[code];
    } else if (prev >= 0 && code == static_cast<int>(table.size())) {
      entry = table[prev];
      entry.push_back(table[prev][0]);
    } else {
      break;  // invalid stream
    }
    out.insert(out.end(), entry.begin(), entry.end());
    if (prev >= 0 && table.size() < 4096) {
      std::vector<uint8_t> e = table[prev];
      e.push_back(entry[0]);
      table.push_back(std::move(e));
      if (static_cast<int>(table.size()) == (1 << size) && size < 12) ++size;
    }
    prev = code;
  }
  return out;
}

Result<std::string> EncodeGif(const at::Tensor& frames_in, int fps) {
  if (frames_in.dim() != 4 || frames_in.scalar_type() != at::kByte ||
      (frames_in.size(3) != 1 && frames_in.size(3) != 3) || frames_in.size(0) < 1) {
    return Status::InvalidArgument("gif: frames must be uint8 [T, H, W, C] with C = 1 or 3");
  }
  if (fps < 1) return Status::InvalidArgument("gif: fps must be >= 1");
  at::Tensor frames = frames_in.contiguous();
  const int64_t t = frames.size(0), h = frames.size(1), w = frames.size(2), c = frames.size(3);
  if (h > 65535 || w > 65535 || h < 1 || w < 1) {
    return Status::InvalidArgument("gif: frame size must be in [1, 65535]");
  }
  const uint8_t* px = frames.data_ptr<uint8_t>();
  const int64_t npx = t * h * w;
  std::vector<uint8_t> palette(256 * 3, 0);
  std::vector<uint8_t> idx(npx);
  if (c == 1) {
    for (int i = 0; i < 256; ++i) palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = i;
    std::copy(px, px + npx, idx.begin());
  } else {
    std::map<uint32_t, int> colours;
    for (int64_t i = 0; i < npx && colours.size() <= 256; ++i) {
      colours.emplace((uint32_t(px[3 * i]) << 16) | (uint32_t(px[3 * i + 1]) << 8) | px[3 * i + 2],
                      0);
    }
    if (colours.size() <= 256) {
      int k = 0;
      for (auto& [rgb, slot] : colours) {
        slot = k;
        palette[3 * k] = rgb >> 16;
        palette[3 * k + 1] = (rgb >> 8) & 0xff;
        palette[3 * k + 2] = rgb & 0xff;
        ++k;
      }
      for (int64_t i = 0; i < npx; ++i) {
        idx[i] = static_cast<uint8_t>(colours.at((uint32_t(px[3 * i]) << 16) |
                                                 (uint32_t(px[3 * i + 1]) << 8) | px[3 * i + 2]));
      }
    } else {
      for (int r = 0; r < 6; ++r) {
        for (int g = 0; g < 7; ++g) {
          for (int b = 0; b < 6; ++b) {
            const int k = (r * 7 + g) * 6 + b;
            palette[3 * k] = static_cast<uint8_t>((r * 255 + 2) / 5);
            palette[3 * k + 1] = static_cast<uint8_t>((g * 255 + 3) / 6);
            palette[3 * k + 2] = static_cast<uint8_t>((b * 255 + 2) / 5);
          }
        }
      }
      for (int64_t i = 0; i < npx; ++i) {
        idx[i] = static_cast<uint8_t>((Level(px[3 * i], 6) * 7 + Level(px[3 * i + 1], 7)) * 6 +
                                      Level(px[3 * i + 2], 6));
      }
    }
  }
  std::string out = "GIF89a";
  Put16(&out, static_cast<int>(w));
  Put16(&out, static_cast<int>(h));
  out.push_back(static_cast<char>(0xF7));  // global table, 8-bit colour resolution, 256 entries
  out.push_back(0);                        // background colour index
  out.push_back(0);                        // pixel aspect ratio
  out.append(reinterpret_cast<const char*>(palette.data()), palette.size());
  // NETSCAPE2.0: loop forever.
  out += std::string("\x21\xFF\x0B", 3) + "NETSCAPE2.0" + std::string("\x03\x01\x00\x00\x00", 5);
  const int delay = std::max(1, static_cast<int>(std::lround(100.0 / fps)));
  const size_t frame_px = static_cast<size_t>(h * w);
  for (int64_t f = 0; f < t; ++f) {
    out += std::string("\x21\xF9\x04", 3);
    out.push_back(0x04);  // disposal: leave in place; no transparency
    Put16(&out, delay);
    out.push_back(0);  // transparent index (unused)
    out.push_back(0);
    out.push_back(0x2C);  // image descriptor
    Put16(&out, 0);
    Put16(&out, 0);
    Put16(&out, static_cast<int>(w));
    Put16(&out, static_cast<int>(h));
    out.push_back(0);  // no local table, not interlaced
    out.push_back(8);  // LZW minimum code size
    std::vector<uint8_t> frame(idx.begin() + f * frame_px, idx.begin() + (f + 1) * frame_px);
    const std::string lzw = LzwEncode(frame, 8);
    for (size_t p = 0; p < lzw.size(); p += 255) {
      const size_t n = std::min<size_t>(255, lzw.size() - p);
      out.push_back(static_cast<char>(n));
      out.append(lzw, p, n);
    }
    out.push_back(0);
  }
  out.push_back(0x3B);
  return out;
}

Status WriteGif(const std::string& path, const at::Tensor& frames, int fps) {
  auto bytes = EncodeGif(frames, fps);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return WriteFileAtomic(path, bytes.value());
}

at::Tensor TileClips(const std::vector<at::Tensor>& clips, int columns) {
  TORCH_CHECK(!clips.empty(), "TileClips: no clips");
  TORCH_CHECK(columns >= 1, "TileClips: columns must be >= 1");
  int64_t t = 0, h = 0, w = 0, c = 1;
  std::vector<at::Tensor> u8;
  for (const auto& clip : clips) {
    TORCH_CHECK(clip.dim() == 4 && (clip.size(1) == 1 || clip.size(1) == 3),
                "TileClips: clips must be [T, C, H, W] with C = 1 or 3");
    at::Tensor x = clip.scalar_type() == at::kByte
                       ? clip
                       : clip.to(at::kFloat).clamp(0, 1).mul(255).round().to(at::kByte);
    u8.push_back(x.permute({0, 2, 3, 1}));  // [T, H, W, C]
    t = std::max(t, clip.size(0));
    h = std::max(h, clip.size(2));
    w = std::max(w, clip.size(3));
    c = std::max(c, clip.size(1));
  }
  const int64_t pad = 2, n = static_cast<int64_t>(clips.size());
  const int64_t cols = std::min<int64_t>(columns, n), rows = (n + cols - 1) / cols;
  at::Tensor grid =
      at::zeros({t, rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad, c}, at::kByte);
  for (int64_t i = 0; i < n; ++i) {
    at::Tensor x = u8[i];
    if (x.size(3) != c) x = x.expand({x.size(0), x.size(1), x.size(2), c});
    if (x.size(0) < t) {
      x = at::cat(
          {x, x.narrow(0, x.size(0) - 1, 1).expand({t - x.size(0), x.size(1), x.size(2), c})});
    }
    const int64_t r = i / cols, col = i % cols;
    grid.narrow(1, r * (h + pad), x.size(1)).narrow(2, col * (w + pad), x.size(2)).copy_(x);
  }
  return grid;
}

}  // namespace fc::media
