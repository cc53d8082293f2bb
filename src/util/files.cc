#include "util/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fc {
namespace {
Status OsError(const std::string& what, const std::string& path) {
  return Status::IoError(path + ": " + what + ": " + std::strerror(errno));
}
}  // namespace

Result<WriteFile> WriteFile::Create(const std::string& path) {
  // A new file, never through a link: whatever is at `path` (an old file, or a link planted by
  // someone who can write the directory) is unlinked first, which removes the link, not its target.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return OsError("cannot replace", path);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return OsError("cannot create", path);
  return WriteFile(fd, path);
}

Result<FILE*> OpenForAppend(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                  0644);
  if (fd < 0) {
    if (errno == ELOOP)
      return Status::InvalidArgument(path + ": is a symbolic link; refusing to write through it");
    return OsError("cannot open for appending", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file; refusing to write to it");
  }
  FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    ::close(fd);
    return OsError("cannot open for appending", path);
  }
  return f;
}

WriteFile::~WriteFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status WriteFile::Append(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return OsError("write failed at offset " + std::to_string(offset_), path_);
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset_ += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status WriteFile::SyncAndClose() {
  if (::fsync(fd_) != 0) return OsError("fsync failed", path_);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return OsError("close failed", path_);
  return Status::Ok();
}

Result<int> OpenForRead(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a regular file is refused.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return OsError("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file");
  }
  return fd;
}

Status ReadAt(const std::string& path, int fd, uint64_t offset, void* out, size_t n) {
  char* p = static_cast<char*>(out);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return OsError("read failed at offset " + std::to_string(offset), path);
    }
    if (r == 0)
      return Status::Corruption(path + ": truncated: no data at offset " + std::to_string(offset));
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return OsError("cannot stat", path);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes) {
  FC_ASSIGN_OR_RETURN(int fd, OpenForRead(path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return OsError("cannot stat", path);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    return Status::Corruption(path + ": " + std::to_string(size) + " bytes, more than the " +
                              std::to_string(max_bytes) + " allowed");
  }
  std::string data(size, '\0');
  Status s = size ? ReadAt(path, fd, 0, data.data(), size) : Status::Ok();
  ::close(fd);
  FC_RETURN_IF_ERROR(s);
  return data;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return OsError("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return OsError("fsync of directory failed", dir);
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    FC_ASSIGN_OR_RETURN(WriteFile f, WriteFile::Create(tmp));
    Status s = f.Append(data.data(), data.size());
    if (s.ok()) s = f.SyncAndClose();
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = OsError("cannot rename " + tmp + " onto", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDir(DirName(path));
}

Status MakeDirs(const std::string& dir) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      return OsError("cannot create directory", partial);
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return OsError("not a directory", dir);
  return Status::Ok();
}

Status RemoveTree(const std::string& path) {
  if (!Exists(path)) return Status::Ok();
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p); };
  if (::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return OsError("cannot remove", path);
  return Status::Ok();
}

Status RenamePath(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return OsError("cannot rename to " + to, from);
  return Status::Ok();
}

bool IsLink(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool IsRealDir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return OsError("cannot remove", path);
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  auto p = path.find_last_of('/');
  if (p == std::string::npos) return ".";
  return p == 0 ? "/" : path.substr(0, p);
}

std::string BaseName(const std::string& path) {
  auto p = path.find_last_of('/');
  return p == std::string::npos ? path : path.substr(p + 1);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

}  // namespace fc
