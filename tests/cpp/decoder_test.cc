// Decode (strict and lenient) and Canonicalize: the RFC 8949 Appendix A
// vectors, specific rejections with their offsets, properties over random
// values, and a deterministic mini-fuzz.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "memokey/cbor_reader.h"
#include "memokey/value.h"
#include "test_support.h"

// --- Allocation tracking --------------------------------------------------------
// Replacing the global operator new lets one test assert that decoding absurd
// lengths never allocates by the announced length. Only the largest request
// made while tracking is on is recorded.
namespace {
std::atomic<bool> g_tracking{false};
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

// The replacements pair malloc with free, which GCC cannot see through.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_tracking.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
    while (size > seen && !g_largest_allocation.compare_exchange_weak(seen, size)) {
    }
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using memokey::ByteSpan;
using memokey::Canonicalize;
using memokey::Decode;
using memokey::DecodeOptions;
using memokey::Status;
using memokey::Value;
using memokey_test::Bytes;
using memokey_test::FromHex;
using memokey_test::Scaled;
using memokey_test::ToHex;

DecodeOptions Lenient() {
  DecodeOptions o;
  o.strict = false;
  return o;
}

Status Strict(const Bytes& b, Value* v = nullptr) {
  Value scratch;
  return Decode(b, v != nullptr ? v : &scratch);
}

Status Loose(const Bytes& b, Value* v = nullptr) {
  Value scratch;
  return Decode(b, v != nullptr ? v : &scratch, Lenient());
}

// --- RFC 8949 Appendix A ------------------------------------------------------------

struct AppendixVector {
  std::size_t index;
  std::string hex;
  Bytes bytes;
  bool roundtrip;
  std::optional<boost::json::value> decoded;
  std::optional<std::string> diagnostic;
};

// Shown in test names and failures as the vector's hex.
void PrintTo(const AppendixVector& v, std::ostream* os) { *os << v.hex; }

const std::vector<AppendixVector>& AppendixAVectors() {
  static const std::vector<AppendixVector> vectors = [] {
    std::vector<AppendixVector> out;
    try {
      const boost::json::value doc = memokey_test::LoadJson(memokey_test::AppendixAPath());
      for (const auto& item : doc.as_array()) {
        const auto& o = item.as_object();
        AppendixVector v;
        v.index = out.size();
        v.hex = std::string(o.at("hex").as_string());
        v.bytes = FromHex(v.hex);
        v.roundtrip = o.at("roundtrip").as_bool();
        if (const auto* d = o.if_contains("decoded")) v.decoded = *d;
        if (const auto* d = o.if_contains("diagnostic")) v.diagnostic = std::string(d->as_string());
        out.push_back(std::move(v));
      }
    } catch (const std::exception&) {
      out.clear();  // AppendixAFile.Loads reports the failure
    }
    return out;
  }();
  return vectors;
}

TEST(AppendixAFile, Loads) {
  ASSERT_NO_THROW(memokey_test::LoadJson(memokey_test::AppendixAPath()))
      << memokey_test::AppendixAPath();
  EXPECT_EQ(AppendixAVectors().size(), 82u);
}

// The preferred (canonical) form of every Appendix A vector that is not
// already canonical. The list is checked to be complete: every vector is
// either canonical as it stands or listed here.
const std::map<std::string, std::string>& NonCanonicalVectors() {
  static const std::map<std::string, std::string> m = {
      {"fa7f800000", "f97c00"},
      {"fa7fc00000", "f97e00"},
      {"faff800000", "f9fc00"},
      {"fb7ff0000000000000", "f97c00"},
      {"fb7ff8000000000000", "f97e00"},
      {"fbfff0000000000000", "f9fc00"},
      {"5f42010243030405ff", "450102030405"},
      {"7f657374726561646d696e67ff", "6973747265616d696e67"},
      {"9fff", "80"},
      {"9f018202039f0405ffff", "8301820203820405"},
      {"9f01820203820405ff", "8301820203820405"},
      {"83018202039f0405ff", "8301820203820405"},
      {"83019f0203ff820405", "8301820203820405"},
      {"9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff",
       "98190102030405060708090a0b0c0d0e0f101112131415161718181819"},
      {"bf61610161629f0203ffff", "a26161016162820203"},
      {"826161bf61626163ff", "826161a161626163"},
      {"bf6346756ef563416d7421ff", "a263416d74216346756ef5"},
  };
  return m;
}

// True when `v` is the value the vector's JSON `decoded` field describes.
// Integers beyond 64 bits are doubles in JSON, so they compare as doubles.
bool MatchesJson(const Value& v, const boost::json::value& j, std::string* why) {
  auto fail = [&](const std::string& what) {
    *why = what + ": " + memokey::ToDiagnostic(v) + " vs " + boost::json::serialize(j);
    return false;
  };
  switch (j.kind()) {
    case boost::json::kind::null:
      return v.is_null() || fail("not null");
    case boost::json::kind::bool_:
      return (v.is_bool() && v.bool_value() == j.as_bool()) || fail("bool");
    case boost::json::kind::int64: {
      const std::int64_t i = j.as_int64();
      if (i >= 0) {
        return (v.kind() == Value::Kind::kUnsigned &&
                v.unsigned_value() == static_cast<std::uint64_t>(i)) ||
               fail("int");
      }
      return (v.kind() == Value::Kind::kNegative &&
              v.negative_argument() == static_cast<std::uint64_t>(-(i + 1))) ||
             fail("negative int");
    }
    case boost::json::kind::uint64:
      return (v.kind() == Value::Kind::kUnsigned && v.unsigned_value() == j.as_uint64()) ||
             fail("uint");
    case boost::json::kind::double_: {
      const double d = j.as_double();
      switch (v.kind()) {
        case Value::Kind::kFloat: {
          // Boost.JSON 1.81 converts decimal text to the nearest double or a
          // neighbour of it (e.g. 3.4028234663852886e+38), so allow one ulp.
          const double f = v.float_value();
          const bool close = f == d || std::nextafter(f, d) == d;
          return (close && std::signbit(f) == std::signbit(d)) || fail("float");
        }
        case Value::Kind::kNegative:
          return -1.0 - static_cast<double>(v.negative_argument()) == d || fail("big negative");
        case Value::Kind::kTag: {
          if ((v.tag_number() != 2 && v.tag_number() != 3) ||
              v.tagged().kind() != Value::Kind::kBytes) {
            return fail("tag");
          }
          double m = 0;
          for (const std::uint8_t b : v.tagged().bytes()) m = m * 256 + b;
          return (v.tag_number() == 2 ? m : -1.0 - m) == d || fail("bignum");
        }
        default:
          return fail("number kind");
      }
    }
    case boost::json::kind::string:
      return (v.kind() == Value::Kind::kText && v.text() == std::string(j.as_string())) ||
             fail("text");
    case boost::json::kind::array: {
      if (v.kind() != Value::Kind::kArray || v.array().size() != j.as_array().size()) {
        return fail("array");
      }
      for (std::size_t i = 0; i < v.array().size(); ++i) {
        if (!MatchesJson(v.array()[i], j.as_array()[i], why)) return false;
      }
      return true;
    }
    case boost::json::kind::object: {
      const auto& o = j.as_object();
      if (v.kind() != Value::Kind::kMap || v.map().size() != o.size()) return fail("map");
      for (const auto& [k, val] : v.map()) {
        if (k.kind() != Value::Kind::kText) return fail("map key");
        const auto* expected = o.if_contains(k.text());
        if (expected == nullptr) return fail("missing key " + k.text());
        if (!MatchesJson(val, *expected, why)) return false;
      }
      return true;
    }
  }
  return fail("kind");
}

class AppendixA : public ::testing::TestWithParam<AppendixVector> {};

TEST_P(AppendixA, DecodesAndCanonicalizes) {
  const AppendixVector& vec = GetParam();
  const Bytes& input = vec.bytes;

  if (vec.hex == "f818") {
    // simple(24) in two bytes. RFC 7049 listed it, but RFC 8949 §3.3 made
    // "f8" followed by a byte below 0x20 not well-formed (simple values below
    // 32 have one-byte forms only), and RFC 8949's Appendix A no longer has
    // this example. Both modes must refuse it, with the reason.
    Value v;
    for (const DecodeOptions& o : {DecodeOptions{}, Lenient()}) {
      const Status s = Decode(input, &v, o);
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.message(), "two-byte simple value below 32 is not well-formed");
      EXPECT_EQ(s.offset(), 0u);
    }
    Bytes out;
    EXPECT_FALSE(Canonicalize(input, &out).ok());
    return;
  }

