// Value: equality, canonical re-encoding of decoded trees, diagnostic notation.

#include "memokey/value.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "memokey/cbor_reader.h"
#include "test_support.h"

namespace {

using memokey::Value;
using memokey_test::Bytes;
using memokey_test::FromHex;
using memokey_test::ToHex;

std::string Canon(const Value& v) { return ToHex(memokey::ToCanonical(v)); }

TEST(ValueEquality, Structural) {
  EXPECT_EQ(Value::Integer(1), Value::Unsigned(1));
  EXPECT_NE(Value::Unsigned(0), Value::Negative(0));
  EXPECT_EQ(Value::Integer(-1), Value::Negative(0));
  EXPECT_NE(Value::Unsigned(1), Value::Float(1.0));
  EXPECT_NE(Value::Unsigned(1), Value::Bool(true));
  EXPECT_NE(Value::Text("a"), Value::Bytes({'a'}));
  EXPECT_EQ(Value(), Value::Null());
  EXPECT_NE(Value::Null(), Value::Undefined());
  EXPECT_NE(Value::Float(0.0), Value::Float(-0.0));
  EXPECT_EQ(Value::Float(std::numeric_limits<double>::quiet_NaN()),
            Value::Float(-std::numeric_limits<double>::quiet_NaN()));
  EXPECT_EQ(Value::Array({Value::Integer(1), Value::Text("x")}),
            Value::Array({Value::Integer(1), Value::Text("x")}));
  EXPECT_NE(Value::Array({Value::Integer(1)}),
            Value::Array({Value::Integer(1), Value::Integer(1)}));
  EXPECT_EQ(Value::Tag(258, Value::Array({})), Value::Tag(258, Value::Array({})));
  EXPECT_NE(Value::Tag(258, Value::Array({})), Value::Tag(259, Value::Array({})));
  // Map entries compare in stored order.
  const Value ab =
      Value::Map({{Value::Text("a"), Value::Integer(1)}, {Value::Text("b"), Value::Integer(2)}});
  const Value ba =
      Value::Map({{Value::Text("b"), Value::Integer(2)}, {Value::Text("a"), Value::Integer(1)}});
  EXPECT_NE(ab, ba);
  EXPECT_EQ(Canon(ab), Canon(ba));
}

TEST(ValueEncode, NormalizesDecodedTrees) {
  // Maps sorted.
  EXPECT_EQ(
      Canon(Value::Map({{Value::Text("b"), Value::Integer(1)},
                        {Value::Text("a"), Value::Array({Value::Integer(1), Value::Float(2.5)})}})),
      "a261618201f94100616201");
  // Sets (258 and frozenset) sorted and de-duplicated; other tags untouched.
  EXPECT_EQ(Canon(Value::Tag(
                258, Value::Array({Value::Integer(2), Value::Integer(1), Value::Integer(2)}))),
            "d90102820102");
  EXPECT_EQ(Canon(Value::Tag(memokey::tag::kFrozenSet,
                             Value::Array({Value::Integer(2), Value::Integer(1)}))),
            "da006d6b02820102");
  EXPECT_EQ(
      Canon(Value::Tag(memokey::tag::kTuple, Value::Array({Value::Integer(2), Value::Integer(1)}))),
      "da006d6b01820201");
  // A set tag over something other than an array is kept as it is.
  EXPECT_EQ(Canon(Value::Tag(258, Value::Integer(1))), "d9010201");
  // Bignums minimized, or plain integers when they fit.
  EXPECT_EQ(Canon(Value::Tag(2, Value::Bytes(FromHex("00010000000000000000")))),
            "c249010000000000000000");
  EXPECT_EQ(Canon(Value::Tag(2, Value::Bytes(FromHex("0001")))), "01");
  EXPECT_EQ(Canon(Value::Tag(3, Value::Bytes(FromHex("")))), "20");
  EXPECT_EQ(Canon(Value::Tag(3, Value::Bytes(FromHex("ffffffffffffffff")))), "3bffffffffffffffff");
  // A bignum tag over something else is kept as it is.
  EXPECT_EQ(Canon(Value::Tag(2, Value::Text("x"))), "c26178");
  // Floats at their shortest width, NaN as f97e00.
  EXPECT_EQ(Canon(Value::Float(1.5)), "f93e00");
  EXPECT_EQ(Canon(Value::Float(std::bit_cast<double>(0xfff0000000000123ULL))), "f97e00");
  // Simple values.
  EXPECT_EQ(Canon(Value::Simple(16)), "f0");
  EXPECT_EQ(Canon(Value::Simple(255)), "f8ff");
  EXPECT_EQ(Canon(Value::Bool(true)), "f5");
  EXPECT_EQ(Canon(Value::Undefined()), "f7");
  EXPECT_EQ(Canon(Value::Negative(UINT64_MAX)), "3bffffffffffffffff");
}

TEST(ValueEncode, TreesWithoutCanonicalForm) {
  // Two keys equal after canonicalization.
  EXPECT_THROW(
      memokey::ToCanonical(Value::Map(
          {{Value::Integer(1), Value::Null()}, {Value::Tag(2, Value::Bytes({1})), Value::Null()}})),
      memokey::EncodeError);
  EXPECT_THROW(memokey::ToCanonical(Value::Map(
                   {{Value::Float(1.0), Value::Null()}, {Value::Float(1.0), Value::Null()}})),
               memokey::EncodeError);
  EXPECT_THROW(memokey::ToCanonical(Value::Text("\xc0\x80")), memokey::EncodeError);
  EXPECT_THROW(memokey::ToCanonical(Value::Simple(24)), memokey::EncodeError);
  EXPECT_THROW(memokey::ToCanonical(Value::Simple(31)), memokey::EncodeError);
}

Value Nested(int levels) {
  Value v = Value::Integer(0);
  for (int i = 0; i < levels; ++i) v = Value::Array({std::move(v)});
  return v;
}

TEST(ValueEncode, DepthLimit) {
  // An item inside 512 containers is fine; inside 513 it is refused — the
  // limit the strict decoder applies.
  EXPECT_EQ(memokey::ToCanonical(Nested(512)).size(), 513u);
  EXPECT_THROW(memokey::ToCanonical(Nested(513)), memokey::EncodeError);
  Value tags = Value::Integer(0);
  for (int i = 0; i < 600; ++i) tags = Value::Tag(6, std::move(tags));
  EXPECT_THROW(memokey::ToCanonical(tags), memokey::EncodeError);
}

struct DiagCase {
  const char* hex;
  const char* diagnostic;
};

TEST(ValueDiagnostic, Rfc8949Notation) {
  const DiagCase cases[] = {
      {"00", "0"},
      {"20", "-1"},
      {"3bffffffffffffffff", "-18446744073709551616"},
      {"1bffffffffffffffff", "18446744073709551615"},
      {"c249010000000000000000", "2(h'010000000000000000')"},
      {"420102", "h'0102'"},
      {"40", "h''"},
      {"6161", "\"a\""},
      {"60", "\"\""},
      {"62c3bc", "\"\xc3\xbc\""},
      {"6a225c0a0d0908010c7f2f", "\"\\\"\\\\\\n\\r\\t\\b\\u0001\\f\\u007f/\""},
      {"820102", "[1, 2]"},
      {"80", "[]"},
      {"a10102", "{1: 2}"},
      {"a0", "{}"},
      {"a261618201f94100616201", "{\"a\": [1, 2.5], \"b\": 1}"},
      {"d90102820102", "258([1, 2])"},
      {"f93e00", "1.5"},
      {"f93c00", "1.0"},
      {"f98000", "-0.0"},
      {"f90000", "0.0"},
      {"fa47c35000", "100000.0"},
      {"fb7e37e43c8800759c", "1.0e+300"},
      {"f90001", "5.960464477539063e-8"},
      {"fbc010666666666666", "-4.1"},
      {"fb3ff199999999999a", "1.1"},
      {"fa7f7fffff", "3.4028234663852886e+38"},
      {"fb0000000000000001", "5.0e-324"},
      {"f97c00", "Infinity"},
      {"f9fc00", "-Infinity"},
      {"f97e00", "NaN"},
      {"f4", "false"},
      {"f5", "true"},
      {"f6", "null"},
      {"f7", "undefined"},
      {"f0", "simple(16)"},
      {"f8ff", "simple(255)"},
      {"c11a514b67b0", "1(1363896240)"},
      {"c1fb41d452d9ec200000", "1(1363896240.5)"},
  };
  for (const auto& c : cases) {
    Value v;
    ASSERT_TRUE(memokey::Decode(FromHex(c.hex), &v).ok()) << c.hex;
    EXPECT_EQ(memokey::ToDiagnostic(v), c.diagnostic) << c.hex;
  }
}

TEST(ValueDiagnostic, FloatsAlwaysLookLikeFloats) {
  memokey_test::ValueGenerator gen(7);
  for (int i = 0; i < 20000; ++i) {
    const double d = std::bit_cast<double>(gen.rng()());
    const std::string s = memokey::ToDiagnostic(Value::Float(d));
    const bool looks_float = s.find('.') != std::string::npos || s.find('e') != std::string::npos ||
                             s == "NaN" || s == "Infinity" || s == "-Infinity";
    ASSERT_TRUE(looks_float) << s;
    if (std::isfinite(d)) {
      // Round trip: the text reads back as the same double.
      ASSERT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
    }
  }
}

}  // namespace
