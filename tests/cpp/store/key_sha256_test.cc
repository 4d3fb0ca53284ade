// SHA-256 keys (memokey/key_sha256.h) against the golden vectors that
// tests/vectors/make_canonical_v1.py computed with Python's hashlib.

#include "memokey/key_sha256.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <boost/json/src.hpp>  // header-only Boost.JSON
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "memokey/key.h"
#include "memokey/value.h"

namespace {

std::vector<std::uint8_t> FromHex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

boost::json::array Vectors() {
  std::ifstream in(MEMOKEY_VECTORS_DIR "/canonical-v1.json");
  std::stringstream text;
  text << in.rdbuf();
  return boost::json::parse(text.str()).as_object().at("sha256_vectors").as_array();
}

TEST(Sha256Key, GoldenVectors) {
  const boost::json::array vectors = Vectors();
  ASSERT_GE(vectors.size(), 4u);
  for (const auto& item : vectors) {
    const auto& o = item.as_object();
    SCOPED_TRACE(std::string(o.at("name").as_string()));
    std::optional<std::string> ns;
    if (o.at("namespace").is_string()) ns = std::string(o.at("namespace").as_string());
    const std::vector<std::uint8_t> canonical = FromHex(o.at("hex").as_string());
    std::optional<std::string_view> ns_view;
    if (ns) ns_view = *ns;
    const memokey::Sha256Key key = memokey::Sha256KeyOfCanonical(canonical, ns_view);
    EXPECT_EQ(key.hex(), std::string(o.at("sha256").as_string()));
    EXPECT_EQ(memokey::Sha256Key::FromHex(key.hex()), key);
  }
}

TEST(Sha256Key, EncodesLikeCanonical) {
  // {"b": 1, "a": [1, 2.5]}, as in the README and the golden vector.
  const memokey::Value config = memokey::Value::Map(
      {{memokey::Value::Text("b"), memokey::Value::Integer(1)},
       {memokey::Value::Text("a"),
        memokey::Value::Array({memokey::Value::Integer(1), memokey::Value::Float(2.5)})}});
  EXPECT_EQ(memokey::Sha256KeyOf(config, "demo").hex(),
            "c1dcd1ad766ce8b480f9c183eb483ee1b0a688f7d80646582053979aef0d163c");
  // Large values stream through the sink; same key as one-shot hashing.
  const std::vector<std::uint8_t> big(300'000, 7);
  EXPECT_EQ(memokey::Sha256KeyOf(big, "ns"),
            memokey::Sha256KeyOfCanonical(memokey::Canonical(big), "ns"));
}

TEST(Sha256Key, DomainsAreSeparate) {
  const auto one = memokey::Canonical(1);
  EXPECT_NE(memokey::Sha256KeyOfCanonical(one), memokey::Sha256KeyOfCanonical(one, ""));
  EXPECT_NE(memokey::Sha256KeyOfCanonical(one, "a"), memokey::Sha256KeyOfCanonical(one, "b"));
  EXPECT_FALSE(memokey::Sha256Key::FromHex("00"));
  EXPECT_FALSE(memokey::Sha256Key::FromHex(std::string(64, 'g')));
}

}  // namespace
