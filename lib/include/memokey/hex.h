// memokey/hex.h — hexadecimal text of bytes: the one implementation that lib,
// the server, the CLI and the Python bindings use (digests, keys, escapes,
// temporary names).
//
// Contract:
//   - Output is lowercase, two characters per byte, most significant nibble
//     first: {0x0a, 0xff} -> "0aff". No prefix, no separators.
//   - ParseHex accepts either case and needs exactly 2 * out.size() hex
//     characters; on false, `out` may be partly written.
//   - Everything is header-only and allocation-free except ToHex (one string).

#ifndef MEMOKEY_HEX_H_
#define MEMOKEY_HEX_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace memokey {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// Writes 2 * bytes.size() characters at `out` (no terminator).
inline void HexInto(std::span<const std::uint8_t> bytes, char* out) {
  for (const std::uint8_t b : bytes) {
    *out++ = kHexDigits[b >> 4];
    *out++ = kHexDigits[b & 0xf];
  }
}

// Appends the two characters of one byte.
inline void AppendHexByte(std::string& out, std::uint8_t b) {
  out += kHexDigits[b >> 4];
  out += kHexDigits[b & 0xf];
}

inline void AppendHex(std::string& out, std::span<const std::uint8_t> bytes) {
  const std::size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  HexInto(bytes, out.data() + at);
}

inline std::string ToHex(std::span<const std::uint8_t> bytes) {
  std::string out;
  AppendHex(out, bytes);
  return out;
}

// 0..15 for a hex digit (either case), -1 for anything else.
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses exactly 2 * out.size() hex characters into `out`.
inline bool ParseHex(std::string_view hex, std::span<std::uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace memokey

#endif  // MEMOKEY_HEX_H_
