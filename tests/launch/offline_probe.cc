// framecast_offline_probe: checks, under mpirun, that a build made by `launch/setup.sh --offline`
// runs on the offline prefix's Open MPI and protobuf.
//
//   mpirun -np N framecast_offline_probe PREFIX
//
// Every rank: starts the World (MPI), all-reduces a tensor over the MPI communicator and checks the
// sum, round-trips a DistConfig through protobuf's wire format, then reads /proc/self/maps: every
// mapped Open MPI / PMIx / hwloc / libevent / UCX / libfabric / protobuf file must lie under
// PREFIX. Rank 0 prints "offline probe: OK ranks=N libmpi=<path> libprotobuf=<path>". Exit 0 on
// success, 1 with a one-line reason per failing rank otherwise.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "dist/communicator_mpi.h"
#include "dist/world.h"
#include "proto/dist_config.pb.h"

namespace {

// Libraries that must come from the prefix (substrings of the mapped file's base name).
const char* const kPrefixLibs[] = {"libmpi.so", "libopen-pal", "libopen-rte", "libpmix",
                                   "libhwloc",  "libevent",    "libucs",      "libucp",
                                   "libfabric", "libprotobuf", "mca_",        "pmix_mca_"};

bool StartsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

// Checks the mapped files; records the paths of libmpi and libprotobuf.
bool CheckMaps(const std::string& prefix, std::string* libmpi, std::string* libprotobuf,
               std::string* error) {
  std::ifstream maps("/proc/self/maps");
  if (!maps) {
    *error = "cannot read /proc/self/maps";
    return false;
  }
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string base = path.substr(path.rfind('/') + 1);
    for (const char* lib : kPrefixLibs) {
      if (base.find(lib) == std::string::npos) continue;
      if (!StartsWith(path, prefix + "/")) {
        *error = "loaded " + path + " from outside the prefix " + prefix;
        return false;
      }
      if (StartsWith(base, "libmpi.so")) *libmpi = path;
      if (StartsWith(base, "libprotobuf.so")) *libprotobuf = path;
    }
  }
  if (libmpi->empty() || libprotobuf->empty()) {
    *error = "libmpi or libprotobuf is not mapped";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] != '/') {
    std::fprintf(stderr, "usage: framecast_offline_probe ABSOLUTE_PREFIX\n");
    return 2;
  }
  const std::string prefix = argv[1];
  auto world = fc::dist::World::Init(&argc, &argv, fc::dist::WorldOptions{});
  if (!world.ok()) {
    std::fprintf(stderr, "offline probe: %s\n", world.status().ToString().c_str());
    return 1;
  }
  const int rank = (*world)->rank(), size = (*world)->size();
  std::string error;

  // MPI: sum of (rank + 1) over ranks, through framecast's MPI communicator.
  auto comm = fc::dist::MpiCommunicator::Create((*world)->comm());
  if (!comm.ok()) {
    error = "communicator: " + comm.status().ToString();
  } else {
    at::Tensor t = at::full({1024}, static_cast<float>(rank + 1));
    fc::Status s = (*comm)->AllReduce(t, fc::dist::ReduceOp::kSum)->Wait();
    const float want = size * (size + 1) / 2.0f;
    if (!s.ok()) {
      error = "all-reduce: " + s.ToString();
    } else if (t.min().item<float>() != want || t.max().item<float>() != want) {
      error = "all-reduce: wrong sum (want " + std::to_string(want) + ")";
    }
  }

  // protobuf: the wire format round-trips.
  framecast::DistConfig config;
  config.set_bucket_mib(25.0 + rank);
  config.set_backend(framecast::DistConfig::BACKEND_MPI);
  framecast::DistConfig back;
  if (error.empty() && (!back.ParseFromString(config.SerializeAsString()) ||
                        back.bucket_mib() != config.bucket_mib() ||
                        back.backend() != framecast::DistConfig::BACKEND_MPI)) {
    error = "protobuf round trip differs";
  }

  std::string libmpi, libprotobuf;
  if (error.empty()) CheckMaps(prefix, &libmpi, &libprotobuf, &error);

  fc::Status agreed = (*world)->AgreeOnStatus(
      error.empty() ? fc::Status::Ok() : fc::Status::Internal(error), "probe");
  if (!agreed.ok()) {
    if (rank == 0) std::fprintf(stderr, "offline probe: %s\n", agreed.ToString().c_str());
    return 1;
  }
  if (rank == 0) {
    std::printf("offline probe: OK ranks=%d libmpi=%s libprotobuf=%s\n", size, libmpi.c_str(),
                libprotobuf.c_str());
  }
  return 0;
}
