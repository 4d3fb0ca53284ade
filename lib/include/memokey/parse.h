// memokey/parse.h — the small text values of store URLs and configuration
// (sizes, counts, flags), parsed one way by lib's store URLs and by memokeyd's
// configuration file, environment and flags.
//
// Contract:
//   - AsciiLower lowercases A-Z only; other bytes (UTF-8 included) pass as is.
//   - ParseUint: decimal digits only, no sign or space; nullopt when empty,
//     malformed or above UINT64_MAX.
//   - ParseSize: "<digits>[unit]" with optional spaces around and between;
//     units, any case: b; k kib m mib g gib t tib (powers of 1024: "64M" is
//     64 MiB); kb mb gb tb (powers of 1000). nullopt when malformed or when the
//     bytes overflow 64 bits.
//   - ParseBool: 1 true yes on / 0 false no off, any case; nullopt otherwise.

#ifndef MEMOKEY_PARSE_H_
#define MEMOKEY_PARSE_H_

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace memokey {

inline std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::optional<std::uint64_t> ParseUint(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

inline std::optional<std::uint64_t> ParseSize(std::string_view text) {
  const auto trim = [](std::string_view t) {
    const auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    while (!t.empty() && space(t.front())) t.remove_prefix(1);
    while (!t.empty() && space(t.back())) t.remove_suffix(1);
    return t;
  };
  text = trim(text);
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::optional<std::uint64_t> number = ParseUint(text.substr(0, digits));
  if (!number) return std::nullopt;
  const std::string suffix = AsciiLower(trim(text.substr(digits)));
  struct Unit {
    std::string_view name;
    std::uint64_t factor;
  };
  static constexpr std::uint64_t kKi = 1024;
  static constexpr Unit kUnits[] = {
      {"", 1},
      {"b", 1},
      {"k", kKi},
      {"kib", kKi},
      {"kb", 1000},
      {"m", kKi * kKi},
      {"mib", kKi * kKi},
      {"mb", 1000 * 1000},
      {"g", kKi * kKi * kKi},
      {"gib", kKi * kKi * kKi},
      {"gb", 1000 * 1000 * 1000},
      {"t", kKi * kKi * kKi * kKi},
      {"tib", kKi * kKi * kKi * kKi},
      {"tb", std::uint64_t{1000} * 1000 * 1000 * 1000},
  };
  for (const Unit& unit : kUnits) {
    if (suffix != unit.name) continue;
    if (*number > std::numeric_limits<std::uint64_t>::max() / unit.factor) return std::nullopt;
    return *number * unit.factor;
  }
  return std::nullopt;
}

inline std::optional<bool> ParseBool(std::string_view text) {
  const std::string lower = AsciiLower(text);
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

}  // namespace memokey

#endif  // MEMOKEY_PARSE_H_
