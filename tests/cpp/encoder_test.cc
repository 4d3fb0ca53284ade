// The streaming Encoder: heads, integers, bignums, floats, text, maps, sets,
// sinks, and misuse.

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "memokey/cbor_writer.h"
#include "memokey/key.h"
#include "test_support.h"

namespace {

using memokey::ByteSpan;
using memokey::EncodeError;
using memokey::Encoder;
using memokey::Major;
using memokey_test::Bytes;
using memokey_test::FromHex;
using memokey_test::ToHex;

std::string Hex(const std::function<void(Encoder&)>& write) {
  Encoder e;
  write(e);
  e.finish();
  return ToHex(e.take());
}

// The expected head for `major` and `arg`, built from the rules, not the encoder.
std::string ExpectedHead(int major, std::uint64_t arg) {
  Bytes out;
  const auto m = static_cast<std::uint8_t>(major << 5);
  int width;
  if (arg < 24) {
    out.push_back(static_cast<std::uint8_t>(m | arg));
    return ToHex(out);
  } else if (arg <= 0xff) {
    out.push_back(m | 24);
    width = 1;
  } else if (arg <= 0xffff) {
    out.push_back(m | 25);
    width = 2;
  } else if (arg <= 0xffffffffULL) {
    out.push_back(m | 26);
    width = 4;
  } else {
    out.push_back(m | 27);
    width = 8;
  }
  for (int i = width - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(arg >> (8 * i)));
  return ToHex(out);
}

constexpr std::uint64_t kBoundaries[] = {0,     1,     23,         24,          255,       256,
                                         65535, 65536, 0xffffffff, 0x100000000, UINT64_MAX};

TEST(EncoderHeads, UnsignedAtEveryBoundary) {
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(0); }), "00");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(23); }), "17");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(24); }), "1818");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(255); }), "18ff");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(256); }), "190100");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(65535); }), "19ffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(65536); }), "1a00010000");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(0xffffffffULL); }), "1affffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(0x100000000ULL); }), "1b0000000100000000");
  EXPECT_EQ(Hex([](Encoder& e) { e.uint(UINT64_MAX); }), "1bffffffffffffffff");
}

TEST(EncoderHeads, EveryMajorTypeAtEveryBoundary) {
  for (const std::uint64_t arg : kBoundaries) {
    SCOPED_TRACE(arg);
    EXPECT_EQ(Hex([&](Encoder& e) { e.uint(arg); }), ExpectedHead(0, arg));
    EXPECT_EQ(Hex([&](Encoder& e) { e.negative(arg); }), ExpectedHead(1, arg));
    // array(n) and tag(t) write only the head; the shape is the caller's.
    Encoder a;
    a.array(arg);
    EXPECT_EQ(ToHex(a.buffer()), ExpectedHead(4, arg));
    Encoder t;
    t.tag(arg);
    EXPECT_EQ(ToHex(t.buffer()), ExpectedHead(6, arg));
    if (arg <= 65536) {
      const Bytes content(arg, 0xab);
      EXPECT_EQ(Hex([&](Encoder& e) { e.bytes(content); }), ExpectedHead(2, arg) + ToHex(content));
      const std::string text(arg, 'x');
      EXPECT_EQ(
          Hex([&](Encoder& e) { e.text(text); }),
          ExpectedHead(3, arg) +
              ToHex(ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
    }
  }
}

TEST(EncoderIntegers, Negative) {
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-1); }), "20");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-10); }), "29");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-24); }), "37");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-25); }), "3818");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-100); }), "3863");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-256); }), "38ff");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-257); }), "390100");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(-1000); }), "3903e7");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(std::numeric_limits<std::int64_t>::min()); }),
            "3b7fffffffffffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(std::numeric_limits<std::int64_t>::max()); }),
            "1b7fffffffffffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.negative(UINT64_MAX); }), "3bffffffffffffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.int64(0); }), "00");
}

