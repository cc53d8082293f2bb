#include "bench/peak_flops.h"

namespace fc::bench {

namespace {

struct Entry {
  const char* match;  // substring of the CUDA device name; the first match wins
  const char* name;
  double bf16, tf32;  // dense TFLOP/s
};

// Dense tensor-core peaks from NVIDIA's product datasheets, which quote them "with sparsity"
// (2x); the values here are half of those:
//   H100 SXM5  (NVIDIA H100 Tensor Core GPU datasheet): BF16 1,979 / TF32 989 sparse -> 989.5 /
//   494.5 H100 NVL   (same datasheet, NVL column):            BF16 1,671 / TF32 835 sparse -> 835.5
//   / 417.5 H100 PCIe  (same datasheet, PCIe column):           BF16 1,513 / TF32 756 sparse ->
//   756.5 / 378 H200 SXM   (NVIDIA H200 Tensor Core GPU datasheet): BF16 1,979 / TF32 989 sparse ->
//   989.5 / 494.5 H200 NVL   (same datasheet, NVL column):            BF16 1,671 / TF32 835 sparse
//   -> 835.5 / 417.5 GH200      (NVIDIA GH200 Grace Hopper datasheet, its H100/H200 GPU): as H100
//   SXM5
// (Non-tensor FP32 is 67 / 60 / 51 TFLOP/s for SXM / NVL / PCIe; not used: PyTorch and LibTorch
// run fp32 convolutions as TF32 by default.)
constexpr Entry kTable[] = {
    {"GH200", "GH200", 989.5, 494.5},       {"H200 NVL", "H200 NVL", 835.5, 417.5},
    {"H200", "H200 SXM", 989.5, 494.5},     {"H100 NVL", "H100 NVL", 835.5, 417.5},
    {"H100 PCIe", "H100 PCIe", 756.5, 378}, {"H100", "H100 SXM", 989.5, 494.5},
};

}  // namespace

PeakFlops PeakFlopsFor(const std::string& device_name, const std::string& precision) {
  for (const Entry& e : kTable) {
    if (device_name.find(e.match) == std::string::npos) continue;
    const bool bf16 = precision == "bf16";
    return PeakFlops{bf16 ? e.bf16 : e.tf32,
                     std::string(e.name) + (bf16 ? ", BF16 dense" : ", TF32 dense (fp32 run)") +
                         " (NVIDIA datasheet, half the sparse figure)"};
  }
  return PeakFlops{};
}

}  // namespace fc::bench