  Value lenient;
  const Status ls = Decode(input, &lenient, Lenient());
  ASSERT_TRUE(ls.ok()) << ls.ToString();

  // Whether the vector is already canonical is computed, not taken from the
  // file's `roundtrip` flag (which means "a generic encoder reproduces it").
  const Bytes canonical = memokey::ToCanonical(lenient);
  const bool is_canonical = canonical == input;
  const auto& table = NonCanonicalVectors();
  EXPECT_EQ(!is_canonical, table.count(vec.hex) == 1)
      << "canonical form " << ToHex(canonical) << " disagrees with the table";
  if (!vec.roundtrip) {
    EXPECT_FALSE(is_canonical) << "roundtrip=false vectors here are all non-canonical";
  }

  Value strict;
  const Status ss = Decode(input, &strict);
  if (is_canonical) {
    ASSERT_TRUE(ss.ok()) << ss.ToString();
    EXPECT_EQ(strict, lenient);
    EXPECT_EQ(memokey::ToCanonical(strict), input);
  } else {
    ASSERT_FALSE(ss.ok());
    EXPECT_NE(ss.offset(), Status::kNoOffset);
    // A specific reason, not the generic re-encoding safety net.
    EXPECT_EQ(ss.message().find("not in canonical form"), std::string::npos) << ss.ToString();
    EXPECT_EQ(ToHex(canonical), table.at(vec.hex));
  }
  Bytes out;
  const Status cs = Canonicalize(input, &out);
  ASSERT_TRUE(cs.ok()) << cs.ToString();
  EXPECT_EQ(out, canonical);

