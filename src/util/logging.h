// Rank-aware logging and invariant checks.
//
// Every line is prefixed "[framecast r<rank>/<size> <host>]" once the process knows its place in
// the world (SetLogIdentity, called by dist::World). Info lines print on rank 0 only unless
// `all_ranks`; warnings and errors print on every rank to stderr. Thread-safe.
#pragma once

#include <sstream>
#include <string>

namespace fc {

void SetLogIdentity(int rank, int size, const std::string& host);
int LogRank();
std::string LogPrefix();

void LogInfo(const std::string& msg, bool all_ranks = false);
void LogWarning(const std::string& msg);
void LogError(const std::string& msg);

// Aborts with file:line, rank and message. For broken invariants only, never for bad input.
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const std::string& msg);

}  // namespace fc

#define FC_CHECK(cond, msg)                                       \
  do {                                                            \
    if (!(cond)) {                                                \
      std::ostringstream _fc_os;                                  \
      _fc_os << msg;                                              \
      ::fc::CheckFailed(__FILE__, __LINE__, #cond, _fc_os.str()); \
    }                                                             \
  } while (0)
