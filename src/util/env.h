// Environment variables read as numbers (launcher and test-hook settings).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace fc {

// The decimal integer in environment variable `name`; `fallback` when it is unset, empty or not
// entirely a decimal integer (with an optional sign).
inline int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<int64_t>(x) : fallback;
}

// FRAMECAST_STATUS_DIR (set by launch/run.sh): writes this process's exit status `rc` to
// <dir>/rank<R> (R: OMPI_COMM_WORLD_RANK or SLURM_PROCID, else 0), so the launcher can return the
// ranks' status when mpirun reports its own (it returns 1 after a SIGTERM sent to it). Called as
// soon as the status is known (before MPI teardown, which mpirun may cut short) and again at exit.
inline void RecordExitStatus(int rc) {
  const char* dir = std::getenv("FRAMECAST_STATUS_DIR");
  if (dir == nullptr || *dir == '\0') return;
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank == nullptr) rank = std::getenv("SLURM_PROCID");
  const std::string r = rank != nullptr ? rank : "0";
  if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos) return;
  if (FILE* f = std::fopen((std::string(dir) + "/rank" + r).c_str(), "w")) {
    std::fprintf(f, "%d\n", rc);
    std::fclose(f);
  }
}

}  // namespace fc
