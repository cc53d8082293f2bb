#include "data/test_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "util/files.h"

namespace fc::data::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/framecast-data-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() { (void)fc::RemoveTree(path_); }

int Shell(const std::string& command, std::string* output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (output != nullptr) *output = out;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool HaveFfmpeg() {
  static int have = -1;
  if (have < 0) have = Shell("command -v ffmpeg && command -v ffprobe") == 0 ? 1 : 0;
  return have == 1;
}

int64_t ProbeFrameCount(const std::string& path) {
  std::string out;
  if (Shell("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
            "stream=nb_read_frames -of csv=p=0 '" +
                path + "'",
            &out) != 0) {
    return -1;
  }
  try {
    return std::stoll(out);
  } catch (...) {
    return -1;
  }
}

void Truncate(const std::string& path, int64_t bytes) {
  if (::truncate(path.c_str(), bytes) != 0) throw std::runtime_error("truncate " + path);
}

int64_t SizeOf(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

void FlipByte(const std::string& path, int64_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("open " + path);
  unsigned char c = 0;
  if (::pread(fd, &c, 1, offset) != 1) throw std::runtime_error("pread " + path);
  c ^= 0x5a;
  if (::pwrite(fd, &c, 1, offset) != 1) throw std::runtime_error("pwrite " + path);
  ::close(fd);
}

}  // namespace fc::data::testing
