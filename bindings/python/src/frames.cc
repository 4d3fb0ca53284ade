// frames.cc — canonical columns of data frames from their buffers (frames.h).

#include "frames.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string_view>

// The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html):
// an ABI every Arrow implementation shares, defined by the specification
// itself to be copied into consumers under this guard.
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
extern "C" {
struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};
struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};
}
#endif
#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
extern "C" {
struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};
}
#endif

namespace memokey::py {

namespace {

// A byte string of a known size, streamed into the encoder: large pieces
// are passed on uncopied (Encoder::bytes_chunk hands them to the sink),
// small ones gathered in a block first.
class Out {
 public:
  explicit Out(Encoder& e) : e_(e), block_(std::make_unique<std::uint8_t[]>(kBlock)) {}
  void begin(std::uint64_t total) { e_.begin_bytes(total); }
  void put(const void* p, std::size_t n) {
    const auto* s = static_cast<const std::uint8_t*>(p);
    if (n <= kBlock - used_ && n < Encoder::kDirectWriteMin) [[likely]] {  // fits the block
      std::memcpy(block_.get() + used_, s, n);
      used_ += n;
      if (used_ == kBlock) flush();
      return;
    }
    if (n >= Encoder::kDirectWriteMin) {
      flush();
      e_.bytes_chunk(ByteSpan(s, n));
      return;
    }
    while (n != 0) {
      const std::size_t k = std::min(n, kBlock - used_);
      std::memcpy(block_.get() + used_, s, k);
      used_ += k;
      s += k;
      n -= k;
      if (used_ == kBlock) flush();
    }
  }
  // Room for n <= kBlock bytes at the end of the block; commit() them after.
  std::uint8_t* room(std::size_t n) {
    if (kBlock - used_ < n) flush();
    return block_.get() + used_;
  }
  void commit(std::size_t n) {
    used_ += n;
    if (used_ == kBlock) flush();
  }
  void flush() {
    if (used_ != 0) {
      e_.bytes_chunk(ByteSpan(block_.get(), used_));
      used_ = 0;
    }
  }
  static constexpr std::size_t kBlock = 64 * 1024;

 private:
  Encoder& e_;
  std::unique_ptr<std::uint8_t[]> block_;
  std::size_t used_ = 0;
};

// Appends bits (LSB first) to an Out.
class Bits {
 public:
  explicit Bits(Out& out) : out_(out) {}
  void append(std::uint64_t v, unsigned k) {  // the low k (<= 8) bits of v
    acc_ |= (v & ((1u << k) - 1)) << n_;
    n_ += k;
    while (n_ >= 8) {
      const auto b = static_cast<std::uint8_t>(acc_);
      out_.put(&b, 1);
      acc_ >>= 8;
      n_ -= 8;
    }
  }
  void finish() {
    if (n_ != 0) append(0, 8 - n_);  // bits past the end are clear
  }

