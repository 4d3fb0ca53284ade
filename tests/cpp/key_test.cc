// Keys: text form, namespaces, the frame, and hashing while streaming.

#include "memokey/key.h"

#include <gtest/gtest.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "memokey/encode_cpp.h"
#include "test_support.h"

namespace {

using memokey::Key;
using memokey::KeyOf;
using memokey::KeyOfCanonical;
using memokey_test::Bytes;
using memokey_test::FromHex;

TEST(KeyText, HexForm) {
  const Key key = KeyOf(42);
  const std::string hex = key.hex();
  ASSERT_EQ(hex.size(), 32u);
  for (const char c : hex) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << hex;
  EXPECT_EQ(Key::FromHex(hex), key);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Key::FromHex(upper), key);

  Key k;
  for (std::size_t i = 0; i < 16; ++i) k.bytes[i] = static_cast<std::uint8_t>(i * 17);
  EXPECT_EQ(k.hex(), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(Key::FromHex("00112233445566778899aabbccddeeff"), k);
}

TEST(KeyText, FromHexRejects) {
  EXPECT_FALSE(Key::FromHex(""));
  EXPECT_FALSE(Key::FromHex("00112233445566778899aabbccddeef"));    // 31
  EXPECT_FALSE(Key::FromHex("00112233445566778899aabbccddeeff0"));  // 33
  EXPECT_FALSE(Key::FromHex("00112233445566778899aabbccddeefg"));
  EXPECT_FALSE(Key::FromHex("0011223344556677 899aabbccddeeff"));
  EXPECT_FALSE(Key::FromHex("-0112233445566778899aabbccddeeff"));
  EXPECT_FALSE(Key::FromHex("0x112233445566778899aabbccddeeff"));
}

TEST(KeyNamespaces, AreSeparate) {
  const Key none = KeyOf(std::string("v"));
  const Key empty = KeyOf(std::string("v"), "");
  const Key a = KeyOf(std::string("v"), "a");
  const Key b = KeyOf(std::string("v"), "b");
  EXPECT_NE(none, empty);
  EXPECT_NE(none, a);
  EXPECT_NE(empty, a);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, KeyOf(std::string("v"), "a"));
  // An invalid UTF-8 namespace is refused.
  EXPECT_THROW(KeyOf(1, std::string_view("\xff")), memokey::EncodeError);
}

TEST(KeyFrame, KeyOfEqualsKeyOfCanonical) {
  const std::map<std::string, std::vector<int>> m = {{"b", {1}}, {"a", {2, 3}}};
  EXPECT_EQ(KeyOf(m), KeyOfCanonical(memokey::Canonical(m)));
  EXPECT_EQ(KeyOf(m, "ns"), KeyOfCanonical(memokey::Canonical(m), "ns"));
  EXPECT_EQ(KeyOf(1.5), KeyOfCanonical(FromHex("f93e00")));
  EXPECT_EQ(KeyOf(std::set<int>{2, 1}), KeyOfCanonical(FromHex("d90102820102")));
  memokey_test::ValueGenerator gen(11);
  for (int i = 0; i < 2000; ++i) {
    const memokey::Value v = gen.Next();
    ASSERT_EQ(KeyOf(v), KeyOfCanonical(memokey::ToCanonical(v)));
  }
}

