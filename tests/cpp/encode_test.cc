// memokey::Encode for standard C++ types, the customization point, and
// EncodeRecord.

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/encode_cpp.h"
#include "test_support.h"

__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

namespace geometry {

struct Point {
  int x;
  int y;
};

void memokey_encode(memokey::Encoder& e, const Point& p) {
  memokey::EncodeRecord(e, "geometry:Point", "x", p.x, "y", p.y);
}

// A range with its own encoding: the customization wins over the range rule.
struct Polyline : std::vector<Point> {};

void memokey_encode(memokey::Encoder& e, const Polyline& line) {
  e.tag(memokey::tag::kObject);
  e.array(2);
  e.text("geometry:Polyline");
  e.array(line.size());
  for (const Point& p : line) memokey::Encode(e, p);
}

}  // namespace geometry

namespace {

using memokey::Canonical;
using memokey_test::Bytes;
using memokey_test::ToHex;

template <class T>
std::string Hex(const T& value) {
  return ToHex(Canonical(value));
}

TEST(EncodeIntegers, AllWidths) {
  EXPECT_EQ(Hex(std::int8_t{-1}), "20");
  EXPECT_EQ(Hex(std::int8_t{-128}), "387f");
  EXPECT_EQ(Hex(std::uint8_t{255}), "18ff");
  EXPECT_EQ(Hex(short{-300}), "39012b");
  EXPECT_EQ(Hex(std::uint16_t{65535}), "19ffff");
  EXPECT_EQ(Hex(1000), "1903e8");
  EXPECT_EQ(Hex(0u), "00");
  EXPECT_EQ(Hex(-1L), "20");
  EXPECT_EQ(Hex(std::numeric_limits<long long>::min()), "3b7fffffffffffffff");
  EXPECT_EQ(Hex(std::numeric_limits<std::uint64_t>::max()), "1bffffffffffffffff");
  EXPECT_EQ(Hex(std::size_t{24}), "1818");
  EXPECT_EQ(Hex('a'), "1861");  // char is an integer type, not text
}

TEST(EncodeIntegers, Int128) {
  EXPECT_EQ(Hex(Int128{5}), "05");
  EXPECT_EQ(Hex(Int128{-1}), "20");
  const Int128 two_to_64 = Int128{1} << 64;
  EXPECT_EQ(Hex(two_to_64), "c249010000000000000000");
  EXPECT_EQ(Hex(-two_to_64 - 1), "c349010000000000000000");
  EXPECT_EQ(Hex(-two_to_64), "3bffffffffffffffff");  // still a plain negative integer
  EXPECT_EQ(Hex(two_to_64 - 1), "1bffffffffffffffff");
  EXPECT_EQ(Hex(std::numeric_limits<Int128>::min()),
            "c350"
            "7fffffffffffffffffffffffffffffff");
  EXPECT_EQ(Hex(std::numeric_limits<Int128>::max()),
            "c250"
            "7fffffffffffffffffffffffffffffff");
  EXPECT_EQ(Hex(std::numeric_limits<UInt128>::max()),
            "c250"
            "ffffffffffffffffffffffffffffffff");
  EXPECT_EQ(Hex(UInt128{7}), "07");
  // Same number, same bytes, whatever the C++ type.
  EXPECT_EQ(Canonical(Int128{1000}), Canonical(1000));
  EXPECT_EQ(Canonical(Int128{-1000}), Canonical(std::int16_t{-1000}));
}

TEST(EncodeScalars, BoolFloatNull) {
  EXPECT_EQ(Hex(true), "f5");
  EXPECT_EQ(Hex(false), "f4");
  EXPECT_EQ(Hex(1.5), "f93e00");
  EXPECT_EQ(Hex(1.5f), "f93e00");
  EXPECT_EQ(Hex(0.1f), "fa3dcccccd");
  EXPECT_EQ(Hex(0.1), "fb3fb999999999999a");
  EXPECT_EQ(Hex(-0.0), "f98000");
  EXPECT_EQ(Hex(nullptr), "f6");
  EXPECT_EQ(Hex(std::nullopt), "f6");
  EXPECT_EQ(Hex(std::optional<int>()), "f6");
  EXPECT_EQ(Hex(std::optional<int>(5)), "05");
  EXPECT_EQ(Hex(std::optional<std::string>("a")), "6161");
}

TEST(EncodeStrings, TextAndBytes) {
  EXPECT_EQ(Hex(std::string("IETF")), "6449455446");
  EXPECT_EQ(Hex(std::string_view("a")), "6161");
  const char* c_string = "IETF";
  EXPECT_EQ(Hex(c_string), "6449455446");
  EXPECT_EQ(Hex("abc"), "63616263");  // a literal: no trailing NUL
  EXPECT_EQ(Hex(std::string("\xc3\xbc")), "62c3bc");
  EXPECT_THROW(Canonical(std::string("\xed\xa0\x80")), memokey::EncodeError);

  EXPECT_EQ(Hex(std::vector<std::uint8_t>{1, 2}), "420102");
  EXPECT_EQ(Hex(std::vector<std::uint8_t>{}), "40");
  EXPECT_EQ(Hex(std::vector<std::byte>{std::byte{1}, std::byte{2}}), "420102");
  EXPECT_EQ(Hex(std::array<std::byte, 2>{std::byte{1}, std::byte{2}}), "420102");
  EXPECT_EQ(Hex(std::array<unsigned char, 3>{1, 2, 3}), "43010203");
  const Bytes data = {9, 8};
  EXPECT_EQ(Hex(std::span<const std::uint8_t>(data)), "420908");
}

TEST(EncodeContainers, Arrays) {
  EXPECT_EQ(Hex(std::vector<int>{1, 2, 3}), "83010203");
  EXPECT_EQ(Hex(std::vector<int>{}), "80");
  EXPECT_EQ(Hex(std::array<int, 2>{1, 2}), "820102");
  EXPECT_EQ(Hex(std::list<int>{1, 2}), "820102");
  EXPECT_EQ(Hex(std::vector<std::vector<int>>{{1}, {2, 3}, {}}), "83810182020380");
  EXPECT_EQ(Hex(std::vector<std::int8_t>{1, -1}), "820120");
  EXPECT_EQ(Hex(std::vector<bool>{true, false}), "82f5f4");
}

TEST(EncodeContainers, MapsSortedRegardlessOfContainer) {
  const std::map<std::string, int> ordered = {{"b", 1}, {"a", 2}};
  EXPECT_EQ(Hex(ordered), "a2616102616201");
  std::unordered_map<std::string, int> hashed;
  for (int i = 0; i < 100; ++i) hashed["k" + std::to_string(i)] = i;
  std::map<std::string, int> same(hashed.begin(), hashed.end());
  EXPECT_EQ(Canonical(hashed), Canonical(same));
  // Another unordered_map with the same content but a different history.
  std::unordered_map<std::string, int> rehashed;
  rehashed.reserve(1000);
  for (int i = 99; i >= 0; --i) rehashed["k" + std::to_string(i)] = i;
  EXPECT_EQ(Canonical(hashed), Canonical(rehashed));
  // std::map orders "aa" < "b" by char; the canonical form orders by encoding.
  EXPECT_EQ(Hex(std::map<std::string, int>{{"aa", 1}, {"b", 2}}), "a261620262616101");
  EXPECT_EQ(Hex(std::map<int, std::string>{{-1, "n"}, {1, "p"}}), "a201617020616e");
}

TEST(EncodeContainers, Sets) {
  EXPECT_EQ(Hex(std::set<int>{3, 1, 2}), "d9010283010203");
  EXPECT_EQ(Hex(std::unordered_set<int>{3, 1, 2}), "d9010283010203");
  EXPECT_EQ(Hex(std::set<int>{}), "d9010280");
  EXPECT_EQ(Hex(std::set<std::string>{"b", "a", "aa"}), "d901028361616162626161");
  std::unordered_set<int> many;
  std::set<int> many_sorted;
  for (int i = -500; i < 500; i += 7) {
    many.insert(i);
    many_sorted.insert(i);
  }
  EXPECT_EQ(Canonical(many), Canonical(many_sorted));
}

TEST(EncodeContainers, TuplesAndPairs) {
  EXPECT_EQ(Hex(std::tuple<>()), "da006d6b0180");
  EXPECT_EQ(Hex(std::make_tuple(1, std::string("a"))), "da006d6b0182016161");
  EXPECT_EQ(Hex(std::make_pair(1, 2)), "da006d6b01820102");
  EXPECT_EQ(Hex(std::make_tuple(std::make_pair(true, nullptr), 1.5)),
            "da006d6b0182"
            "da006d6b0182f5f6"
            "f93e00");
}

TEST(EncodeContainers, Nested) {
  std::map<std::string, std::vector<std::optional<double>>> m = {{"z", {1.0, std::nullopt}},
                                                                 {"a", {}}};
  EXPECT_EQ(Hex(m),
            "a2"
            "6161"
            "80"
            "617a"
            "82f93c00f6");
  std::vector<std::map<int, std::set<std::string>>> v = {{{2, {"y", "x"}}}, {}};
  EXPECT_EQ(Hex(v),
            "82"
            "a1"
            "02"
            "d90102"
            "82"
            "6178"
            "6179"
            "a0");
}

TEST(EncodeValue, ValuesEncodeCanonically) {
  const memokey::Value v =
      memokey::Value::Map({{memokey::Value::Text("b"), memokey::Value::Integer(1)},
                           {memokey::Value::Text("a"), memokey::Value::Integer(2)}});
  EXPECT_EQ(Hex(v), "a2616102616201");
  EXPECT_EQ(Canonical(std::vector<memokey::Value>{v}),
            Bytes({0x81, 0xa2, 0x61, 0x61, 0x02, 0x61, 0x62, 0x01}));
}

TEST(EncodeCustom, RecordAndCustomization) {
  const geometry::Point p{1, 2};
  // tag 0x6D6B04 [ "geometry:Point", tag 0x6D6B03 ["x", 1, "y", 2] ]
  EXPECT_EQ(Hex(p),
            "da006d6b04"
            "82"
            "6e"
            "67656f6d657472793a506f696e74"
            "da006d6b03"
            "84"
            "6178"
            "01"
            "6179"
            "02");
  // Inside standard containers.
  EXPECT_EQ(Hex(std::vector<geometry::Point>{p}), "81" + Hex(p));
  std::map<std::string, geometry::Point> named = {{"origin", {0, 0}}};
  EXPECT_EQ(Canonical(named).size(), 1u + 7u + Canonical(geometry::Point{0, 0}).size());
  // The customization point beats the range rule.
  geometry::Polyline line;
  line.push_back(p);
  EXPECT_EQ(Hex(line),
            "da006d6b04"
            "82"
            "71"
            "67656f6d657472793a506f6c796c696e65"
            "81" +
                Hex(p));
  // Field order is part of a record (as in a Python dataclass).
  memokey::Encoder swapped;
  memokey::EncodeRecord(swapped, "geometry:Point", "y", 2, "x", 1);
  swapped.finish();
  EXPECT_NE(swapped.take(), Canonical(p));
}

TEST(EncodeDistinct, DifferentValuesAndTypesDiffer) {
  // 1, 1.0 and true are three values.
  EXPECT_EQ(Hex(1), "01");
  EXPECT_EQ(Hex(1.0), "f93c00");
  EXPECT_EQ(Hex(true), "f5");
  // Text and bytes.
  EXPECT_NE(Canonical(std::string("a")), Canonical(std::vector<std::uint8_t>{'a'}));
  // Array and tuple.
  EXPECT_NE(Canonical(std::vector<int>{1, 2}), Canonical(std::make_tuple(1, 2)));
  EXPECT_NE(Canonical(std::array<int, 2>{1, 2}), Canonical(std::make_pair(1, 2)));
  // 0.0 and -0.0.
  EXPECT_NE(Canonical(0.0), Canonical(-0.0));
  // A map and a list of pairs.
  EXPECT_NE(Canonical(std::map<int, int>{{1, 2}}),
            Canonical(std::vector<std::pair<int, int>>{{1, 2}}));
  // A set and an array.
  EXPECT_NE(Canonical(std::set<int>{1}), Canonical(std::vector<int>{1}));
  // null and empty containers.
  EXPECT_NE(Canonical(nullptr), Canonical(std::vector<int>{}));
  // And so are their keys.
  EXPECT_NE(memokey::KeyOf(1), memokey::KeyOf(1.0));
  EXPECT_NE(memokey::KeyOf(1), memokey::KeyOf(true));
  EXPECT_NE(memokey::KeyOf(0.0), memokey::KeyOf(-0.0));
  EXPECT_NE(memokey::KeyOf(std::string("a")), memokey::KeyOf(std::vector<std::uint8_t>{'a'}));
  EXPECT_NE(memokey::KeyOf(std::vector<int>{1, 2}), memokey::KeyOf(std::make_tuple(1, 2)));
}

}  // namespace