 private:
  Out& out_;
  std::uint64_t acc_ = 0;
  unsigned n_ = 0;
};

inline bool Bit(const std::uint8_t* bits, std::int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

// The 8 bits of `bits` from bit i on (the bytes read are inside the bitmap
// as long as bits i .. i+7 are).
inline unsigned Byte(const std::uint8_t* bits, std::int64_t i) {
  const std::int64_t b = i >> 3;
  const unsigned shift = static_cast<unsigned>(i & 7);
  if (shift == 0) return bits[b];
  return static_cast<unsigned>((bits[b] >> shift) | (bits[b + 1] << (8 - shift))) & 0xff;
}

inline bool Present(const Chunk& c, std::int64_t i) {
  if (c.validity != nullptr && !Bit(c.validity, c.offset + i)) return false;
  return c.mask == nullptr || c.mask[c.offset + i] == 0;
}

std::int64_t NullCount(const Chunk& c) {
  if (c.validity == nullptr && c.mask == nullptr) return 0;
  if (c.null_count >= 0 && c.mask == nullptr) return c.null_count;
  std::int64_t missing = 0;
  for (std::int64_t i = 0; i < c.length; ++i) missing += Present(c, i) ? 0 : 1;
  return missing;
}

template <typename T>
T Load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The [start, end) byte range of value i of a string chunk.
inline void VarRange(const Chunk& c, Layout layout, std::int64_t i, std::int64_t* start,
                     std::int64_t* end) {
  const std::int64_t at = c.offset + i;
  if (layout == Layout::kVar32) {
    *start = Load<std::int32_t>(c.values + 4 * at);
    *end = Load<std::int32_t>(c.values + 4 * (at + 1));
  } else {
    *start = Load<std::int64_t>(c.values + 8 * at);
    *end = Load<std::int64_t>(c.values + 8 * (at + 1));
  }
  if (*end < *start) throw EncodeError("a string column's offsets go back");
}

// The [first, last) byte range that all values of a non-empty offsets
// (kVar32/kVar64) chunk occupy together.
inline void SpanRange(const Chunk& c, Layout layout, std::int64_t* first, std::int64_t* last) {
  std::int64_t unused;
  VarRange(c, layout, 0, first, &unused);
  VarRange(c, layout, c.length - 1, &unused, last);
}

// Value i of a view chunk: its bytes and size.
inline const std::uint8_t* ViewData(const Chunk& c, std::int64_t i, std::int64_t* size) {
  const std::uint8_t* view = c.values + 16 * (c.offset + i);
  const auto n = Load<std::int32_t>(view);
  if (n < 0) throw EncodeError("a string view has a negative length");
  *size = n;
  if (n <= 12) return view + 4;
  const auto index = Load<std::int32_t>(view + 8);
  const auto off = Load<std::int32_t>(view + 12);
  if (index < 0 || index >= c.n_var || off < 0) throw EncodeError("a string view is out of range");
  return static_cast<const std::uint8_t*>(c.var_buffers[index]) + off;
}

// The canonical NaN of each float width (the quiet NaN with no payload).
constexpr std::uint16_t kNaN16 = 0x7e00;
constexpr std::uint32_t kNaN32 = 0x7fc00000u;
constexpr std::uint64_t kNaN64 = 0x7ff8000000000000ull;

// True when the block of `n` floats of `width` bytes holds a NaN: an
// integer test on the bits (exponent all ones, mantissa not zero), which
// the compiler vectorizes -- this scan runs over every float column.
template <typename U>
bool HasNaNBits(const std::uint8_t* p, std::size_t n, U abs_mask, U infinity) {
  U found = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const U v = Load<U>(p + sizeof(U) * i) & abs_mask;
    found |= static_cast<U>(v > infinity);
  }
  return found != 0;
}

bool HasNaN(const std::uint8_t* p, std::size_t n, unsigned width) {
  if (width == 8)
    return HasNaNBits<std::uint64_t>(p, n, 0x7fffffffffffffffull, 0x7ff0000000000000ull);
  if (width == 4) return HasNaNBits<std::uint32_t>(p, n, 0x7fffffffu, 0x7f800000u);
  return HasNaNBits<std::uint16_t>(p, n, 0x7fff, 0x7c00);
}

void FixNaN(std::uint8_t* p, std::size_t n, unsigned width) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t* v = p + width * i;
    if (width == 8) {
      const auto d = Load<double>(v);
      if (d != d) std::memcpy(v, &kNaN64, 8);
    } else if (width == 4) {
      const auto f = Load<float>(v);
      if (f != f) std::memcpy(v, &kNaN32, 4);
    } else {
      const auto h = Load<std::uint16_t>(v);
      if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0) std::memcpy(v, &kNaN16, 2);
    }
  }
}