TEST(EncoderIntegers, Bignums) {
  const Bytes two_to_64 = FromHex("010000000000000000");
  EXPECT_EQ(Hex([&](Encoder& e) { e.bignum(false, two_to_64); }), "c249010000000000000000");
  // -1 - 2^64 = -2^64 - 1
  EXPECT_EQ(Hex([&](Encoder& e) { e.bignum(true, two_to_64); }), "c349010000000000000000");
  // Leading zeros are dropped.
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(false, FromHex("0000010000000000000000")); }),
            "c249010000000000000000");
  // 2^128, given with a leading zero byte.
  EXPECT_EQ(Hex([](Encoder& e) {
              e.bignum(false, FromHex("0001"
                                      "00000000000000000000000000000000"));
            }),
            "c251"
            "01"
            "00000000000000000000000000000000");
  // Values that fit in 64 bits are plain integers.
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(false, FromHex("")); }), "00");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(true, FromHex("")); }), "20");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(false, FromHex("0000ff")); }), "18ff");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(true, FromHex("00")); }), "20");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(false, FromHex("ffffffffffffffff")); }),
            "1bffffffffffffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(true, FromHex("00ffffffffffffffff")); }),
            "3bffffffffffffffff");
  EXPECT_EQ(Hex([](Encoder& e) { e.bignum(false, FromHex("000000000000000000000001")); }), "01");
}

struct FloatCase {
  double value;
  const char* hex;
};

TEST(EncoderFloats, ShortestExactWidth) {
  const FloatCase cases[] = {
      {0.0, "f90000"},
      {-0.0, "f98000"},
      {1.0, "f93c00"},
      {1.5, "f93e00"},
      {-4.0, "f9c400"},
      {65504.0, "f97bff"},
      {5.960464477539063e-8, "f90001"},  // smallest half subnormal
      {6.103515625e-05, "f90400"},       // smallest half normal
      {100000.0, "fa47c35000"},
      {65505.0, "fa477fe100"},
      {3.4028234663852886e+38, "fa7f7fffff"},  // float max
      {1.401298464324817e-45, "fa00000001"},   // float smallest subnormal
      {1.1, "fb3ff199999999999a"},
      {-4.1, "fbc010666666666666"},
      {1e300, "fb7e37e43c8800759c"},
      {std::numeric_limits<double>::denorm_min(), "fb0000000000000001"},
      {std::numeric_limits<double>::max(), "fb7fefffffffffffff"},
      {std::numeric_limits<double>::infinity(), "f97c00"},
      {-std::numeric_limits<double>::infinity(), "f9fc00"},
      {2.9802322387695312e-08, "fa33000000"},  // half subnormal range but not representable
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hex);
    EXPECT_EQ(Hex([&](Encoder& e) { e.float64(c.value); }), c.hex);
  }
}

TEST(EncoderFloats, EveryNaNIsF97E00) {
  const std::uint64_t nans[] = {0x7ff8000000000000ULL, 0xfff8000000000000ULL,
                                0x7ff0000000000001ULL,  // signalling
                                0x7ff8000000000123ULL, 0xffffffffffffffffULL,
                                0x7ff4000000000000ULL};
  for (const std::uint64_t bits : nans) {
    EXPECT_EQ(Hex([&](Encoder& e) { e.float64(std::bit_cast<double>(bits)); }), "f97e00")
        << std::hex << bits;
  }
  EXPECT_EQ(Hex([](Encoder& e) { e.float64(-std::numeric_limits<double>::quiet_NaN()); }),
            "f97e00");
}

