#include "train/run_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace fc::train {
namespace {

std::string Holder() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::string s = "host " + std::string(host) + " pid " + std::to_string(getpid());
  if (const char* job = std::getenv("SLURM_JOB_ID"); job != nullptr && *job != '\0')
    s += " SLURM job " + std::string(job);
  char when[64] = {0};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return s + " since " + when;
}

int Lock(int fd, bool* busy) {
  struct flock fl;
  std::memset(&fl, 0, sizeof(fl));
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
  int r = fcntl(fd, F_OFD_SETLK, &fl);
  if (r != 0 && errno == EINVAL) r = fcntl(fd, F_SETLK, &fl);  // kernel without OFD locks
#else
  int r = fcntl(fd, F_SETLK, &fl);
#endif
  *busy = r != 0 && (errno == EAGAIN || errno == EACCES);
  return r;
}

}  // namespace

RunLock::RunLock(RunLock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

RunLock::~RunLock() {
  if (fd_ >= 0) close(fd_);  // closing the description releases the lock
}

Result<RunLock> RunLock::Acquire(const std::string& run_dir) {
  RunLock lock;
  lock.path_ = run_dir + "/LOCK";
  const int fd =
      open(lock.path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) {
    const int e = errno;
    if (e == ELOOP)
      return Status::InvalidArgument(lock.path_ +
                                     ": is a symbolic link; refusing to use this run directory");
    return Status::IoError(lock.path_ + ": cannot open the run lock: " + std::strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(lock.path_ +
                                   ": not a regular file; refusing to use this run "
                                   "directory");
  }
  bool busy = false;
  if (Lock(fd, &busy) != 0) {
    const int e = errno;
    std::string who;
    if (busy) {
      char buf[512];
      const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
      if (n > 0) who.assign(buf, static_cast<size_t>(n));
      while (!who.empty() && (who.back() == '\n' || who.back() == '\0')) who.pop_back();
      for (char& c : who) {
        if (c == '\n' || static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
    }
    close(fd);
    if (busy)
      return Status::InvalidArgument(
          run_dir + ": in use by another job (" + (who.empty() ? "holder unknown" : who) +
          "); two jobs must not write one run directory: wait for it, stop it, or give this run "
          "another name or output_dir");
    return Status::IoError(lock.path_ + ": cannot lock: " + std::strerror(e) +
                           " (the file system must support fcntl locks)");
  }
  const std::string text = Holder() + "\n";
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    const int e = errno;
    close(fd);
    return Status::IoError(lock.path_ + ": cannot write the holder: " + std::strerror(e));
  }
  lock.fd_ = fd;
  return Result<RunLock>(std::move(lock));
}

}  // namespace fc::train