void WriteValidity(Encoder& e, const std::vector<Chunk>& chunks, std::int64_t length,
                   std::int64_t missing) {
  if (missing == 0) {
    e.null();
    return;
  }
  Out out(e);
  out.begin(static_cast<std::uint64_t>((length + 7) / 8));
  Bits bits(out);
  for (const Chunk& c : chunks) {
    std::int64_t i = 0;
    if (c.mask == nullptr) {
      if (c.validity == nullptr) {
        for (; i + 8 <= c.length; i += 8) bits.append(0xff, 8);
      } else {
        for (; i + 8 <= c.length; i += 8) bits.append(Byte(c.validity, c.offset + i), 8);
      }
    }
    for (; i < c.length; ++i) bits.append(Present(c, i) ? 1 : 0, 1);
  }
  bits.finish();
  out.flush();
}

void WriteFixed(Out& out, const Chunk& c, Layout layout, unsigned width) {
  const bool has_missing = NullCount(c) != 0;
  const std::uint8_t* base = c.values + static_cast<std::size_t>(c.offset) * width;
  const std::size_t per_block = Out::kBlock / width;
  for (std::int64_t i = 0; i < c.length; i += static_cast<std::int64_t>(per_block)) {
    const std::size_t n = std::min<std::size_t>(per_block, static_cast<std::size_t>(c.length - i));
    const std::uint8_t* src = base + static_cast<std::size_t>(i) * width;
    const bool nan = layout == Layout::kFloat && HasNaN(src, n, width);
    if (!has_missing && !nan) {
      out.put(src, n * width);  // as stored: a large block is hashed uncopied
      continue;
    }
    std::uint8_t* dst = out.room(n * width);
    std::memcpy(dst, src, n * width);
    if (nan) FixNaN(dst, n, width);
    if (has_missing) {
      for (std::size_t j = 0; j < n; ++j) {
        if (!Present(c, i + static_cast<std::int64_t>(j))) std::memset(dst + j * width, 0, width);
      }
    }
    out.commit(n * width);
  }
}

void WriteBools(Out& out, const Chunk& c, Layout layout) {
  for (std::int64_t i = 0; i < c.length; i += static_cast<std::int64_t>(Out::kBlock)) {
    const std::size_t n =
        std::min<std::size_t>(Out::kBlock, static_cast<std::size_t>(c.length - i));
    std::uint8_t* dst = out.room(n);
    for (std::size_t j = 0; j < n; ++j) {
      const std::int64_t at = i + static_cast<std::int64_t>(j);
      const bool v =
          layout == Layout::kBoolBits ? Bit(c.values, c.offset + at) : c.values[c.offset + at] != 0;
      dst[j] = v && Present(c, at) ? 1 : 0;
    }
    out.commit(n);
  }
}

