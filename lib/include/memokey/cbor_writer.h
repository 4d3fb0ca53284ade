// memokey/cbor_writer.h — a streaming writer of canonical CBOR (memokey canonical form v1).
//
// Contract
//   * Every call appends exactly one CBOR head or data item in its canonical
//     (RFC 8949 §4.2.1 "core deterministic") form: shortest heads, definite
//     lengths, shortest exact floats, NaN as f97e00, -0.0 kept as f98000.
//   * Map entries and set elements are written between begin_map()/end_map()
//     (begin_set()/end_set()), each one introduced by item(). end_map() sorts
//     entries bytewise by their encoded keys and rejects a key that occurs
//     twice; end_set() sorts elements by their encodings and drops duplicates.
//     Sorting rearranges the entries' bytes once per nesting level: no
//     quadratic copying.
//   * The caller is responsible for the shape: array(n) must be followed by n
//     items, tag(t) by one. encode_cpp.h builds correct shapes from C++ values.
//   * Output goes to a Sink when one is given: bytes are flushed whenever no
//     map or set is open and the buffer is full, and large byte strings written
//     outside any map or set go to the sink directly, never copied. Without a
//     sink everything stays in buffer().
//   * Errors in what is being encoded (invalid UTF-8, a duplicate map key, a
//     misuse of the call sequence) throw EncodeError; the encoder is then in an
//     unspecified state until reset().
//
// An Encoder is not thread-safe; use one per thread (they are cheap to reuse:
// reset() keeps the buffer's capacity).

#ifndef MEMOKEY_CBOR_WRITER_H_
#define MEMOKEY_CBOR_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/format.h"

namespace memokey {

using ByteSpan = std::span<const std::uint8_t>;

// Receives canonical bytes in order. write() may be called many times.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(ByteSpan bytes) = 0;
};

// A Sink that appends to a std::vector.
class VectorSink final : public Sink {
 public:
  explicit VectorSink(std::vector<std::uint8_t>* out) : out_(out) {}
  void write(ByteSpan bytes) override { out_->insert(out_->end(), bytes.begin(), bytes.end()); }

 private:
  std::vector<std::uint8_t>* out_;
};

// Thrown for values that have no canonical form or for a broken call sequence.
class EncodeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// True when `text` is well-formed UTF-8 (RFC 3629: no surrogates, no overlong
// forms, nothing above U+10FFFF). On failure *error_offset is the first bad byte.
bool IsValidUtf8(std::string_view text, std::size_t* error_offset = nullptr);

class Encoder {
 public:
  // Bytes written outside any map or set are passed to `sink` once the buffer
  // holds this many; byte strings at least kDirectWriteMin long bypass it.
  static constexpr std::size_t kFlushThreshold = 64 * 1024;
  static constexpr std::size_t kDirectWriteMin = 16 * 1024;

  explicit Encoder(Sink* sink = nullptr);
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;
  ~Encoder();

  // Forgets all output and open containers; keeps allocated capacity.
  void reset(Sink* sink = nullptr);

  // --- Scalars -------------------------------------------------------------
  void null() { put_byte(0xf6); }
  void undefined() { put_byte(0xf7); }
  void boolean(bool value) { put_byte(value ? 0xf5 : 0xf4); }
  // A simple value other than false/true/null/undefined (0..19, 32..255).
  void simple(std::uint8_t value);
  void uint(std::uint64_t value) { head(Major::kUnsigned, value); }
  void int64(std::int64_t value) {
    if (value >= 0) {
      head(Major::kUnsigned, static_cast<std::uint64_t>(value));
    } else {
      head(Major::kNegative, static_cast<std::uint64_t>(-(value + 1)));
    }
  }
  // The integer -1 - n (CBOR's negative-integer argument).
  void negative(std::uint64_t n) { head(Major::kNegative, n); }
  // An integer of any size: `magnitude` is big-endian; the value is
  // `magnitude` when !negative, else -1 - `magnitude` (CBOR's convention).
  // Leading zero bytes are dropped; a value that fits in 64 bits is written
  // as a plain integer, larger ones as tag 2/3 (RFC 8949 §3.4.3).
  void bignum(bool negative, ByteSpan magnitude);
  // The shortest of half/single/double that holds `value` exactly.
  void float64(double value);

  // --- Strings -------------------------------------------------------------
  void bytes(ByteSpan data);
  void bytes(const void* data, std::size_t size) {
    bytes(ByteSpan(static_cast<const std::uint8_t*>(data), size));
  }
  // A byte string delivered in pieces: begin_bytes(total) then chunks whose
  // sizes add up to `total` exactly (checked by the next item and finish()).
  void begin_bytes(std::uint64_t total);
  void bytes_chunk(ByteSpan data);
  // Text must be valid UTF-8 (EncodeError otherwise).
  void text(std::string_view utf8);
  // For callers that already guarantee valid UTF-8 (e.g. CPython's UTF-8 cache).
  void text_unchecked(std::string_view utf8);

  // --- Containers ----------------------------------------------------------
  void array(std::uint64_t count) { head(Major::kArray, count); }
  void tag(std::uint64_t number) { head(Major::kTag, number); }
  void begin_map();
  void begin_set();  // write tag(tag::kSet) (or another set tag) first
  void item();       // starts the next map entry (key, then value) or set element
  void end_map();
  void end_set();
  // Number of maps and sets currently open.
  std::size_t open_containers() const { return frames_.size(); }

  // Appends bytes that are already one or more canonical items (e.g. the
  // output of another Encoder). Not checked.
  void raw(ByteSpan canonical);

  // --- Output --------------------------------------------------------------
  // Throws EncodeError if a map, set or byte string is still open.
  void check_complete() const;
  // check_complete(), then passes the remaining buffered bytes to the sink, if any.
  void finish();
  // Bytes not yet passed to a sink (all bytes when there is no sink).
  ByteSpan buffer() const { return ByteSpan(data_.get(), size_); }
  // Moves buffer() out into a vector (after finish()).
  std::vector<std::uint8_t> take();
  // True once anything was passed to the sink.
  bool flushed_any() const { return flushed_any_; }

 private:
  struct Frame {
    std::size_t start;       // buffer offset of the first entry
    std::size_t first_item;  // index into item_starts_
    bool is_map;
  };

  void head(Major major, std::uint64_t argument);
  void put_byte(std::uint8_t byte) {
    if (size_ == capacity_) make_room(1);
    data_[size_++] = byte;
  }
  void append(const std::uint8_t* data, std::size_t size);
  void make_room(std::size_t extra);
  void flush();
  void check_no_open_bytes() const;
  void end_container(bool is_map);

  Sink* sink_;
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  bool flushed_any_ = false;
  std::uint64_t open_bytes_remaining_ = 0;
  std::vector<Frame> frames_;
  std::vector<std::size_t> item_starts_;
  // Scratch reused by end_container().
  std::vector<std::uint8_t> scratch_;
  struct Span {
    std::size_t offset;
    std::size_t size;
  };
  std::vector<Span> spans_;
};

// The encoded size of one well-formed, definite-length CBOR item starting at
// data[0] (memokey's own output). Returns 0 if the item is truncated.
std::size_t SkipItem(ByteSpan data);

}  // namespace memokey

#endif  // MEMOKEY_CBOR_WRITER_H_
