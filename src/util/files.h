// POSIX file operations for checkpoints, as Status values that name the path and the OS error.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "util/status.h"

namespace fc {

// A new file opened for writing: whatever was at the path (a file, or a symbolic link, which is
// removed, never followed) is replaced. SyncAndClose() fsyncs before closing.
class WriteFile {
 public:
  static Result<WriteFile> Create(const std::string& path);
  WriteFile(WriteFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)), offset_(o.offset_) {
    o.fd_ = -1;
  }
  WriteFile& operator=(WriteFile&&) = delete;
  ~WriteFile();
  // Appends n bytes (handles short writes; ENOSPC and EFBIG come back as IoError).
  Status Append(const void* data, size_t n);
  uint64_t offset() const { return offset_; }
  Status SyncAndClose();

 private:
  WriteFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
  uint64_t offset_ = 0;
};

// Opens `path` for appending (created if absent) without following a symbolic link at it;
// InvalidArgument for a link or anything but a regular file.
Result<FILE*> OpenForAppend(const std::string& path);
// Whether `path` itself is a symbolic link / a directory that is not a link (lstat).
bool IsLink(const std::string& path);
bool IsRealDir(const std::string& path);

// Reads exactly n bytes at `offset` into `out`.
Status ReadAt(const std::string& path, int fd, uint64_t offset, void* out, size_t n);
// Opens a regular file for reading (a FIFO, device or directory is refused without blocking).
Result<int> OpenForRead(const std::string& path);
// The size of a regular file (anything else: InvalidArgument).
Result<uint64_t> FileSize(const std::string& path);
// The whole file, refused when larger than max_bytes (checked before anything is allocated).
Result<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes);
// Writes `data` to path.tmp, fsyncs, renames onto path, fsyncs the directory: atomic replace.
Status WriteFileAtomic(const std::string& path, const std::string& data);
Status SyncDir(const std::string& dir);
Status MakeDirs(const std::string& dir);
Status RemoveTree(const std::string& path);
bool Exists(const std::string& path);
Status RenamePath(const std::string& from, const std::string& to);
Status RemoveFile(const std::string& path);
// "a/b/c" -> "a/b" ("." for a bare name); "a/b/c" -> "c".
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);

// Note: std::filesystem is not used anywhere in framecast: LibTorch's libtorch.so exports its own
// std::filesystem symbols, which interpose on libstdc++'s and crash (seen with remove_all).
// Names of the entries of `dir` (no "." or ".."); empty if it does not exist.
std::vector<std::string> ListDir(const std::string& dir);

}  // namespace fc