// Strings: [int64 offsets from 0 (missing values are empty), the bytes of
// the present values].
void WriteStrings(Encoder& e, Layout layout, const std::vector<Chunk>& chunks,
                  std::int64_t length) {
  std::int64_t total = 0;
  for (const Chunk& c : chunks) {
    const bool has_missing = NullCount(c) != 0;
    if (layout != Layout::kView && !has_missing && c.length > 0) {
      std::int64_t first, last;
      SpanRange(c, layout, &first, &last);
      total += last - first;
      continue;
    }
    if (layout == Layout::kView && !has_missing) {
      const std::uint8_t* views = c.values + 16 * c.offset;
      for (std::int64_t i = 0; i < c.length; ++i) total += Load<std::int32_t>(views + 16 * i);
      continue;
    }
    for (std::int64_t i = 0; i < c.length; ++i) {
      if (!Present(c, i)) continue;
      if (layout == Layout::kView) {
        std::int64_t n;
        ViewData(c, i, &n);
        total += n;
      } else {
        std::int64_t s, t;
        VarRange(c, layout, i, &s, &t);
        total += t - s;
      }
    }
  }
  e.array(2);
  Out out(e);
  out.begin(static_cast<std::uint64_t>(length + 1) * 8);
  std::int64_t running = 0;
  out.put(&running, 8);
  for (const Chunk& c : chunks) {
    const bool has_missing = NullCount(c) != 0;
    if (layout == Layout::kVar64 && !has_missing && c.length > 0 &&
        Load<std::int64_t>(c.values + 8 * c.offset) == running) {
      // Already canonical: the offsets as stored (after the first).
      out.put(c.values + 8 * (c.offset + 1), static_cast<std::size_t>(c.length) * 8);
      running = Load<std::int64_t>(c.values + 8 * (c.offset + c.length));
      continue;
    }
    for (std::int64_t i = 0; i < c.length;) {
      const std::size_t n =
          std::min<std::size_t>(Out::kBlock / 8, static_cast<std::size_t>(c.length - i));
      std::uint8_t* dst = out.room(n * 8);
      if (layout == Layout::kView && !has_missing) {  // the common case, without checks per value
        const std::uint8_t* views = c.values + 16 * (c.offset + i);
        for (std::size_t j = 0; j < n; ++j) {
          const auto size = Load<std::int32_t>(views + 16 * j);
          if (size < 0) throw EncodeError("a string view has a negative length");
          running += size;
          std::memcpy(dst + 8 * j, &running, 8);
        }
        i += static_cast<std::int64_t>(n);
        out.commit(n * 8);
        continue;
      }
      for (std::size_t j = 0; j < n; ++j, ++i) {
        if (Present(c, i)) {
          std::int64_t size;
          if (layout == Layout::kView) {
            ViewData(c, i, &size);
          } else {
            std::int64_t s, t;
            VarRange(c, layout, i, &s, &t);
            size = t - s;
          }
          running += size;
        }
        std::memcpy(dst + 8 * j, &running, 8);
      }
      out.commit(n * 8);
    }
  }
  out.flush();
  if (running != total) throw EncodeError("a string column changed while it was being encoded");
  out.begin(static_cast<std::uint64_t>(total));
  for (const Chunk& c : chunks) {
    const bool has_missing = NullCount(c) != 0;
    if (layout != Layout::kView && !has_missing && c.length > 0) {
      std::int64_t first, last;
      SpanRange(c, layout, &first, &last);
      out.put(c.data + first, static_cast<std::size_t>(last - first));
      continue;
    }
    if (layout == Layout::kView && !has_missing) {
      // Short values sit inside their view: copy a fixed 12 bytes (no call)
      // and keep the value's own length of them.
      // Long values that follow each other in a data buffer (as builders
      // write them) are passed on as one run, uncopied when it is large.
      const std::uint8_t* views = c.values + 16 * c.offset;
      const std::uint8_t* run = nullptr;
      std::size_t run_size = 0;
      for (std::int64_t i = 0; i < c.length; ++i) {
        const std::uint8_t* view = views + 16 * i;
        const auto size = Load<std::int32_t>(view);
        if (size >= 0 && size <= 12) {
          if (run_size != 0) out.put(run, run_size);
          run_size = 0;
          std::memcpy(out.room(12), view + 4, 12);
          out.commit(static_cast<std::size_t>(size));
        } else {
          std::int64_t n;
          const std::uint8_t* p = ViewData(c, i, &n);
          if (run_size != 0 && p == run + run_size) {
            run_size += static_cast<std::size_t>(n);
          } else {
            if (run_size != 0) out.put(run, run_size);
            run = p;
            run_size = static_cast<std::size_t>(n);
          }
        }
      }
      if (run_size != 0) out.put(run, run_size);
      continue;
    }
    for (std::int64_t i = 0; i < c.length; ++i) {
      if (has_missing && !Present(c, i)) continue;
      if (layout == Layout::kView) {
        std::int64_t n;
        const std::uint8_t* p = ViewData(c, i, &n);
        out.put(p, static_cast<std::size_t>(n));
      } else {
        std::int64_t s, t;
        VarRange(c, layout, i, &s, &t);
        out.put(c.data + s, static_cast<std::size_t>(t - s));
      }
    }
  }
  out.flush();
}

}  // namespace

