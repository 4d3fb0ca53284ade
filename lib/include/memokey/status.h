// memokey/status.h — the result of an operation on untrusted input.
//
// Like LevelDB's Status: cheap when OK, and when not OK it says what was wrong
// and, for byte input, where (the offset of the first offending byte).

#ifndef MEMOKEY_STATUS_H_
#define MEMOKEY_STATUS_H_

#include <cstddef>
#include <string>
#include <utility>

namespace memokey {

class Status {
 public:
  static constexpr std::size_t kNoOffset = static_cast<std::size_t>(-1);
  enum class Code : unsigned char {
    kOk,
    kInvalidArgument,  // malformed or non-canonical input (Error's default)
    kNotFound,         // a lookup that missed: not a failure of the store
    kCorruption,       // stored bytes failed verification (bad MAC, torn record)
    kIOError,          // the file system refused
    kUnavailable,      // a server could not be reached in time
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status Error(std::string message, std::size_t offset = kNoOffset) {
    return Status(Code::kInvalidArgument, std::move(message), offset);
  }
  static Status NotFound(std::string message = "not found") {
    return Status(Code::kNotFound, std::move(message), kNoOffset);
  }
  static Status Corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message), kNoOffset);
  }
  static Status IOError(std::string message) {
    return Status(Code::kIOError, std::move(message), kNoOffset);
  }
  static Status Unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message), kNoOffset);
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  const std::string& message() const { return message_; }
  // Offset of the offending byte, or kNoOffset.
  std::size_t offset() const { return offset_; }
  // "OK", or "at byte 12: overlong head" / the bare message without an offset.
  std::string ToString() const {
    if (ok()) return "OK";
    if (offset_ == kNoOffset) return message_;
    return "at byte " + std::to_string(offset_) + ": " + message_;
  }

 private:
  Status(Code code, std::string message, std::size_t offset)
      : code_(code), message_(std::move(message)), offset_(offset) {}

  Code code_ = Code::kOk;
  std::string message_;
  std::size_t offset_ = kNoOffset;
};

}  // namespace memokey

#endif  // MEMOKEY_STATUS_H_
