// Helpers shared by the C++ tests: hex, files, JSON, the explicit key frame,
// and a seeded generator of random Values.

#ifndef MEMOKEY_TESTS_CPP_TEST_SUPPORT_H_
#define MEMOKEY_TESTS_CPP_TEST_SUPPORT_H_

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/cbor_writer.h"
#include "memokey/key.h"
#include "memokey/value.h"

namespace memokey_test {

using Bytes = std::vector<std::uint8_t>;

// Hex digits (whitespace ignored) to bytes; aborts the test on bad input.
Bytes FromHex(std::string_view hex);
std::string ToHex(memokey::ByteSpan bytes);

std::string ReadFile(const std::string& path);
boost::json::value LoadJson(const std::string& path);

// Paths given by CMake.
std::string AppendixAPath();
std::string VectorsDir();

// The key frame built by hand, as FORMAT.md §5 spells it, and its XXH3-128
// computed in one shot with libxxhash: an oracle independent of KeyEncoder.
Bytes Frame(std::optional<std::string_view> key_namespace, memokey::ByteSpan canonical);
memokey::Key HashFrameOneShot(memokey::ByteSpan frame);

// Iteration counts: full in optimized builds, a quarter under the sanitizers
// (Debug builds, where NDEBUG is unset) so the suite stays within minutes.
constexpr int Scaled(int n) {
#ifdef NDEBUG
  return n;
#else
  return n / 4;
#endif
}

// Random Values covering every kind, nesting at most `max_depth` levels:
// integers at head boundaries, bytes, valid UTF-8 text with 1..4-byte
// characters, arrays, maps (keys distinct after canonicalization), tags
// (258 and frozenset over arrays, bignums 2/3 over bytes, others), simple
// values, and floats of every width including NaNs, infinities and -0.0.
class ValueGenerator {
 public:
  explicit ValueGenerator(std::uint64_t seed) : rng_(seed) {}
  memokey::Value Next(int max_depth = 6);
  std::mt19937_64& rng() { return rng_; }

 private:
  memokey::Value Generate(int depth_left);
  std::uint64_t Integer();
  double Float();
  std::string Utf8Text();
  std::size_t Below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  std::mt19937_64 rng_;
};

// A well-formed but (randomly) non-canonical encoding of `value`: long heads,
// indefinite lengths with chunked strings, shuffled map entries, repeated and
// shuffled set elements, wider float widths, NaN payloads, bignums with
// leading zeros for small integers. Canonicalize() of it must equal
// ToCanonical(value).
Bytes NoisyEncode(const memokey::Value& value, std::mt19937_64& rng);

}  // namespace memokey_test

#endif  // MEMOKEY_TESTS_CPP_TEST_SUPPORT_H_