void WriteColumnBody(Encoder& e, Layout layout, unsigned width, const std::vector<Chunk>& chunks) {
  std::int64_t length = 0, missing = 0;
  for (const Chunk& c : chunks) {
    length += c.length;
    missing += NullCount(c);
  }
  e.uint(static_cast<std::uint64_t>(length));
  WriteValidity(e, chunks, length, missing);
  switch (layout) {
    case Layout::kFixed:
    case Layout::kFloat: {
      Out out(e);
      out.begin(static_cast<std::uint64_t>(length) * width);
      for (const Chunk& c : chunks) WriteFixed(out, c, layout, width);
      out.flush();
      return;
    }
    case Layout::kBoolBytes:
    case Layout::kBoolBits: {
      Out out(e);
      out.begin(static_cast<std::uint64_t>(length));
      for (const Chunk& c : chunks) WriteBools(out, c, layout);
      out.flush();
      return;
    }
    case Layout::kVar32:
    case Layout::kVar64:
    case Layout::kView:
      WriteStrings(e, layout, chunks, length);
      return;
  }
}

void WriteRangeBody(Encoder& e, std::int64_t start, std::int64_t step, std::int64_t length) {
  e.uint(static_cast<std::uint64_t>(length));
  e.null();
  Out out(e);
  out.begin(static_cast<std::uint64_t>(length) * 8);
  // Wrapping arithmetic, as the int64 values of a RangeIndex are.
  auto v = static_cast<std::uint64_t>(start);
  const auto s = static_cast<std::uint64_t>(step);
  for (std::int64_t i = 0; i < length;) {
    const std::size_t n =
        std::min<std::size_t>(Out::kBlock / 8, static_cast<std::size_t>(length - i));
    std::uint8_t* dst = out.room(n * 8);
    for (std::size_t j = 0; j < n; ++j, ++i, v += s) std::memcpy(dst + 8 * j, &v, 8);
    out.commit(n * 8);
  }
  out.flush();
}

bool WriteStringObjectsBody(Encoder& e, PyObject* array, std::string* error) {
  Py_buffer view;
  if (PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    *error = "cannot read the column's object array";
    return false;
  }
  struct Release {
    Py_buffer* v;
    ~Release() { PyBuffer_Release(v); }
  } release{&view};
  if (view.itemsize != static_cast<Py_ssize_t>(sizeof(PyObject*)) || view.format == nullptr ||
      std::string_view(view.format) != "O") {
    *error = "the column's values are not an object array";
    return false;
  }
  const std::int64_t n = view.len / view.itemsize;
  PyObject* const* items = static_cast<PyObject* const*>(view.buf);
  std::int64_t missing = 0, total = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!PyUnicode_Check(items[i])) {
      ++missing;
      continue;
    }
    Py_ssize_t size;
    if (PyUnicode_AsUTF8AndSize(items[i], &size) == nullptr) {
      PyErr_Clear();
      *error = "[" + std::to_string(i) + "]: a str with a lone surrogate has no UTF-8 form";
      return false;
    }
    total += size;
  }
  e.uint(static_cast<std::uint64_t>(n));
  if (missing == 0) {
    e.null();
  } else {
    Out out(e);
    out.begin(static_cast<std::uint64_t>((n + 7) / 8));
    Bits bits(out);
    for (std::int64_t i = 0; i < n; ++i) bits.append(PyUnicode_Check(items[i]) ? 1 : 0, 1);
    bits.finish();
    out.flush();
  }
  e.array(2);
  Out out(e);
  out.begin(static_cast<std::uint64_t>(n + 1) * 8);
  std::int64_t running = 0;
  out.put(&running, 8);
  for (std::int64_t i = 0; i < n; ++i) {
    if (PyUnicode_Check(items[i])) {
      Py_ssize_t size;
      PyUnicode_AsUTF8AndSize(items[i], &size);  // cached by the pass above
      running += size;
    }
    out.put(&running, 8);
  }
  out.flush();
  out.begin(static_cast<std::uint64_t>(total));
  for (std::int64_t i = 0; i < n; ++i) {
    if (!PyUnicode_Check(items[i])) continue;
    Py_ssize_t size;
    const char* s = PyUnicode_AsUTF8AndSize(items[i], &size);
    out.put(s, static_cast<std::size_t>(size));
  }
  out.flush();
  return true;
}

