#include "util/logging.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "util/files.h"

namespace fc {
namespace {
std::mutex g_mu;
int g_rank = -1;
int g_size = 0;
std::string g_host;
FILE* g_file = nullptr;  // GUARDED_BY(g_mu): the per-process log file, if open
std::string g_status;    // GUARDED_BY(g_mu): the live status line, if any

// `console` == nullptr: the line goes to the log file only.
void Emit(FILE* console, const char* level, const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mu);
  const std::string prefix = LogPrefix();
  if (console != nullptr) {
    if (!g_status.empty()) std::fputs("\r\033[K", stdout);
    std::fprintf(console, "%s%s%s\n", prefix.c_str(), level, msg.c_str());
    std::fflush(console);
    if (!g_status.empty()) {
      std::fputs(g_status.c_str(), stdout);
      std::fflush(stdout);
    }
  }
  if (g_file != nullptr) {
    std::fprintf(g_file, "%s%s%s\n", prefix.c_str(), level, msg.c_str());
    std::fflush(g_file);
  }
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
  Emit(!all_ranks && g_rank > 0 ? nullptr : stdout, "", msg);
}
void LogWarning(const std::string& msg) { Emit(stderr, "warning: ", msg); }
void LogError(const std::string& msg) { Emit(stderr, "error: ", msg); }

Status OpenLogFile(const std::string& path) {
  auto opened = OpenForAppend(path);  // never through a link planted at the path
  if (!opened.ok()) return opened.status();
  FILE* f = opened.value();
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_file != nullptr) std::fclose(g_file);
  g_file = f;
  return Status::Ok();
}

void CloseLogFile() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_file != nullptr) std::fclose(g_file);
  g_file = nullptr;
}

void SetStatusLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (line.empty() && g_status.empty()) return;
  std::fputs("\r\033[K", stdout);
  if (!line.empty()) std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  g_status = line;
}

void CheckFailed(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "%scheck failed at %s:%d (pid %d): %s: %s\n", LogPrefix().c_str(), file,
               line, static_cast<int>(getpid()), cond, msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace fc