  if (vec.decoded) {
    std::string why;
    EXPECT_TRUE(MatchesJson(lenient, *vec.decoded, &why)) << why;
  }
  if (vec.diagnostic && vec.diagnostic->rfind("(_", 0) != 0) {
    // Indefinite-length notation "(_ ...)" describes the encoding, which a
    // Value does not keep; every other diagnostic matches exactly.
    EXPECT_EQ(memokey::ToDiagnostic(lenient), *vec.diagnostic);
  }
}

TEST_P(AppendixA, EveryTruncationIsAnError) {
  const Bytes& input = GetParam().bytes;
  for (std::size_t n = 0; n < input.size(); ++n) {
    const Bytes prefix(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
    for (const DecodeOptions& o : {DecodeOptions{}, Lenient()}) {
      Value v;
      const Status s = Decode(prefix, &v, o);
      ASSERT_FALSE(s.ok()) << ToHex(prefix);
      ASSERT_LE(s.offset(), prefix.size()) << ToHex(prefix);
    }
  }
}

std::string VectorName(const ::testing::TestParamInfo<AppendixVector>& info) {
  return std::to_string(info.param.index) + "_" + info.param.hex.substr(0, 24);
}

INSTANTIATE_TEST_SUITE_P(Rfc8949, AppendixA, ::testing::ValuesIn(AppendixAVectors()), VectorName);

// --- Specific rejections ----------------------------------------------------------

struct Rejection {
  const char* hex;
  bool lenient_too;  // not well-formed, so lenient mode rejects it as well
  const char* message;
  std::size_t offset;
};

TEST(DecodeErrors, ReasonsAndOffsets) {
  const Rejection cases[] = {
      {"", true, "unexpected end of input", 0},
      {"1800", false, "overlong head: 1 byte for argument 0, which fits in the initial byte", 0},
      {"1817", false, "overlong head: 1 byte for argument 23, which fits in the initial byte", 0},
      {"190001", false, "overlong head: 2 bytes for argument 1, which fits in the initial byte", 0},
      {"1900ff", false, "overlong head: 2 bytes for argument 255, which fits in 1 byte", 0},
      {"1a0000ffff", false, "overlong head: 4 bytes for argument 65535, which fits in 2 bytes", 0},
      {"1b00000000ffffffff", false,
       "overlong head: 8 bytes for argument 4294967295, which fits in 4 bytes", 0},
      {"1b0000000000000001", false,
       "overlong head: 8 bytes for argument 1, which fits in the initial byte", 0},
      {"820118 17", false, "overlong head: 1 byte for argument 23, which fits in the initial byte",
       2},
      {"5801 00", false, "overlong head: 1 byte for argument 1, which fits in the initial byte", 0},
      {"d80100", false, "overlong head: 1 byte for argument 1, which fits in the initial byte", 0},
      {"a2 6162 01 6161 02", false, "map keys not in canonical order", 4},
      {"a2 6161 01 6161 02", false, "duplicate map key", 4},
      {"a3 01 00 6161 01 02 00", false, "map keys not in canonical order", 6},
      {"a2 6261 61 01 6162 02", false, "map keys not in canonical order", 5},  // length-first order
      {"83 01 02 9f ff", false, "indefinite length not allowed in canonical form", 3},
      {"5f ff", false, "indefinite length not allowed in canonical form", 0},
      {"7f ff", false, "indefinite length not allowed in canonical form", 0},
      {"bf ff", false, "indefinite length not allowed in canonical form", 0},
      {"fa3fc00000", false, "float 1.5 not in shortest form (use f93e00)", 0},
      {"fb3ff8000000000000", false, "float 1.5 not in shortest form (use f93e00)", 0},
      {"fb3ff0000020000000", false,
       "float 1.0000001192092896 not in shortest form (use fa3f800001)", 0},
      {"fa80000000", false, "float -0.0 not in shortest form (use f98000)", 0},
      {"8201 fb7ff0000000000000", false, "float Infinity not in shortest form (use f97c00)", 2},
      {"f97e01", false, "NaN must be encoded as f97e00", 0},
      {"f9fe00", false, "NaN must be encoded as f97e00", 0},
      {"fa7fc00000", false, "NaN must be encoded as f97e00", 0},
      {"fb7ff8000000000000", false, "NaN must be encoded as f97e00", 0},
      {"c24100", false, "bignum with a leading zero byte", 2},
      {"c249 00 0100000000000000", false, "bignum with a leading zero byte", 2},
      {"c248 0100000000000000", false, "bignum fits in 64 bits (use a plain integer)", 0},
      {"c240", false, "bignum fits in 64 bits (use a plain integer)", 0},
      {"82 00 c3 41 01", false, "bignum fits in 64 bits (use a plain integer)", 2},
      {"d9 0102 82 02 01", false, "set elements not in canonical order", 5},
      {"d9 0102 82 01 01", false, "duplicate set element", 5},
      {"da006d6b02 83 01 03 02", false, "set elements not in canonical order", 8},
      {"d9 0102 82 6261 61 6162", false, "set elements not in canonical order", 7},
      {"62 c3 28", true, "invalid UTF-8 in text string", 1},
      {"64 61 ed a0 80", true, "invalid UTF-8 in text string", 2},
      {"62 c0 80", true, "invalid UTF-8 in text string", 1},
      {"64 f4 90 80 80", true, "invalid UTF-8 in text string", 1},
      {"5a ffffffff 000102", true, "length 4294967295 exceeds the 3 bytes left", 0},
      {"7b ffffffffffffffff", true, "length 18446744073709551615 exceeds the 0 bytes left", 0},
      {"5b ffffffffffffffff", true, "length 18446744073709551615 exceeds the 0 bytes left", 0},
      {"9b ffffffffffffffff 00", true, "array length 18446744073709551615 exceeds the 1 bytes left",
       0},
      {"bb ffffffffffffffff 00 00", true,
       "map length 18446744073709551615 exceeds what the 2 bytes left can hold", 0},
      {"a2 01 02 03", true, "map length 2 exceeds what the 3 bytes left can hold", 0},
      {"82 00 62 61", true, "length 2 exceeds the 1 bytes left", 2},
      {"a2", true, "map length 2 exceeds what the 0 bytes left can hold", 0},
      {"1a000f42", true, "unexpected end of input", 4},
      {"82 81 00", true, "unexpected end of input", 3},
      {"c2", true, "unexpected end of input", 1},
      {"f9 00", true, "unexpected end of input", 2},
      {"ff", true, "unexpected break (0xff) outside an indefinite-length item", 0},
      {"81 ff", true, "unexpected break (0xff) outside an indefinite-length item", 1},
      {"1c", true, "reserved additional information 28", 0},
      {"1d", true, "reserved additional information 29", 0},
      {"1e", true, "reserved additional information 30", 0},
      {"5c", true, "reserved additional information 28", 0},
      {"fc", true, "reserved additional information 28", 0},
      {"82 01 fd", true, "reserved additional information 29", 2},
      {"1f", true, "additional information 31 is not well-formed for major type 0", 0},
      {"3f", true, "additional information 31 is not well-formed for major type 1", 0},
      {"df 00", true, "additional information 31 is not well-formed for major type 6", 0},
      {"f818", true, "two-byte simple value below 32 is not well-formed", 0},
      {"f800", true, "two-byte simple value below 32 is not well-formed", 0},
      {"f81f", true, "two-byte simple value below 32 is not well-formed", 0},
      {"00 00", true, "trailing bytes after the data item", 1},
      {"8100 ff", true, "trailing bytes after the data item", 2},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hex);
    const Bytes input = FromHex(c.hex);
    const Status s = Strict(input);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message(), c.message);
    EXPECT_EQ(s.offset(), c.offset);
    EXPECT_EQ(s.ToString(), "at byte " + std::to_string(c.offset) + ": " + c.message);
    const Status l = Loose(input);
    EXPECT_EQ(!l.ok(), c.lenient_too) << l.ToString();
    if (c.lenient_too) {
      EXPECT_EQ(l.message(), c.message);
      EXPECT_EQ(l.offset(), c.offset);
    }
  }
}

