// MNIST-format IDX files (http://yann.lecun.com/exdb/mnist/): digits and labels.
//
// Format: big-endian magic 0x0000TTDD (TT = element type, 0x08 = unsigned byte; DD = number of
// dimensions), DD big-endian uint32 dimension sizes, then the elements. Files may be
// gzip-compressed (detected by content, not by name) or plain. Errors name the file and the byte
// offset of the uncompressed stream where the problem was found.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "util/status.h"

namespace fc::data {

// Debian's Fashion-MNIST (package dataset-fashion-mnist, installed by launch/setup.sh).
inline constexpr const char* kDefaultTrainImages =
    "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
inline constexpr const char* kDefaultTrainLabels =
    "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
inline constexpr const char* kDefaultTestImages =
    "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
inline constexpr const char* kDefaultTestLabels =
    "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

// Any uint8 IDX file: a uint8 tensor of its shape. Rejects other element types, more than 8
// dimensions, a short body and trailing bytes.
Result<at::Tensor> ReadIdx(const std::string& path);
// Images: a uint8 tensor [N, H, W] (3 dimensions required; MNIST has H = W = 28).
Result<at::Tensor> ReadIdxImages(const std::string& path);
// Labels: a uint8 tensor [N] (1 dimension required).
Result<at::Tensor> ReadIdxLabels(const std::string& path);

// Writes a uint8 tensor as an IDX file (plain, or gzip when `gzip`); used by tests and tools.
Status WriteIdx(const std::string& path, const at::Tensor& data, bool gzip);

}  // namespace fc::data
