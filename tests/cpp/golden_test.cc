// The golden vectors of tests/vectors/canonical-v1.json, which the Python
// tests check too: C++ must agree with them byte for byte and key for key.

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "memokey/cbor_reader.h"
#include "memokey/encode_cpp.h"
#include "memokey/key.h"
#include "memokey/value.h"
#include "test_support.h"

namespace {

using memokey_test::Bytes;
using memokey_test::FromHex;
using memokey_test::ToHex;

struct Golden {
  std::size_t index;
  std::string name;
  std::string hex;
  std::optional<std::string> key_namespace;
  std::string key;
};

void PrintTo(const Golden& g, std::ostream* os) { *os << g.name; }

const std::vector<Golden>& GoldenVectors() {
  static const std::vector<Golden> vectors = [] {
    std::vector<Golden> out;
    try {
      const boost::json::value doc =
          memokey_test::LoadJson(memokey_test::VectorsDir() + "/canonical-v1.json");
      for (const auto& item : doc.at("vectors").as_array()) {
        const auto& o = item.as_object();
        Golden g;
        g.index = out.size();
        g.name = std::string(o.at("name").as_string());
        g.hex = std::string(o.at("hex").as_string());
        if (const auto* ns = o.if_contains("namespace"); ns != nullptr && ns->is_string()) {
          g.key_namespace = std::string(ns->as_string());
        }
        g.key = std::string(o.at("key").as_string());
        out.push_back(std::move(g));
      }
    } catch (const std::exception&) {
      out.clear();  // GoldenFile.Loads reports it
    }
    return out;
  }();
  return vectors;
}

TEST(GoldenFile, Loads) {
  const std::string path = memokey_test::VectorsDir() + "/canonical-v1.json";
  ASSERT_NO_THROW(memokey_test::LoadJson(path)) << path;
  const boost::json::value doc = memokey_test::LoadJson(path);
  EXPECT_EQ(doc.at("format").as_string(), "memokey canonical form v1");
  EXPECT_FALSE(GoldenVectors().empty());
}

class GoldenVector : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenVector, CanonicalBytesAndKey) {
  const Golden& g = GetParam();
  const Bytes bytes = FromHex(g.hex);
  // The bytes are canonical: strict decoding accepts them and re-encodes
  // them unchanged.
  memokey::Value v;
  const memokey::Status s = memokey::Decode(bytes, &v);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ToHex(memokey::ToCanonical(v)), g.hex);
  Bytes out;
  ASSERT_TRUE(memokey::Canonicalize(bytes, &out).ok());
  EXPECT_EQ(out, bytes);
  // The key over the frame.
  std::optional<std::string_view> ns;
  if (g.key_namespace) ns = *g.key_namespace;
  EXPECT_EQ(memokey::KeyOfCanonical(bytes, ns).hex(), g.key);
  EXPECT_EQ(memokey::KeyOf(v, ns).hex(), g.key);
  EXPECT_EQ(memokey_test::HashFrameOneShot(memokey_test::Frame(ns, bytes)).hex(), g.key);
}

std::string GoldenName(const ::testing::TestParamInfo<Golden>& info) {
  std::string name = std::to_string(info.param.index) + "_";
  for (const char c : info.param.name) {
    name += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(CanonicalV1, GoldenVector, ::testing::ValuesIn(GoldenVectors()),
                         GoldenName);

// The Python-only vectors (tests/vectors/canonical-v1-python.json: numpy
// arrays, data frames, Python types C++ has no native form for) are
// well-formed canonical CBOR to C++ as well: its strict decoder accepts
// their tags, re-encodes them unchanged, and keys them the same.
TEST(GoldenFile, PythonVectorsDecodeAndKey) {
  const boost::json::value doc =
      memokey_test::LoadJson(memokey_test::VectorsDir() + "/canonical-v1-python.json");
  std::size_t checked = 0;
  for (const auto& item : doc.at("vectors").as_array()) {
    const auto& o = item.as_object();
    const std::string name(o.at("name").as_string());
    const Bytes bytes = FromHex(std::string(o.at("hex").as_string()));
    memokey::Value v;
    const memokey::Status s = memokey::Decode(bytes, &v);
    ASSERT_TRUE(s.ok()) << name << ": " << s.ToString();
    EXPECT_EQ(memokey::ToCanonical(v), bytes) << name;
    std::optional<std::string_view> ns;
    std::string ns_text;
    if (const auto* n = o.if_contains("namespace"); n != nullptr && n->is_string()) {
      ns_text = std::string(n->as_string());
      ns = ns_text;
    }
    EXPECT_EQ(memokey::KeyOf(v, ns).hex(), std::string(o.at("key").as_string())) << name;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

}  // namespace