TEST(DecodeErrors, IndefiniteLengthsInLenientMode) {
  const Rejection cases[] = {
      {"5f 61 61 ff", true,
       "a chunk of an indefinite-length byte string must be a definite-length string of the same "
       "type",
       1},
      {"7f 41 01 ff", true,
       "a chunk of an indefinite-length text string must be a definite-length string of the same "
       "type",
       1},
      {"5f 5f ff ff", true,
       "a chunk of an indefinite-length byte string must be a definite-length string of the same "
       "type",
       1},
      {"5f 41 01 00 ff", true,
       "a chunk of an indefinite-length byte string must be a definite-length string of the same "
       "type",
       3},
      {"bf 61 61 ff", true, "unexpected break (0xff) outside an indefinite-length item", 3},
      {"5f 41", true, "length 1 exceeds the 0 bytes left", 1},
      {"5f 41 01", true, "unexpected end of input", 3},
      {"9f 01", true, "unexpected end of input", 2},
      {"7f 61 c3 61 bc ff", true, "invalid UTF-8 in text string", 2},  // chunks split a character
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hex);
    const Status s = Loose(FromHex(c.hex));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message(), c.message);
    EXPECT_EQ(s.offset(), c.offset);
  }
}

Bytes Repeat(std::uint8_t byte, std::size_t n, const Bytes& tail) {
  Bytes out(n, byte);
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

TEST(DecodeDepth, NestingLimit) {
  // An item inside 512 containers is accepted; inside 513 it is not.
  EXPECT_TRUE(Strict(Repeat(0x81, 512, {0x00})).ok());
  for (const std::size_t n : {std::size_t{513}, std::size_t{10000}}) {
    for (const DecodeOptions& o : {DecodeOptions{}, Lenient()}) {
      Value v;
      const Status s = Decode(Repeat(0x81, n, {0x00}), &v, o);
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.message(), "nesting deeper than 512");
      EXPECT_EQ(s.offset(), 513u);
    }
  }
  // Indefinite arrays, maps (nested through keys) and tags count alike.
  EXPECT_EQ(Loose(Repeat(0x9f, 10000, {})).message(), "nesting deeper than 512");
  EXPECT_EQ(Loose(Repeat(0xa1, 10000, {})).message(), "nesting deeper than 512");
  EXPECT_EQ(Strict(Repeat(0xc6, 600, {0x00})).message(), "nesting deeper than 512");
  // A set's elements sit two levels below its tag.
  Bytes set = Repeat(0x81, 511, FromHex("d9010281 00"));
  for (const DecodeOptions& o : {DecodeOptions{}, Lenient()}) {
    Value v;
    const Status s = Decode(set, &v, o);
    EXPECT_EQ(s.message(), "nesting deeper than 512");
    EXPECT_EQ(s.offset(), 515u);
  }
  EXPECT_TRUE(Strict(Repeat(0x81, 510, FromHex("d9010281 00"))).ok());
  // The limit is an option.
  DecodeOptions shallow;
  shallow.max_depth = 3;
  Value v;
  EXPECT_TRUE(Decode(FromHex("81818100"), &v, shallow).ok());
  const Status s = Decode(FromHex("8181818100"), &v, shallow);
  EXPECT_EQ(s.message(), "nesting deeper than 3");
  EXPECT_EQ(s.offset(), 4u);
  // Canonicalize honours its own limit when re-encoding.
  Bytes out;
  EXPECT_TRUE(Canonicalize(Repeat(0x81, 600, {0x00}), &out, 600).ok());
  EXPECT_EQ(out, Repeat(0x81, 600, {0x00}));
  EXPECT_FALSE(Canonicalize(Repeat(0x81, 600, {0x00}), &out).ok());
}

