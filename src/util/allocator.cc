#include "util/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace fc {

bool TuneHostAllocator() {
  const char* opt_out = std::getenv("FRAMECAST_MALLOC_DEFAULTS");
  if (opt_out != nullptr && std::strcmp(opt_out, "1") == 0) return false;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "MALLOC_", 7) == 0) return false;  // the user tunes glibc themselves
  }
  bool ok = mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1;
  ok = (mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1) && ok;
  ok = (mallopt(M_TOP_PAD, 64 << 20) == 1) && ok;
  return ok;
}

}  // namespace fc
