// Helpers of the data tests: temporary folders, shell commands, ffmpeg/ffprobe availability.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace fc::data::testing {

// A fresh folder under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs a shell command; returns its exit status (stdout/stderr of the command go to `output`).
int Shell(const std::string& command, std::string* output = nullptr);
bool HaveFfmpeg();
// ffprobe's count of decoded video frames of `path` (-1 on failure).
int64_t ProbeFrameCount(const std::string& path);
// Truncates a file to `bytes`.
void Truncate(const std::string& path, int64_t bytes);
int64_t SizeOf(const std::string& path);
// Flips one byte of a file at `offset`.
void FlipByte(const std::string& path, int64_t offset);

}  // namespace fc::data::testing
