// memokey/format.h — the constants of "memokey canonical form v1".
//
// docs/FORMAT.md is the specification; this header is its machine-readable
// table. Every number here is frozen: changing what a value encodes to means a
// new format version (kFormatVersion), never an edit to an existing row.

#ifndef MEMOKEY_FORMAT_H_
#define MEMOKEY_FORMAT_H_

#include <cstdint>

namespace memokey {

// The canonical form's version. It is part of every key's frame (key.h), so
// keys from different format versions can never collide.
inline constexpr std::uint64_t kFormatVersion = 1;

// CBOR major types (RFC 8949 §3.1).
enum class Major : std::uint8_t {
  kUnsigned = 0,
  kNegative = 1,
  kBytes = 2,
  kText = 3,
  kArray = 4,
  kMap = 5,
  kTag = 6,
  kSimple = 7,  // simple values and floats
};

// Simple values (RFC 8949 §3.3).
inline constexpr std::uint8_t kSimpleFalse = 20;
inline constexpr std::uint8_t kSimpleTrue = 21;
inline constexpr std::uint8_t kSimpleNull = 22;
inline constexpr std::uint8_t kSimpleUndefined = 23;

// Tags. Registered tags are used where one means exactly the memokey value;
// the others live in memokey's own block 0x6D6B00.. ("mk"), in the IANA
// first-come-first-served range. docs/FORMAT.md gives each one's content.
namespace tag {
inline constexpr std::uint64_t kPositiveBignum = 2;      // RFC 8949 §3.4.3
inline constexpr std::uint64_t kNegativeBignum = 3;      // RFC 8949 §3.4.3
inline constexpr std::uint64_t kDecimalFraction = 4;     // [exponent, mantissa]
inline constexpr std::uint64_t kRational = 30;           // [numerator, denominator > 0]
inline constexpr std::uint64_t kUuid = 37;               // 16-byte string
inline constexpr std::uint64_t kMultiDimArray = 40;      // RFC 8746: [shape, data], row-major
inline constexpr std::uint64_t kSet = 258;               // sorted, duplicate-free array
inline constexpr std::uint64_t kFullDate = 1004;         // RFC 8943 "YYYY-MM-DD"

// RFC 8746 typed arrays, little-endian (the only byte order memokey writes).
inline constexpr std::uint64_t kUint8Array = 64;
inline constexpr std::uint64_t kUint16LeArray = 69;
inline constexpr std::uint64_t kUint32LeArray = 70;
inline constexpr std::uint64_t kUint64LeArray = 71;
inline constexpr std::uint64_t kSint8Array = 72;
inline constexpr std::uint64_t kSint16LeArray = 77;
inline constexpr std::uint64_t kSint32LeArray = 78;
inline constexpr std::uint64_t kSint64LeArray = 79;
inline constexpr std::uint64_t kFloat16LeArray = 84;
inline constexpr std::uint64_t kFloat32LeArray = 85;
inline constexpr std::uint64_t kFloat64LeArray = 86;

// memokey's block.
inline constexpr std::uint64_t kMemokeyBase = 0x6D6B00;
inline constexpr std::uint64_t kTuple = kMemokeyBase + 0x01;          // array
inline constexpr std::uint64_t kFrozenSet = kMemokeyBase + 0x02;      // sorted, duplicate-free array
inline constexpr std::uint64_t kOrderedMap = kMemokeyBase + 0x03;     // [k1, v1, k2, v2, ...] in order
inline constexpr std::uint64_t kObject = kMemokeyBase + 0x04;         // [class id, state]
inline constexpr std::uint64_t kGlobal = kMemokeyBase + 0x05;         // "module:qualname"
inline constexpr std::uint64_t kComplex = kMemokeyBase + 0x06;        // [real, imag]
inline constexpr std::uint64_t kDateTime = kMemokeyBase + 0x07;       // see FORMAT.md
inline constexpr std::uint64_t kTime = kMemokeyBase + 0x08;           // see FORMAT.md
inline constexpr std::uint64_t kTimeDelta = kMemokeyBase + 0x09;      // [days, seconds, microseconds]
inline constexpr std::uint64_t kDecimalSpecial = kMemokeyBase + 0x0A; // "NaN", "-Infinity", "-0E+2", ...
inline constexpr std::uint64_t kRange = kMemokeyBase + 0x0B;          // [start, stop, step]
inline constexpr std::uint64_t kSlice = kMemokeyBase + 0x0C;          // [start, stop, step]
inline constexpr std::uint64_t kEnum = kMemokeyBase + 0x0D;           // [class id, member name]
inline constexpr std::uint64_t kTypedNdArray = kMemokeyBase + 0x0E;   // [dtype, shape, data]
inline constexpr std::uint64_t kNumpyScalar = kMemokeyBase + 0x0F;    // [dtype, data]
inline constexpr std::uint64_t kColumn = kMemokeyBase + 0x10;         // [type, length, validity, values]
inline constexpr std::uint64_t kFrame = kMemokeyBase + 0x11;          // [class id, index, labels, columns]
}  // namespace tag

// Decoding limits that are part of the contract: nesting deeper than this is
// rejected by the strict decoder and refused by the encoders.
inline constexpr std::uint32_t kDefaultMaxDepth = 512;

}  // namespace memokey

#endif  // MEMOKEY_FORMAT_H_