std::size_t ColumnBytes(Layout layout, unsigned width, const std::vector<Chunk>& chunks) {
  std::size_t bytes = 0;
  for (const Chunk& c : chunks) {
    const auto n = static_cast<std::size_t>(c.length);
    switch (layout) {
      case Layout::kFixed:
      case Layout::kFloat:
        bytes += n * width;
        break;
      case Layout::kVar32:
      case Layout::kVar64:
        if (c.length > 0) {
          std::int64_t first, last;
          SpanRange(c, layout, &first, &last);
          bytes += n * 8 + static_cast<std::size_t>(last - first);
        }
        break;
      default:
        bytes += n * 16;
        break;
    }
  }
  return bytes;
}

// --- Arrow ------------------------------------------------------------------------

struct ArrowColumn::Holder {
  ArrowSchema schema{};
  std::vector<ArrowArray> arrays;
  ArrowArrayStream stream{};
  ~Holder() {
    for (ArrowArray& a : arrays) {
      if (a.release != nullptr) a.release(&a);
    }
    if (schema.release != nullptr) schema.release(&schema);
    if (stream.release != nullptr) stream.release(&stream);
  }
};

ArrowColumn::ArrowColumn() : held_(std::make_unique<Holder>()) {}
ArrowColumn::~ArrowColumn() = default;

namespace {

// Moves the struct out of a capsule (the producer's destructor then has
// nothing to release: the consumer owns it, as the PyCapsule protocol says).
template <typename T>
bool TakeCapsule(PyObject* capsule, const char* name, T* out) {
  auto* p = static_cast<T*>(PyCapsule_GetPointer(capsule, name));
  if (p == nullptr) return false;
  *out = *p;
  p->release = nullptr;
  return true;
}

// Layout and width of an Arrow format string, or false when unsupported.
bool FormatLayout(std::string_view f, Layout* layout, unsigned* width) {
  struct Entry {
    std::string_view format;
    Layout layout;
    unsigned width;
  };
  static constexpr Entry kExact[] = {
      {"c", Layout::kFixed, 1},   {"C", Layout::kFixed, 1},   {"s", Layout::kFixed, 2},
      {"S", Layout::kFixed, 2},   {"i", Layout::kFixed, 4},   {"I", Layout::kFixed, 4},
      {"l", Layout::kFixed, 8},   {"L", Layout::kFixed, 8},   {"e", Layout::kFloat, 2},
      {"f", Layout::kFloat, 4},   {"g", Layout::kFloat, 8},   {"b", Layout::kBoolBits, 0},
      {"u", Layout::kVar32, 0},   {"z", Layout::kVar32, 0},   {"U", Layout::kVar64, 0},
      {"Z", Layout::kVar64, 0},   {"vu", Layout::kView, 0},   {"vz", Layout::kView, 0},
      {"tdD", Layout::kFixed, 4}, {"tdm", Layout::kFixed, 8}, {"tts", Layout::kFixed, 4},
      {"ttm", Layout::kFixed, 4}, {"ttu", Layout::kFixed, 8}, {"ttn", Layout::kFixed, 8},
      {"tDs", Layout::kFixed, 8}, {"tDm", Layout::kFixed, 8}, {"tDu", Layout::kFixed, 8},
      {"tDn", Layout::kFixed, 8}, {"tiM", Layout::kFixed, 4},
  };
  for (const Entry& e : kExact) {
    if (f == e.format) {
      *layout = e.layout;
      *width = e.width;
      return true;
    }
  }
  if (f.size() >= 4 && f.substr(0, 2) == "ts" && f[3] == ':') {  // timestamps, any zone
    *layout = Layout::kFixed;
    *width = 8;
    return true;
  }
  return false;
}

}  // namespace

