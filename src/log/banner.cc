#include "log/banner.h"

#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "dist/communicator_nccl.h"

#ifdef FRAMECAST_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace fc::log {
namespace {

std::string CudaVersionText(int v) {  // 12040 -> "12.4"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// "0-3" / "0,2,5" / "0-1,4".
std::string Ranges(const std::vector<int>& xs) {
  std::string out;
  for (size_t i = 0; i < xs.size();) {
    size_t j = i;
    while (j + 1 < xs.size() && xs[j + 1] == xs[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(xs[i]);
    if (j > i) out += "-" + std::to_string(xs[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

VersionInfo CurrentVersions() {
  VersionInfo v;
  v.framecast = FRAMECAST_VERSION;
  v.libtorch = TORCH_VERSION;
  v.mpi = dist::MpiLibraryVersion();
#ifdef FRAMECAST_WITH_CUDA
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess && runtime > 0)
    v.cuda = CudaVersionText(runtime);
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
    v.cuda += " (driver " + CudaVersionText(driver) + ")";
  else
    v.cuda += " (no driver)";
  v.nccl = dist::NcclVersion();
#endif
  return v;
}

std::string FormatVersions(const VersionInfo& v) {
  std::string s = "framecast " + v.framecast + " | LibTorch " + v.libtorch;
  if (!v.cuda.empty()) s += " | CUDA " + v.cuda;
  if (!v.nccl.empty()) s += " | NCCL " + v.nccl;
  return s + " | MPI " + v.mpi;
}

std::vector<RankPlace> GatherPlaces(const dist::World& world) {
  // "<device>\t<host>" per rank.
  const auto all =
      world.GatherToRoot(std::to_string(world.device_index()) + "\t" + world.host().substr(0, 255));
  std::vector<RankPlace> places;
  for (const auto& p : all) {
    const size_t tab = p.find('\t');
    places.push_back({p.substr(tab + 1), std::atoi(p.substr(0, tab).c_str())});
  }
  return places;
}

std::string FormatLayout(const std::vector<RankPlace>& places) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<int>> ranks, gpus;
  for (size_t r = 0; r < places.size(); ++r) {
    const auto& p = places[r];
    if (!ranks.count(p.host)) order.push_back(p.host);
    ranks[p.host].push_back(static_cast<int>(r));
    if (p.device >= 0) gpus[p.host].push_back(p.device);
  }
  std::string s =
      std::to_string(places.size()) + " rank(s) on " + std::to_string(order.size()) + " host(s):";
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& h = order[i];
    s += (i ? "; " : " ") + h + " ranks " + Ranges(ranks[h]);
    if (!gpus[h].empty()) {
      std::string g;
      for (int d : gpus[h]) g += (g.empty() ? "" : ",") + std::to_string(d);
      s += " (GPUs " + g + ")";
    }
  }
  return s;
}

}  // namespace fc::log