TEST(EncoderFloats, EveryHalfValueRoundTripsAtHalfWidth) {
  // Exhaustive over binary16: every finite half value, widened to double,
  // must encode back to its own two bytes (except NaNs, which all become 7e00).
  for (std::uint32_t h = 0; h <= 0xffff; ++h) {
    const int exponent = (h >> 10) & 0x1f;
    const int mantissa = h & 0x3ff;
    if (exponent == 31 && mantissa != 0) continue;
    double d = exponent == 0    ? std::ldexp(mantissa, -24)
               : exponent == 31 ? std::numeric_limits<double>::infinity()
                                : std::ldexp(mantissa + 1024, exponent - 25);
    if ((h & 0x8000) != 0) d = -d;
    Encoder e;
    e.float64(d);
    const ByteSpan b = e.buffer();
    ASSERT_EQ(b.size(), 3u) << h;
    ASSERT_EQ(b[0], 0xf9);
    ASSERT_EQ((b[1] << 8) | b[2], static_cast<int>(h));
  }
}

TEST(EncoderText, Utf8) {
  EXPECT_EQ(Hex([](Encoder& e) { e.text(""); }), "60");
  EXPECT_EQ(Hex([](Encoder& e) { e.text("a"); }), "6161");
  EXPECT_EQ(Hex([](Encoder& e) { e.text("\xc3\xbc"); }), "62c3bc");
  EXPECT_EQ(Hex([](Encoder& e) { e.text("\xe6\xb0\xb4"); }), "63e6b0b4");
  EXPECT_EQ(Hex([](Encoder& e) { e.text("\xf0\x90\x85\x91"); }), "64f0908591");
  EXPECT_EQ(Hex([](Encoder& e) { e.text("\xf4\x8f\xbf\xbf"); }), "64f48fbfbf");  // U+10FFFF
  EXPECT_EQ(Hex([](Encoder& e) { e.text(std::string_view("\0", 1)); }), "6100");
}

TEST(EncoderText, InvalidUtf8IsAnError) {
  const char* invalid[] = {
      "\xed\xa0\x80",      // lone surrogate U+D800
      "\xed\xbf\xbf",      // U+DFFF
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong
      "\xe0\x80\x80",      // overlong 3-byte
      "\xf0\x80\x80\x80",  // overlong 4-byte
      "\xf4\x90\x80\x80",  // U+110000, above U+10FFFF
      "\xf5\x80\x80\x80",  // lead byte beyond F4
      "\xff",              //
      "\x80",              // continuation without lead
      "\xe6\xb0",          // truncated
      "abc\xe6",           // truncated at the end
      "\xc3\x28",          // bad continuation
  };
  for (const char* s : invalid) {
    SCOPED_TRACE(ToHex(ByteSpan(reinterpret_cast<const std::uint8_t*>(s), std::strlen(s))));
    Encoder e;
    EXPECT_THROW(e.text(s), EncodeError);
    EXPECT_FALSE(memokey::IsValidUtf8(s));
  }
  std::size_t at = 99;
  EXPECT_FALSE(memokey::IsValidUtf8("abcdefghij\xed\xa0\x80", &at));
  EXPECT_EQ(at, 10u);
  // text_unchecked trusts its caller.
  Encoder e;
  e.text_unchecked("\xff");
  EXPECT_EQ(ToHex(e.buffer()), "61ff");
}

TEST(EncoderSimple, Values) {
  EXPECT_EQ(Hex([](Encoder& e) { e.boolean(false); }), "f4");
  EXPECT_EQ(Hex([](Encoder& e) { e.boolean(true); }), "f5");
  EXPECT_EQ(Hex([](Encoder& e) { e.null(); }), "f6");
  EXPECT_EQ(Hex([](Encoder& e) { e.undefined(); }), "f7");
  EXPECT_EQ(Hex([](Encoder& e) { e.simple(16); }), "f0");
  EXPECT_EQ(Hex([](Encoder& e) { e.simple(0); }), "e0");
  EXPECT_EQ(Hex([](Encoder& e) { e.simple(32); }), "f820");
  EXPECT_EQ(Hex([](Encoder& e) { e.simple(255); }), "f8ff");
  for (int v = 24; v < 32; ++v) {
    Encoder e;
    EXPECT_THROW(e.simple(static_cast<std::uint8_t>(v)), EncodeError) << v;
  }
}