bool ArrowColumn::read(PyObject* obj, bool* supported, std::string* error) {
  *supported = false;
  Holder& h = *held_;
  auto add = [&](const ArrowArray& a) -> bool {
    // validity + values, and a data buffer for strings (views: at least the
    // count of data buffers at the end).
    const bool strings =
        layout_ == Layout::kVar32 || layout_ == Layout::kVar64 || layout_ == Layout::kView;
    const std::int64_t need = strings ? 3 : 2;
    if (a.n_buffers < need || a.length < 0 || a.offset < 0) {
      *error = "an Arrow array has fewer buffers than its type needs";
      return false;
    }
    Chunk c;
    c.length = a.length;
    c.offset = a.offset;
    c.null_count = a.null_count;
    c.validity = static_cast<const std::uint8_t*>(a.buffers[0]);
    c.values = static_cast<const std::uint8_t*>(a.buffers[1]);
    if (layout_ == Layout::kVar32 || layout_ == Layout::kVar64) {
      c.data = static_cast<const std::uint8_t*>(a.buffers[2]);
    } else if (layout_ == Layout::kView) {
      c.var_buffers = a.buffers + 2;
      c.n_var = a.n_buffers - 3;  // the last buffer holds the data buffers' sizes
    }
    if (c.length > 0 && c.values == nullptr) {
      *error = "an Arrow array has no values buffer";
      return false;
    }
    if (c.null_count == 0) c.validity = nullptr;
    if (c.length > 0) chunks_.push_back(c);
    return true;
  };
  Ref stream_fn = Ref::steal(PyObject_GetAttrString(obj, "__arrow_c_stream__"));
  if (stream_fn) {
    Ref capsule = Ref::steal(PyObject_CallNoArgs(stream_fn.get()));
    if (!capsule || !TakeCapsule(capsule.get(), "arrow_array_stream", &h.stream)) return false;
    if (h.stream.get_schema(&h.stream, &h.schema) != 0) {
      *error = "the Arrow stream gave no schema";
      return false;
    }
    if (h.schema.dictionary != nullptr || h.schema.format == nullptr ||
        !FormatLayout(h.schema.format, &layout_, &width_)) {
      return true;  // not supported: the caller falls back
    }
    while (true) {
      ArrowArray a{};
      if (h.stream.get_next(&h.stream, &a) != 0) {
        const char* why = h.stream.get_last_error ? h.stream.get_last_error(&h.stream) : nullptr;
        *error = std::string("the Arrow stream failed: ") + (why ? why : "no reason given");
        return false;
      }
      if (a.release == nullptr) break;  // the end of the stream
      h.arrays.push_back(a);
    }
  } else {
    PyErr_Clear();
    Ref array_fn = Ref::steal(PyObject_GetAttrString(obj, "__arrow_c_array__"));
    if (!array_fn) return false;
    Ref pair = Ref::steal(PyObject_CallNoArgs(array_fn.get()));
    if (!pair) return false;
    if (!PyTuple_Check(pair.get()) || PyTuple_GET_SIZE(pair.get()) != 2) {
      *error = "__arrow_c_array__ did not return (schema, array)";
      return false;
    }
    ArrowArray a{};
    if (!TakeCapsule(PyTuple_GET_ITEM(pair.get(), 0), "arrow_schema", &h.schema) ||
        !TakeCapsule(PyTuple_GET_ITEM(pair.get(), 1), "arrow_array", &a)) {
      return false;
    }
    h.arrays.push_back(a);
    if (h.schema.dictionary != nullptr || h.schema.format == nullptr ||
        !FormatLayout(h.schema.format, &layout_, &width_)) {
      return true;
    }
  }
  for (const ArrowArray& a : h.arrays) {
    if (!add(a)) return false;
  }
  *supported = true;
  return true;
}

}  // namespace memokey::py
