// memokey/cbor_bits.h — the byte-level pieces of canonical CBOR (RFC 8949
// §4.2.1): item heads, shortest-width floats, and exact conversions between
// IEEE 754 binary64, binary32 and binary16. memokey::Encoder and the decoder
// are built on them, and so is the Python extension's inlined walker
// (bindings/python/src/encode.cc, decode.cc): one definition of each, inline so
// that a hot loop pays no call.
//
// Contract:
//   - WriteHead writes the shortest head of (major, argument): 1, 2, 3, 5 or 9
//     bytes, big-endian argument; the caller provides kMaxHeadBytes of room.
//   - WriteFloat writes the shortest of binary16/32/64 that holds `value`
//     exactly; every NaN is written as the canonical f9 7e 00. The caller
//     provides kMaxHeadBytes of room. Returns the bytes written (3, 5 or 9).
//   - ReadBigEndian reads n (<= 8) bytes as a big-endian unsigned integer; the
//     caller checks that they are there.
//   - FloatFromBits widens the argument of a float head (additional
//     information 25, 26 or 27) exactly to a double.
//   - DoubleToSingleExact / DoubleToHalfExact are true, and set *bits, only
//     when the conversion is exact (NaN never is: callers handle it first).

#ifndef MEMOKEY_CBOR_BITS_H_
#define MEMOKEY_CBOR_BITS_H_

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#define MEMOKEY_CBOR_INLINE [[gnu::always_inline]] inline

namespace memokey {

inline constexpr std::size_t kMaxHeadBytes = 9;

// DoubleToSingleExact for a `value` known not to be NaN.
MEMOKEY_CBOR_INLINE bool NumberToSingleExact(double value, std::uint32_t* bits) {
  if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()) return false;
  const auto narrowed = static_cast<float>(value);
  if (static_cast<double>(narrowed) != value) return false;
  *bits = std::bit_cast<std::uint32_t>(narrowed);
  return true;
}

// True (and *bits set) when `value` is exactly representable as binary32.
MEMOKEY_CBOR_INLINE bool DoubleToSingleExact(double value, std::uint32_t* bits) {
  return !std::isnan(value) && NumberToSingleExact(value, bits);
}

// True (and *bits set) when the binary32 `single` (not a NaN) is exactly
// representable as binary16, subnormals and infinities included; signed zero
// keeps its sign.
MEMOKEY_CBOR_INLINE bool SingleToHalfExact(std::uint32_t single, std::uint16_t* bits) {
  const auto sign = static_cast<std::uint16_t>((single >> 16) & 0x8000);
  const std::uint32_t exponent = (single >> 23) & 0xff;
  const std::uint32_t mantissa = single & 0x7fffff;
  if (exponent == 0xff) {  // infinity (NaN excluded by the caller)
    *bits = static_cast<std::uint16_t>(sign | 0x7c00);
    return true;
  }
  if (exponent == 0) {
    if (mantissa != 0) return false;  // binary32 subnormals are far below binary16's range
    *bits = sign;
    return true;
  }
  const int e = static_cast<int>(exponent) - 127;
  if (e >= -14 && e <= 15) {  // binary16 normal
    if ((mantissa & 0x1fff) != 0) return false;
    *bits = static_cast<std::uint16_t>(sign | ((e + 15) << 10) | (mantissa >> 13));
    return true;
  }
  if (e >= -24 && e < -14) {  // binary16 subnormal: value = m * 2^-24
    const std::uint32_t full = mantissa | 0x800000;
    const int shift = -(e + 1);  // 14..23
    if ((full & ((1u << shift) - 1)) != 0) return false;
    *bits = static_cast<std::uint16_t>(sign | (full >> shift));
    return true;
  }
  return false;
}

// True (and *bits set) when `value` is exactly representable as binary16.
MEMOKEY_CBOR_INLINE bool DoubleToHalfExact(double value, std::uint16_t* bits) {
  std::uint32_t single;
  return DoubleToSingleExact(value, &single) && SingleToHalfExact(single, bits);
}

inline double HalfToDouble(std::uint16_t half) {
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  double value;
  if (exponent == 0) {
    value = std::ldexp(mantissa, -24);
  } else if (exponent != 31) {
    value = std::ldexp(mantissa + 1024, exponent - 25);
  } else {
    value = mantissa == 0 ? std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::quiet_NaN();
  }
  return (half & 0x8000) != 0 ? -value : value;
}

// Big-endian `n` (1..8) low bytes of `v` at `out`: a byte swap and one
// store (v's big-endian representation ends with them).
MEMOKEY_CBOR_INLINE void PutBigEndian(std::uint8_t* out, std::uint64_t v, int n) {
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  std::memcpy(out, reinterpret_cast<const std::uint8_t*>(&v) + (8 - n),
              static_cast<std::size_t>(n));
}

MEMOKEY_CBOR_INLINE std::uint64_t ReadBigEndian(const std::uint8_t* in, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | in[i];
  return v;
}

// `major` is the major type 0..7 (memokey::Major's value).
inline std::size_t WriteHead(std::uint8_t* out, std::uint8_t major, std::uint64_t argument) {
  const auto m = static_cast<std::uint8_t>(major << 5);
  if (argument < 24) {
    out[0] = static_cast<std::uint8_t>(m | argument);
    return 1;
  }
  if (argument <= 0xff) {
    out[0] = m | 24;
    out[1] = static_cast<std::uint8_t>(argument);
    return 2;
  }
  if (argument <= 0xffff) {
    out[0] = m | 25;
    PutBigEndian(out + 1, argument, 2);
    return 3;
  }
  if (argument <= 0xffffffffULL) {
    out[0] = m | 26;
    PutBigEndian(out + 1, argument, 4);
    return 5;
  }
  out[0] = m | 27;
  PutBigEndian(out + 1, argument, 8);
  return 9;
}

MEMOKEY_CBOR_INLINE std::size_t WriteFloat(std::uint8_t* out, double value) {
  std::uint32_t single;
  std::uint16_t half;
  if (std::isnan(value)) {
    out[0] = 0xf9;
    out[1] = 0x7e;
    out[2] = 0x00;
    return 3;
  }
  if (NumberToSingleExact(value, &single)) {
    if (SingleToHalfExact(single, &half)) {
      out[0] = 0xf9;
      PutBigEndian(out + 1, half, 2);
      return 3;
    }
    out[0] = 0xfa;
    PutBigEndian(out + 1, single, 4);
    return 5;
  }
  out[0] = 0xfb;
  PutBigEndian(out + 1, std::bit_cast<std::uint64_t>(value), 8);
  return 9;
}

// `info` is 25 (binary16), 26 (binary32) or 27 (binary64).
MEMOKEY_CBOR_INLINE double FloatFromBits(std::uint8_t info, std::uint64_t bits) {
  if (info == 25) return HalfToDouble(static_cast<std::uint16_t>(bits));
  if (info == 26) {
    return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
  }
  return std::bit_cast<double>(bits);
}

}  // namespace memokey

#undef MEMOKEY_CBOR_INLINE

#endif  // MEMOKEY_CBOR_BITS_H_
