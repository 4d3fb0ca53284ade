// Exact conversions between IEEE 754 binary64, binary32 and binary16.
// Internal to lib/: the encoder uses them to find the shortest exact width,
// the decoder to widen and to check that a float was written at its shortest.

#ifndef MEMOKEY_SRC_FLOAT_BITS_H_
#define MEMOKEY_SRC_FLOAT_BITS_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace memokey {

// True (and *bits set) when `value` is exactly representable as binary32.
// NaN is never "exact": canonical NaN is handled before these are called.
inline bool DoubleToSingleExact(double value, std::uint32_t* bits) {
  if (std::isnan(value)) return false;
  if (std::isfinite(value) && std::fabs(value) > std::numeric_limits<float>::max()) return false;
  const auto narrowed = static_cast<float>(value);
  if (static_cast<double>(narrowed) != value) return false;
  *bits = std::bit_cast<std::uint32_t>(narrowed);
  return true;
}

// True (and *bits set) when `value` is exactly representable as binary16,
// subnormals and infinities included; signed zero keeps its sign.
inline bool DoubleToHalfExact(double value, std::uint16_t* bits) {
  std::uint32_t single;
  if (!DoubleToSingleExact(value, &single)) return false;
  const auto sign = static_cast<std::uint16_t>((single >> 16) & 0x8000);
  const std::uint32_t exponent = (single >> 23) & 0xff;
  const std::uint32_t mantissa = single & 0x7fffff;
  if (exponent == 0xff) {  // infinity (NaN excluded above)
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

}  // namespace memokey

#endif  // MEMOKEY_SRC_FLOAT_BITS_H_
