// Rank-aware logging and invariant checks.
//
// Every line is prefixed "[framecast r<rank>/<size> <host>]" once the process knows its place in
// the world (SetLogIdentity, called by dist::World). Info lines print on rank 0 only unless
// `all_ranks`; warnings and errors print on every rank to stderr. Thread-safe.
//
// Optional sinks (off by default, so behaviour is unchanged until a caller turns them on):
//   - a per-process log file (OpenLogFile): every line this process logs, info lines of every
//     rank included, is also appended there (flushed per line);
//   - a status line (SetStatusLine): one live line (a progress bar) kept at the bottom of stdout;
//     log lines clear it, print, and redraw it. Callers use it only when stdout is a terminal.
#pragma once

#include <sstream>
#include <string>

#include "util/status.h"

namespace fc {

void SetLogIdentity(int rank, int size, const std::string& host);
int LogRank();
std::string LogPrefix();

void LogInfo(const std::string& msg, bool all_ranks = false);
void LogWarning(const std::string& msg);
void LogError(const std::string& msg);

// Appends every subsequent log line to `path` (created if needed); replaces a previously opened
// file. A link at `path` or a non-regular file is refused (never written through); on an error
// logging to the console goes on.
Status OpenLogFile(const std::string& path);
void CloseLogFile();
// Sets (non-empty) or clears (empty) the live status line on stdout; see above.
void SetStatusLine(const std::string& line);

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