TEST(DecodeLimits, AbsurdLengthsAllocateNothingLarge) {
  const char* inputs[] = {
      "5b ffffffffffffffff",
      "7b ffffffffffffffff 00",
      "9b ffffffffffffffff 00",
      "bb ffffffffffffffff 0000",
      "9a 7fffffff 00000000",
      "ba 7fffffff 00000000",
      "5a 00ffffff 0102",
      "9f 9b ffffffffffffffff",
      "c2 5b 0000000100000000",
      "9a 00010000"
      "00000000000000000000",  // 65536 elements announced, 10 present
  };
  for (const char* hex : inputs) {
    SCOPED_TRACE(hex);
    const Bytes input = FromHex(hex);
    for (const DecodeOptions& o : {DecodeOptions{}, Lenient()}) {
      Value v;
      g_largest_allocation = 0;
      g_tracking = true;
      const Status s = Decode(input, &v, o);
      g_tracking = false;
      EXPECT_FALSE(s.ok());
      EXPECT_LT(g_largest_allocation.load(), std::size_t{4096});
    }
  }
}

TEST(DecodeOptionsTest, AllowTrailing) {
  DecodeOptions o;
  o.allow_trailing = true;
  Value v;
  std::size_t consumed = 0;
  ASSERT_TRUE(Decode(FromHex("820102 ff00"), &v, o, &consumed).ok());
  EXPECT_EQ(consumed, 3u);
  EXPECT_EQ(v, Value::Array({Value::Integer(1), Value::Integer(2)}));
  ASSERT_TRUE(Decode(FromHex("00"), &v, o, &consumed).ok());
  EXPECT_EQ(consumed, 1u);
  EXPECT_FALSE(Decode(FromHex("1800 00"), &v, o, &consumed).ok());  // still strict
  o.strict = false;
  ASSERT_TRUE(Decode(FromHex("9f01ff 9f"), &v, o, &consumed).ok());
  EXPECT_EQ(consumed, 3u);
}