// A map entry writer: key then value, through any Encoder.
using EntryWriter = std::function<void(Encoder&)>;

std::vector<EntryWriter> VariedEntries() {
  std::vector<EntryWriter> entries;
  entries.push_back([](Encoder& e) {
    e.uint(10);
    e.uint(1);
  });
  entries.push_back([](Encoder& e) {
    e.uint(100);
    e.uint(2);
  });
  entries.push_back([](Encoder& e) {
    e.int64(-1);
    e.uint(3);
  });
  entries.push_back([](Encoder& e) {
    e.text("z");
    e.uint(4);
  });
  entries.push_back([](Encoder& e) {
    e.text("aa");
    e.uint(5);
  });
  entries.push_back([](Encoder& e) {
    e.text("b");
    e.text("x");
  });
  entries.push_back([](Encoder& e) {
    e.bytes(FromHex("00"));
    e.null();
  });
  entries.push_back([](Encoder& e) {
    e.array(2);
    e.uint(1);
    e.uint(2);
    e.boolean(true);
  });
  entries.push_back([](Encoder& e) {
    e.array(1);
    e.uint(1);
    e.boolean(false);
  });
  entries.push_back([](Encoder& e) {
    e.float64(1.5);
    e.float64(2.5);
  });
  entries.push_back([](Encoder& e) {
    e.boolean(false);
    e.uint(9);
  });
  entries.push_back([](Encoder& e) {
    // A nested map as a key, itself written unsorted.
    e.begin_map();
    e.item();
    e.text("y");
    e.uint(2);
    e.item();
    e.text("x");
    e.uint(1);
    e.end_map();
    e.uint(11);
  });
  entries.push_back([](Encoder& e) {
    e.text("nested");
    e.begin_map();
    e.item();
    e.uint(3);
    e.text("c");
    e.item();
    e.uint(1);
    e.text("a");
    e.item();
    e.uint(2);
    e.text("b");
    e.end_map();
  });
  for (int i = 0; i < 40; ++i) {
    entries.push_back([i](Encoder& e) {
      e.text("key" + std::to_string(i));
      e.int64(-i);
    });
  }
  return entries;
}

TEST(EncoderMaps, ShuffledInsertionOrdersEncodeIdentically) {
  const std::vector<EntryWriter> entries = VariedEntries();
  // Expected: each entry encoded alone, sorted bytewise, behind the map head.
  std::vector<Bytes> encoded;
  for (const auto& write : entries) {
    Encoder e;
    write(e);
    e.finish();
    encoded.push_back(e.take());
  }
  std::sort(encoded.begin(), encoded.end());
  Bytes expected = FromHex(ExpectedHead(5, entries.size()));
  for (const auto& b : encoded) expected.insert(expected.end(), b.begin(), b.end());

  std::vector<std::size_t> order(entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(42);
  for (int round = 0; round < 500; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    Encoder e;
    e.begin_map();
    for (const std::size_t i : order) {
      e.item();
      entries[i](e);
    }
    e.end_map();
    e.finish();
    ASSERT_EQ(ToHex(e.take()), ToHex(expected)) << "round " << round;
  }
}

TEST(EncoderMaps, SortedBytewiseNotLengthFirst) {
  // RFC 8949 §4.2.1 (not RFC 7049's length-first order): "aa" (62 61 61)
  // sorts after "b" (61 62).
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_map();
              e.item();
              e.text("aa");
              e.uint(1);
              e.item();
              e.text("b");
              e.uint(2);
              e.end_map();
            }),
            "a261620262616101");
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_map();
              e.end_map();
            }),
            "a0");
}

