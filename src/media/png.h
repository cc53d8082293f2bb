// PNG encoding of 8-bit images (zlib deflate, one IDAT chunk, CRC-32 per chunk).
//
// Layout: an image is an [H, W, C] uint8 tensor (C = 1 grey, 3 RGB, 4 RGBA), any device, any
// strides (it is copied to a contiguous CPU buffer). Rows are written with PNG filter type 0
// (None); 8 bits per channel, no interlacing. The encoder is stateless and thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "util/status.h"

namespace fc::media {

// The PNG file bytes of `hwc_uint8`. InvalidArgument when the tensor is not [H, W, C] uint8 with
// C in {1, 3, 4} and H, W in [1, 2^31); Internal when zlib fails.
Result<std::string> EncodePng(const at::Tensor& hwc_uint8);

// Encodes and writes atomically (path.tmp, fsync, rename onto `path`); errors name `path`.
Status WritePng(const std::string& path, const at::Tensor& hwc_uint8);

}  // namespace fc::media
