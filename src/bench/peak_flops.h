// Peak dense FLOP/s of a GPU, for the model-FLOPs-utilisation (MFU) column of
// `framecast bench step CONFIG`: MFU = counted FLOPs per iteration / seconds per iteration / peak.
#pragma once

#include <string>

namespace fc::bench {

struct PeakFlops {
  double tflops = 0;  // dense; 0: the device is not in the table
  std::string what;   // e.g. "H100 SXM, BF16 dense (NVIDIA H100 datasheet)"
};

// `device_name` as CUDA reports it (e.g. "NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe",
// "NVIDIA H200"); `precision` "fp32" or "bf16". fp32 runs are rated against the TF32 tensor-core
// peak: convolutions (most of these models' FLOPs) run as TF32 in cuDNN by default.
PeakFlops PeakFlopsFor(const std::string& device_name, const std::string& precision);

}  // namespace fc::bench