TEST(EncoderMaps, NestedMapsInMaps) {
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_map();
              e.item();
              e.text("b");
              e.begin_map();
              e.item();
              e.uint(2);
              e.uint(0);
              e.item();
              e.uint(1);
              e.begin_map();
              e.end_map();
              e.end_map();
              e.item();
              e.text("a");
              e.array(1);
              e.begin_map();
              e.item();
              e.text("y");
              e.null();
              e.item();
              e.text("x");
              e.null();
              e.end_map();
              e.end_map();
            }),
            "a2"
            "6161"
            "81a2"
            "6178f6"
            "6179f6"
            "6162"
            "a2"
            "01a0"
            "0200");
}

TEST(EncoderMaps, DuplicateKeyIsAnError) {
  Encoder e;
  e.begin_map();
  e.item();
  e.text("a");
  e.uint(1);
  e.item();
  e.text("b");
  e.uint(1);
  e.item();
  e.text("a");
  e.uint(2);
  EXPECT_THROW(e.end_map(), EncodeError);

  // Two NaNs with different payloads are one key in canonical form.
  Encoder nan;
  nan.begin_map();
  nan.item();
  nan.float64(std::bit_cast<double>(0x7ff8000000000000ULL));
  nan.uint(1);
  nan.item();
  nan.float64(std::bit_cast<double>(0xfff8000000000001ULL));
  nan.uint(1);
  EXPECT_THROW(nan.end_map(), EncodeError);

  // Equal keys whose values are equal too are still a duplicate.
  Encoder same;
  same.begin_map();
  same.item();
  same.uint(1);
  same.uint(1);
  same.item();
  same.uint(1);
  same.uint(1);
  EXPECT_THROW(same.end_map(), EncodeError);
}

TEST(EncoderSets, SortedAndDeduplicated) {
  EXPECT_EQ(Hex([](Encoder& e) {
              e.tag(memokey::tag::kSet);
              e.begin_set();
              for (int v : {3, 1, 3, 2, 1}) {
                e.item();
                e.uint(static_cast<std::uint64_t>(v));
              }
              e.end_set();
            }),
            "d9010283010203");
  EXPECT_EQ(Hex([](Encoder& e) {
              e.tag(memokey::tag::kSet);
              e.begin_set();
              e.end_set();
            }),
            "d9010280");
  // Every NaN is one element.
  EXPECT_EQ(Hex([](Encoder& e) {
              e.tag(memokey::tag::kFrozenSet);
              e.begin_set();
              e.item();
              e.float64(std::bit_cast<double>(0x7ff8000000000000ULL));
              e.item();
              e.float64(std::bit_cast<double>(0xfff0000000000001ULL));
              e.item();
              e.text("aa");
              e.item();
              e.text("b");
              e.end_set();
            }),
            "da006d6b02"
            "83"
            "6162"
            "626161"
            "f97e00");
  // Already sorted but with neighbours equal.
  EXPECT_EQ(Hex([](Encoder& e) {
              e.tag(memokey::tag::kSet);
              e.begin_set();
              for (int v : {1, 1, 2, 2}) {
                e.item();
                e.uint(static_cast<std::uint64_t>(v));
              }
              e.end_set();
            }),
            "d90102820102");
}

TEST(EncoderStrings, BeginBytesAndChunks) {
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_bytes(5);
              e.bytes_chunk(FromHex("0102"));
              e.bytes_chunk(FromHex(""));
              e.bytes_chunk(FromHex("030405"));
            }),
            "450102030405");
  EXPECT_EQ(Hex([](Encoder& e) { e.begin_bytes(0); }), "40");
  // As map keys, sorted like any other.
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_map();
              e.item();
              e.begin_bytes(2);
              e.bytes_chunk(FromHex("02"));
              e.bytes_chunk(FromHex("01"));
              e.uint(1);
              e.item();
              e.bytes(FromHex("0101"));
              e.uint(2);
              e.end_map();
            }),
            "a2"
            "42010102"
            "42020101");
}