Key Xxh128OfBytes(const Bytes& frame) {
  const XXH128_hash_t hash = XXH3_128bits(frame.data(), frame.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  Key key;
  for (std::size_t i = 0; i < 16; ++i) key.bytes[i] = canonical.digest[i];
  return key;
}

TEST(KeyFrame, IsXxh3OfTheExplicitFrame) {
  // 84 67 "memokey" 01 f6 <value>, written out byte by byte.
  const Bytes frame_none = {0x84, 0x67, 'm', 'e', 'm', 'o', 'k', 'e', 'y', 0x01, 0xf6, 0x18, 0x2a};
  EXPECT_EQ(KeyOf(42), Xxh128OfBytes(frame_none));
  // ... with namespace "ns": 62 6e 73 in place of f6.
  const Bytes frame_ns = {0x84, 0x67, 'm',  'e', 'm', 'o',  'k', 'e',
                          'y',  0x01, 0x62, 'n', 's', 0x18, 0x2a};
  EXPECT_EQ(KeyOf(42, "ns"), Xxh128OfBytes(frame_ns));
  // ... with the empty namespace: 60.
  const Bytes frame_empty = {0x84, 0x67, 'm', 'e', 'm', 'o', 'k', 'e', 'y', 0x01, 0x60, 0x18, 0x2a};
  EXPECT_EQ(KeyOf(42, ""), Xxh128OfBytes(frame_empty));
  // The test helper builds the same frames.
  EXPECT_EQ(memokey_test::Frame(std::nullopt, FromHex("182a")), frame_none);
  EXPECT_EQ(memokey_test::Frame("ns", FromHex("182a")), frame_ns);
}

TEST(KeyEncoderReuse, ResetGivesFreshKeys) {
  memokey::KeyEncoder k;
  memokey::Encode(k.encoder(), 1);
  const Key one = k.finish();
  EXPECT_EQ(one, KeyOf(1));
  k.reset("x");
  memokey::Encode(k.encoder(), std::vector<std::uint8_t>(100000, 7));  // streams
  EXPECT_EQ(k.finish(), KeyOf(std::vector<std::uint8_t>(100000, 7), "x"));
  k.reset();
  memokey::Encode(k.encoder(), 1);  // small again: one-shot after a streamed key
  EXPECT_EQ(k.finish(), one);
}

TEST(KeyStreaming, SixtyFourMiBByteString) {
  // One buffer holds the whole frame; the value is the byte string inside it,
  // so the streamed key and the one-shot key share a single 64 MiB copy.
  constexpr std::size_t kSize = std::size_t{64} << 20;
  const Bytes head = memokey_test::Frame(std::nullopt, FromHex("5a04000000"));
  Bytes frame = head;
  frame.resize(head.size() + kSize);
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = head.size(); i < frame.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    for (std::size_t j = 0; j < 8 && i + j < frame.size(); ++j) {
      frame[i + j] = static_cast<std::uint8_t>(x >> (8 * j));
    }
  }
  const std::span<const std::uint8_t> value(frame.data() + head.size(), kSize);
  const Key expected = Xxh128OfBytes(frame);
  EXPECT_EQ(KeyOf(value), expected);

  // The same bytes delivered in chunks.
  memokey::KeyEncoder k;
  k.encoder().begin_bytes(kSize);
  for (std::size_t pos = 0; pos < kSize; pos += 3 << 20) {
    k.encoder().bytes_chunk(value.subspan(pos, std::min<std::size_t>(3 << 20, kSize - pos)));
  }
  EXPECT_EQ(k.finish(), expected);

  // Inside an array, next to small items.
  memokey::KeyEncoder a;
  a.encoder().array(3);
  a.encoder().uint(1);
  a.encoder().bytes(value.first(kSize / 2));
  a.encoder().bytes(value.subspan(kSize / 2));
  Bytes small_frame = memokey_test::Frame(std::nullopt, FromHex("8301"
                                                                "5a02000000"));
  XXH3_state_t* state = XXH3_createState();
  ASSERT_NE(state, nullptr);
  XXH3_128bits_reset(state);
  XXH3_128bits_update(state, small_frame.data(), small_frame.size());
  XXH3_128bits_update(state, value.data(), kSize / 2);
  const Bytes second_head = FromHex("5a02000000");
  XXH3_128bits_update(state, second_head.data(), second_head.size());
  XXH3_128bits_update(state, value.data() + kSize / 2, kSize / 2);
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
  XXH3_freeState(state);
  Key streamed;
  for (std::size_t i = 0; i < 16; ++i) streamed.bytes[i] = canonical.digest[i];
  EXPECT_EQ(a.finish(), streamed);
}

}  // namespace
