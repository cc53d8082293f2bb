#include "util/logging.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace fc {
namespace {
std::mutex g_mu;
int g_rank = -1;
int g_size = 0;
std::string g_host;

void Emit(FILE* f, const char* level, const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(f, "%s%s%s\n", LogPrefix().c_str(), level, msg.c_str());
  std::fflush(f);
}
}  // namespace

void SetLogIdentity(int rank, int size, const std::string& host) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_rank = rank;
  g_size = size;
  g_host = host;
}

int LogRank() { return g_rank; }

std::string LogPrefix() {
  if (g_rank < 0) return "[framecast] ";
  return "[framecast r" + std::to_string(g_rank) + "/" + std::to_string(g_size) + " " + g_host +
         "] ";
}

void LogInfo(const std::string& msg, bool all_ranks) {
  if (!all_ranks && g_rank > 0) return;
  Emit(stdout, "", msg);
}
void LogWarning(const std::string& msg) { Emit(stderr, "warning: ", msg); }
void LogError(const std::string& msg) { Emit(stderr, "error: ", msg); }

void CheckFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "%scheck failed at %s:%d (pid %d): %s: %s\n", LogPrefix().c_str(), file,
               line, static_cast<int>(getpid()), cond, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace fc