TEST(EncoderMisuse, Errors) {
  {
    Encoder e;
    EXPECT_THROW(e.end_map(), EncodeError);
  }
  {
    Encoder e;
    EXPECT_THROW(e.end_set(), EncodeError);
  }
  {
    Encoder e;
    e.begin_map();
    EXPECT_THROW(e.end_set(), EncodeError);
  }
  {
    Encoder e;
    EXPECT_THROW(e.item(), EncodeError);
  }
  {
    Encoder e;
    e.begin_map();
    EXPECT_THROW(e.finish(), EncodeError);
    EXPECT_THROW(e.check_complete(), EncodeError);
  }
  {
    Encoder e;
    e.begin_map();
    e.uint(1);  // before item()
    e.uint(2);
    EXPECT_THROW(e.end_map(), EncodeError);
  }
  {
    Encoder e;
    e.begin_bytes(5);
    e.bytes_chunk(FromHex("010203"));
    EXPECT_THROW(e.finish(), EncodeError);
  }
  {
    Encoder e;
    e.begin_bytes(5);
    e.bytes_chunk(FromHex("010203"));
    EXPECT_THROW(e.uint(1), EncodeError);  // the next item while bytes are open
  }
  {
    Encoder e;
    e.begin_bytes(2);
    EXPECT_THROW(e.bytes_chunk(FromHex("010203")), EncodeError);  // overrun
  }
  {
    Encoder e;
    EXPECT_THROW(e.bytes_chunk(FromHex("01")), EncodeError);  // no begin_bytes
  }
  {
    Encoder e;
    e.begin_map();
    e.item();
    e.uint(1);  // a key without a value
    EXPECT_THROW(e.end_map(), EncodeError);
  }
  {
    // reset() recovers an encoder left in an unspecified state.
    Encoder e;
    e.begin_map();
    e.item();
    e.reset();
    e.uint(7);
    e.finish();
    EXPECT_EQ(ToHex(e.take()), "07");
  }
}

// --- Sinks ---------------------------------------------------------------------

// Layouts of large byte strings, inside and outside maps and sets.
void WriteLayout(Encoder& e, int layout, const Bytes& big, const Bytes& big2) {
  switch (layout) {
    case 0:
      e.bytes(big);
      return;
    case 1:
      e.array(3);
      e.bytes(big);
      e.text("between");
      e.bytes(big2);
      return;
    case 2:
      e.begin_map();
      e.item();
      e.text("k");
      e.bytes(big);
      e.item();
      e.text("a");
      e.bytes(big2);
      e.item();
      e.bytes(big2);
      e.uint(1);
      e.end_map();
      return;
    case 3:
      e.array(2);
      e.tag(memokey::tag::kSet);
      e.begin_set();
      e.item();
      e.bytes(big);
      e.item();
      e.bytes(big2);
      e.item();
      e.bytes(big);
      e.end_set();
      e.bytes(big);
      return;
    case 4: {
      e.array(2);
      e.begin_bytes(big.size());
      std::size_t pos = 0;
      std::size_t step = 1;
      while (pos < big.size()) {
        const std::size_t n = std::min(step, big.size() - pos);
        e.bytes_chunk(ByteSpan(big).subspan(pos, n));
        pos += n;
        step = step * 3 + 7;  // chunk sizes on both sides of kDirectWriteMin
      }
      e.uint(5);
      return;
    }
    default: {
      // Many small items outside any map: the buffer flushes repeatedly.
      const std::size_t n = big.size() / 4 + 1;
      e.array(n);
      for (std::size_t i = 0; i < n; ++i) e.uint(i * 2654435761u);
      return;
    }
  }
}

