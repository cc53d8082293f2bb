// LibTorch exceptions to Status at module edges.
//
//   FC_TRY_TORCH(statements);        in a function returning Status or Result<T>: runs the
//                                    statements; a thrown c10::Error / std::exception returns
//                                    Status::Internal with its message (no C++ backtrace)
//   Status s = TryTorch([&] { ... });  the same as a value
#pragma once

#include <c10/util/Exception.h>

#include <exception>
#include <string>

#include "util/status.h"

namespace fc {

inline Status TorchErrorStatus(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) {
    std::string m = c->what_without_backtrace();
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    for (char& ch : m) {
      if (ch == '\n') ch = ' ';
    }
    return Status::Internal("LibTorch: " + m);
  }
  return Status::Internal(std::string("LibTorch: ") + e.what());
}

template <typename F>
Status TryTorch(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return TorchErrorStatus(e);
  }
  return Status::Ok();
}

}  // namespace fc

#define FC_TRY_TORCH(...)                       \
  do {                                          \
    try {                                       \
      __VA_ARGS__;                              \
    } catch (const std::exception& fc_try_e_) { \
      return ::fc::TorchErrorStatus(fc_try_e_); \
    }                                           \
  } while (0)
