// Status and Result<T>: error values at module boundaries.
//
// A Status is OK or carries a code and a one-line message that says where (file, field, offset,
// rank, collective) and why. Fallible functions at module edges return Status / Result<T> instead
// of throwing; LibTorch's c10::Error is caught at the edge and converted (see FC_TRY_TORCH in util/torch_status.h).
// Broken internal invariants use FC_CHECK (util/check.h), which aborts.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace fc {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,   // bad config, flag or call argument
    kNotFound,          // a file, field or step that does not exist
    kCorruption,        // a file whose bytes do not match its format or checksum
    kIoError,           // the OS said no
    kInternal,          // a backend (MPI, NCCL, CUDA, LibTorch) failed
    kDeadlineExceeded,  // a collective or wait ran past its deadline
    kUnavailable,       // a feature not built in or not present on this machine (e.g. no GPU)
    kAborted,           // another rank failed; this one stops too
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status DeadlineExceeded(std::string m) {
    return Status(Code::kDeadlineExceeded, std::move(m));
  }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Aborted(std::string m) { return Status(Code::kAborted, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: <message>" or "OK".
  std::string ToString() const;
  // Returns a copy whose message is "<context>: <message>" (no-op when OK).
  Status WithContext(const std::string& context) const;

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or a non-OK Status. REQUIRES: value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) std::abort();                     // an OK Result must carry a value
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace fc

// Returns early with the status when it is not OK.
#define FC_RETURN_IF_ERROR(expr)     \
  do {                               \
    ::fc::Status _fc_st = (expr);    \
    if (!_fc_st.ok()) return _fc_st; \
  } while (0)

#define FC_CONCAT_INNER(a, b) a##b
#define FC_CONCAT(a, b) FC_CONCAT_INNER(a, b)
// FC_ASSIGN_OR_RETURN(auto x, MakeX()); returns the status when the Result is not OK.
#define FC_ASSIGN_OR_RETURN(lhs, rexpr)                                                   \
  auto FC_CONCAT(_fc_res_, __LINE__) = (rexpr);                                           \
  if (!FC_CONCAT(_fc_res_, __LINE__).ok()) return FC_CONCAT(_fc_res_, __LINE__).status(); \
  lhs = std::move(FC_CONCAT(_fc_res_, __LINE__)).value()