TEST(EncoderSinks, SinkAndKeyMatchTheBufferOnlyResult) {
  const std::size_t sizes[] = {1024,
                               Encoder::kDirectWriteMin - 1,
                               Encoder::kDirectWriteMin,
                               Encoder::kFlushThreshold - 3,
                               Encoder::kFlushThreshold + 1,
                               1 << 20,
                               5 << 20};
  for (const std::size_t size : sizes) {
    Bytes big(size);
    for (std::size_t i = 0; i < size; ++i) big[i] = static_cast<std::uint8_t>(i * 31 + (i >> 9));
    Bytes big2(size / 3 + 1, 0x5a);
    for (int layout = 0; layout <= 5; ++layout) {
      SCOPED_TRACE("size " + std::to_string(size) + " layout " + std::to_string(layout));
      Encoder plain;
      WriteLayout(plain, layout, big, big2);
      plain.finish();
      const Bytes expected = plain.take();

      Bytes sunk;
      memokey::VectorSink sink(&sunk);
      Encoder streaming(&sink);
      WriteLayout(streaming, layout, big, big2);
      streaming.finish();
      EXPECT_EQ(streaming.buffer().size(), 0u);
      ASSERT_EQ(sunk.size(), expected.size());
      ASSERT_TRUE(sunk == expected);
      if (size >= Encoder::kFlushThreshold) {
        EXPECT_TRUE(streaming.flushed_any());
      }

      for (const auto& ns :
           {std::optional<std::string_view>(), std::optional<std::string_view>("n")}) {
        memokey::KeyEncoder k(ns);
        WriteLayout(k.encoder(), layout, big, big2);
        const memokey::Key key = k.finish();
        EXPECT_EQ(key, memokey_test::HashFrameOneShot(memokey_test::Frame(ns, expected)));
        EXPECT_EQ(key, memokey::KeyOfCanonical(expected, ns));
      }
    }
  }
}

TEST(EncoderSinks, ReuseAfterReset) {
  Bytes out;
  memokey::VectorSink sink(&out);
  Encoder e;
  for (int i = 0; i < 3; ++i) {
    out.clear();
    e.reset(&sink);
    const Bytes big(100000, static_cast<std::uint8_t>(i));
    e.array(2);
    e.bytes(big);
    e.uint(static_cast<std::uint64_t>(i));
    e.finish();
    Encoder plain;
    plain.array(2);
    plain.bytes(big);
    plain.uint(static_cast<std::uint64_t>(i));
    plain.finish();
    EXPECT_TRUE(out == plain.take());
  }
}

TEST(EncoderRaw, AppendsCanonicalItems) {
  EXPECT_EQ(Hex([](Encoder& e) {
              e.array(2);
              e.raw(FromHex("6161"));
              e.raw(FromHex("f5"));
            }),
            "826161f5");
  // raw() items in a map are sorted like any other.
  EXPECT_EQ(Hex([](Encoder& e) {
              e.begin_map();
              e.item();
              e.raw(FromHex("6162"));
              e.uint(1);
              e.item();
              e.raw(FromHex("6161"));
              e.uint(2);
              e.end_map();
            }),
            "a2616102616201");
}

TEST(SkipItem, Sizes) {
  EXPECT_EQ(memokey::SkipItem(FromHex("00")), 1u);
  EXPECT_EQ(memokey::SkipItem(FromHex("8301820203820405")), 8u);
  EXPECT_EQ(memokey::SkipItem(FromHex("a26161016162820203ff")), 9u);
  EXPECT_EQ(memokey::SkipItem(FromHex("c249010000000000000000")), 11u);
  EXPECT_EQ(memokey::SkipItem(FromHex("fb3ff199999999999a")), 9u);
  EXPECT_EQ(memokey::SkipItem(FromHex("830102")), 0u);  // truncated
  EXPECT_EQ(memokey::SkipItem(FromHex("5b ffffffffffffffff")), 0u);
  EXPECT_EQ(memokey::SkipItem(FromHex("9f01ff")), 0u);  // indefinite
  EXPECT_EQ(memokey::SkipItem(FromHex("")), 0u);
}

}  // namespace