struct Canon {
  const char* input;
  const char* canonical;
};

TEST(CanonicalizeTest, PreferredForms) {
  const Canon cases[] = {
      {"1800", "00"},
      {"1b0000000000000001", "01"},
      {"3b0000000000000000", "20"},
      {"d80100", "c100"},
      {"da00000102 80", "d9010280"},
      {"a2 6162 01 6161 02", "a2616102616201"},
      {"a2 6261 61 01 6162 02", "a2616202626161 01"},
      {"d9 0102 83 02 01 02", "d90102820102"},
      {"da006d6b02 83 03 01 03", "da006d6b02820103"},
      {"da006d6b01 82 02 01", "da006d6b01820201"},  // a tuple keeps its order
      {"c24100", "00"},
      {"c2 49 000000000000000001", "01"},
      {"c3 4a 00 010000000000000000", "c349010000000000000000"},
      {"c3 48 ffffffffffffffff", "3bffffffffffffffff"},
      {"fa3fc00000", "f93e00"},
      {"fb3ff8000000000000", "f93e00"},
      {"fb3ff0000020000000", "fa3f800001"},
      {"f97e01", "f97e00"},
      {"fbfff8000000000001", "f97e00"},
      {"fa80000000", "f98000"},
      {"5f ff", "40"},
      {"7f ff", "60"},
      {"5f 40 40 ff", "40"},
      {"7f 6161 7800 6162 ff", "626162"},
      {"bf ff", "a0"},
      {"bf 7f 6162 ff 01 6161 02 ff", "a2616102616201"},
      {"9f 9f 9f ff ff ff", "818180"},
      {"f820", "f820"},
      {"f0", "f0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    Bytes out;
    const Status s = Canonicalize(FromHex(c.input), &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(ToHex(out), ToHex(FromHex(c.canonical)));
    // The output is canonical: strict decoding accepts it as it is.
    Value v;
    EXPECT_TRUE(Decode(out, &v).ok());
  }
}

TEST(CanonicalizeTest, KeysEqualAfterCanonicalizationAreAnError) {
  const char* cases[] = {
      "a2 6161 01 6161 02",                  // plain duplicate
      "a2 f93c00 01 fa3f800000 02",          // 1.0 twice, at two widths
      "a2 f97e00 01 fb7ff8000000000001 02",  // two NaNs
      "a2 01 00 c2 41 01 00",                // 1 and bignum 1
      "a2 6161 01 7f 6161 ff 02",            // "a" and an indefinite "a"
      "a2 1801 00 01 00",                    // 1 with a long head
  };
  for (const char* hex : cases) {
    SCOPED_TRACE(hex);
    const Bytes input = FromHex(hex);
    // Lenient decoding keeps both entries ...
    Value v;
    ASSERT_TRUE(Decode(input, &v, Lenient()).ok());
    EXPECT_EQ(v.map().size(), 2u);
    // ... but there is no canonical form.
    Bytes out;
    const Status s = Canonicalize(input, &out);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("duplicate map key"), std::string::npos) << s.ToString();
    EXPECT_FALSE(Strict(input).ok());
  }
}

// --- Properties over random values ---------------------------------------------

TEST(DecodeProperties, EncodeDecodeEncodeIsIdentity) {
  memokey_test::ValueGenerator gen(20240601);
  const int n = Scaled(20000);
  for (int i = 0; i < n; ++i) {
    const Value v = gen.Next(6);
    const Bytes canonical = memokey::ToCanonical(v);
    Value decoded;
    const Status s = Decode(canonical, &decoded);
    ASSERT_TRUE(s.ok()) << s.ToString() << " " << ToHex(canonical);
    ASSERT_EQ(memokey::ToCanonical(decoded), canonical) << memokey::ToDiagnostic(v);
    // Decoding canonical bytes is exact: a second trip changes nothing.
    Value again;
    ASSERT_TRUE(Decode(memokey::ToCanonical(decoded), &again).ok());
    ASSERT_EQ(again, decoded);
    Bytes out;
    ASSERT_TRUE(Canonicalize(canonical, &out).ok());
    ASSERT_EQ(out, canonical);
    (void)memokey::ToDiagnostic(decoded);
  }
}

TEST(DecodeProperties, NoisyEncodingsCanonicalizeToTheSameBytes) {
  memokey_test::ValueGenerator gen(99);
  std::mt19937_64 rng(5);
  const int n = Scaled(10000);
  for (int i = 0; i < n; ++i) {
    const Value v = gen.Next(5);
    const Bytes canonical = memokey::ToCanonical(v);
    for (int k = 0; k < 3; ++k) {
      const Bytes noisy = memokey_test::NoisyEncode(v, rng);
      Bytes out;
      const Status s = Canonicalize(noisy, &out);
      ASSERT_TRUE(s.ok()) << s.ToString() << " " << ToHex(noisy);
      ASSERT_EQ(ToHex(out), ToHex(canonical)) << ToHex(noisy);
      const Status strict = Strict(noisy);
      ASSERT_EQ(strict.ok(), noisy == canonical) << strict.ToString() << " " << ToHex(noisy);
      if (!strict.ok()) {
        ASSERT_EQ(strict.message().find("not in canonical form"), std::string::npos)
            << strict.ToString() << " " << ToHex(noisy);
      }
    }
  }
}

TEST(DecodeProperties, ShuffledMapsEncodeIdentically) {
  memokey_test::ValueGenerator gen(3);
  std::mt19937_64 rng(4);
  for (int i = 0; i < Scaled(400); ++i) {
    std::vector<Value::Entry> entries;
    std::set<Bytes> seen;
    for (int k = 0; k < 12; ++k) {
      Value key = gen.Next(2);
      if (seen.insert(memokey::ToCanonical(key)).second)
        entries.emplace_back(std::move(key), gen.Next(2));
    }
    const Bytes expected = memokey::ToCanonical(Value::Map(entries));
    for (int round = 0; round < 10; ++round) {
      std::shuffle(entries.begin(), entries.end(), rng);
      ASSERT_EQ(memokey::ToCanonical(Value::Map(entries)), expected);
    }
  }
}

TEST(DecodeProperties, TruncatedCanonicalValuesAreErrors) {
  memokey_test::ValueGenerator gen(8);
  for (int i = 0; i < Scaled(600); ++i) {
    const Bytes canonical = memokey::ToCanonical(gen.Next(4));
    for (std::size_t n = 0; n < canonical.size(); ++n) {
      const Bytes prefix(canonical.begin(), canonical.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_FALSE(Strict(prefix).ok()) << ToHex(prefix);
      ASSERT_FALSE(Loose(prefix).ok()) << ToHex(prefix);
    }
  }
}

// --- Mini-fuzz ----------------------------------------------------------------------

// What must hold for any input at all.
void CheckInvariants(const Bytes& input) {
  Value strict_value;
  const Status strict = Decode(input, &strict_value);
  if (strict.ok()) {
    // Anything strict mode accepts re-encodes to exactly the input.
    ASSERT_EQ(ToHex(memokey::ToCanonical(strict_value)), ToHex(input));
  } else {
    ASSERT_NE(strict.offset(), Status::kNoOffset) << strict.ToString();
    ASSERT_LE(strict.offset(), input.size()) << ToHex(input);
    // The specific checks found the reason before the safety net did.
    ASSERT_EQ(strict.message().find("not in canonical form"), std::string::npos)
        << ToHex(input) << " " << strict.ToString();
  }
  Value lenient_value;
  const Status lenient = Decode(input, &lenient_value, Lenient());
  if (strict.ok()) {
    ASSERT_TRUE(lenient.ok()) << ToHex(input);
    ASSERT_EQ(lenient_value, strict_value);
  }
  if (!lenient.ok()) {
    ASSERT_LE(lenient.offset(), input.size());
  }
  Bytes canonical;
  const Status canon = Canonicalize(input, &canonical);
  if (canon.ok()) {
    ASSERT_TRUE(lenient.ok());
    Value again;
    ASSERT_TRUE(Decode(canonical, &again).ok()) << ToHex(input) << " -> " << ToHex(canonical);
    if (strict.ok()) {
      ASSERT_EQ(canonical, input);
    }
  } else if (lenient.ok()) {
    // Well-formed but without a canonical form: only equal keys get here.
    ASSERT_EQ(canon.offset(), Status::kNoOffset);
  }
}

std::uint8_t InterestingByte(std::mt19937_64& rng) {
  static constexpr std::uint8_t kBytes[] = {
      0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x3b, 0x40, 0x41, 0x58,
      0x5b, 0x5f, 0x60, 0x61, 0x62, 0x7b, 0x7f, 0x80, 0x81, 0x82, 0x98, 0x9b, 0x9f, 0xa0, 0xa1,
      0xa2, 0xbb, 0xbf, 0xc2, 0xc3, 0xd8, 0xd9, 0x01, 0x02, 0xda, 0x6d, 0x6b, 0xe0, 0xf4, 0xf5,
      0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xff, 0x7e, 0x7c, 0xc3, 0xed, 0xa0, 0x80, 0xf0};
  if (rng() % 2 == 0) return static_cast<std::uint8_t>(rng());
  return kBytes[rng() % std::size(kBytes)];
}

TEST(DecodeFuzz, RandomBytes) {
  std::mt19937_64 rng(1234);
  const int n = Scaled(200000);
  for (int i = 0; i < n; ++i) {
    Bytes input(rng() % 24);
    for (auto& b : input) b = InterestingByte(rng);
    CheckInvariants(input);
    if (HasFatalFailure()) return;
  }
}

TEST(DecodeFuzz, MutatedValidEncodings) {
  std::vector<Bytes> corpus;
  for (const auto& v : AppendixAVectors()) corpus.push_back(v.bytes);
  memokey_test::ValueGenerator gen(77);
  std::mt19937_64 rng(4321);
  for (int i = 0; i < 400; ++i) {
    const Value v = gen.Next(4);
    corpus.push_back(memokey::ToCanonical(v));
    corpus.push_back(memokey_test::NoisyEncode(v, rng));
  }
  ASSERT_GT(corpus.size(), 800u);
  const int n = Scaled(200000);
  for (int i = 0; i < n; ++i) {
    Bytes input = corpus[rng() % corpus.size()];
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
      const std::size_t at = input.empty() ? 0 : rng() % input.size();
      switch (rng() % 6) {
        case 0:
          if (!input.empty()) input[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          if (!input.empty()) input[at] = InterestingByte(rng);
          break;
        case 2:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at), InterestingByte(rng));
          break;
        case 3:
          if (!input.empty()) input.erase(input.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        case 4:
          input.resize(at);
          break;
        default: {
          // Duplicate a slice: repeated keys, elements and heads.
          const std::size_t len = std::min<std::size_t>(input.size() - at, 1 + rng() % 8);
          const Bytes slice(input.begin() + static_cast<std::ptrdiff_t>(at),
                            input.begin() + static_cast<std::ptrdiff_t>(at + len));
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at), slice.begin(), slice.end());
          break;
        }
      }
    }
    CheckInvariants(input);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
