// The run directory's lock: one job at a time writes a run directory.
//
// Rank 0 holds an fcntl write lock on RUN_DIR/LOCK for the run's life (open file description
// locks where the kernel has them; POSIX record locks otherwise, which NFSv4 and Lustre with
// `flock`/`localflock` mounts honour across nodes). The file holds the holder's host, pid, SLURM
// job id and start time, so a second job is refused with who holds it. The kernel releases the
// lock when the holder dies (kill -9, OOM, node loss once the file server's lease expires), so a
// lock left by a dead job is taken over; the file's old contents are only a message. The file is
// opened without following links (a link planted at RUN_DIR/LOCK is refused).
#pragma once

#include <string>

#include "util/status.h"

namespace fc::train {

class RunLock {
 public:
  RunLock() = default;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  ~RunLock();  // releases the lock (the file stays)

  // Takes the lock of `run_dir` (which must exist). FailedPrecondition-like InvalidArgument naming
  // the holder when another process holds it; IoError when the file cannot be opened or locked.
  static Result<RunLock> Acquire(const std::string& run_dir);

  bool held() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace fc::train
