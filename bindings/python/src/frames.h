// frames.h — canonical columns of data frames (docs/FORMAT.md §4.3).
//
// A column is written from the buffers that hold it -- numpy arrays, Arrow
// arrays reached through the Arrow C data interface (PyCapsule protocol), a
// range -- without a Python object per value: its length, its validity
// bitmap (canonicalized: offset 0, bits past the end clear; null when no
// value is missing) and its values (little-endian, zero under missing
// slots, NaNs as one bit pattern; strings as int64 offsets from 0 and the
// bytes of the present values). Large contiguous buffers go to the
// encoder's sink uncopied; everything else is streamed through a small
// block. encode.cc writes the column's tag and type text around these.

#ifndef MEMOKEY_PYTHON_FRAMES_H_
#define MEMOKEY_PYTHON_FRAMES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "state.h"

namespace memokey::py {

// How the values of a column are laid out in memory.
enum class Layout : std::uint8_t {
  kFixed,      // `width`-byte little-endian values
  kFloat,      // floats of `width` bytes: every NaN is written as one bit pattern
  kBoolBytes,  // one byte per value (numpy bool): nonzero is true
  kBoolBits,   // an Arrow boolean bitmap
  kVar32,      // Arrow string/binary: int32 offsets + data
  kVar64,      // Arrow large_string/large_binary: int64 offsets + data
  kView,       // Arrow string_view/binary_view: 16-byte views + data buffers
};

// One contiguous piece of a column (an Arrow chunk, a numpy array).
struct Chunk {
  std::int64_t length = 0;
  std::int64_t offset = 0;                   // element offset into the buffers
  std::int64_t null_count = -1;              // -1: unknown (counted)
  const std::uint8_t* validity = nullptr;    // bitmap, bit offset + i; nullptr: all present
  const std::uint8_t* mask = nullptr;        // bytes, nonzero = missing, index offset + i
  const std::uint8_t* values = nullptr;      // values, bool bits, offsets or views
  const std::uint8_t* data = nullptr;        // kVar32/kVar64: the bytes of the values
  const void* const* var_buffers = nullptr;  // kView: the data buffers
  std::int64_t n_var = 0;
};

// The columns read from Arrow objects, kept alive (their release callbacks
// called) until this is destroyed.
class ArrowColumn {
 public:
  ArrowColumn();
  ~ArrowColumn();
  ArrowColumn(const ArrowColumn&) = delete;
  ArrowColumn& operator=(const ArrowColumn&) = delete;
  // Reads `obj` through __arrow_c_stream__ or __arrow_c_array__. False with
  // a Python exception set when that fails; true with *supported false when
  // its type has no buffer encoding here (nested, dictionary, decimal ...).
  bool read(PyObject* obj, bool* supported, std::string* error);
  Layout layout() const { return layout_; }
  unsigned width() const { return width_; }
  const std::vector<Chunk>& chunks() const { return chunks_; }

 private:
  struct Holder;
  std::unique_ptr<Holder> held_;
  std::vector<Chunk> chunks_;
  Layout layout_ = Layout::kFixed;
  unsigned width_ = 0;
};

// Writes [length, validity, values] of a column made of `chunks` (the last
// three items of tag 0x6D6B10). Safe to call without the GIL. Throws
// EncodeError for data that contradicts its layout (offsets going back).
void WriteColumnBody(Encoder& e, Layout layout, unsigned width, const std::vector<Chunk>& chunks);

// [length, null, values] of an int64 column start, start + step, ...
void WriteRangeBody(Encoder& e, std::int64_t start, std::int64_t step, std::int64_t length);

// [length, validity, [offsets, data]] of a string column held as a 1-D
// numpy object array whose items are str (present) or anything else
// (missing). Needs the GIL. False with *error set for a str with no UTF-8.
bool WriteStringObjectsBody(Encoder& e, PyObject* array, std::string* error);

// The number of bytes a column's values take in memory (for deciding to
// release the GIL).
std::size_t ColumnBytes(Layout layout, unsigned width, const std::vector<Chunk>& chunks);

}  // namespace memokey::py

#endif  // MEMOKEY_PYTHON_FRAMES_H_
