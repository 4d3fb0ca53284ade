// Unit tests of server/buildcache.h: the parts of the build tools' APIs that
// are pure functions (the real clients drive the rest: test_bazel.py,
// test_turbo.py, test_nx.py).

#include "buildcache.h"

#include <gtest/gtest.h>

#include <string>

namespace memokeyd {
namespace {

// SHA-256("abc"), FIPS 180-2 appendix B.1.
constexpr std::string_view kAbc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(BuildCache, CasKeys) {
  std::string_view digest;
  const std::string key = "bazel/cas/" + std::string(kAbc);  // digest views into it
  EXPECT_TRUE(IsCasKey(key, &digest));
  EXPECT_EQ(digest, kAbc);
  EXPECT_FALSE(IsCasKey("bazel/ac/" + std::string(kAbc), &digest));
  EXPECT_FALSE(IsCasKey("cas/" + std::string(kAbc), &digest));  // no namespace before it
  EXPECT_FALSE(IsCasKey("bazel/cas/" + std::string(kAbc.substr(1)), &digest));
  EXPECT_FALSE(IsCasKey("bazel/cas/" + std::string(kAbc) + "0", &digest));
  EXPECT_FALSE(IsCasKey("bazel/x/cas/" + std::string(kAbc), &digest));
  std::string upper(kAbc);
  upper[0] = 'B';
  EXPECT_FALSE(IsCasKey("bazel/cas/" + upper, &digest));
}

TEST(BuildCache, CasDigest) {
  EXPECT_TRUE(CasDigestMatches(kAbc, "abc"));
  EXPECT_FALSE(CasDigestMatches(kAbc, "abd"));
  EXPECT_FALSE(CasDigestMatches(kAbc.substr(0, 62), "abc"));
  EXPECT_TRUE(
      CasDigestMatches("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ""));
}

TEST(BuildCache, NxKeys) {
  EXPECT_TRUE(IsNxKey("cache/1234567890"));
  EXPECT_TRUE(IsNxKey("nx-web/v1/cache/1234567890"));
  EXPECT_FALSE(IsNxKey("cache/a/b"));
  EXPECT_FALSE(IsNxKey("cache/"));
  EXPECT_FALSE(IsNxKey("nx-web/cache/123"));
  EXPECT_FALSE(IsNxKey("nx-web/v1/cache/a/b"));
  EXPECT_FALSE(IsNxKey("gradle/0123abcd"));
}

TEST(BuildCache, TurboTargets) {
  TurboTarget t = ParseTurboTarget("/v8/artifacts/0123abcd?teamId=team_1&slug=web");
  EXPECT_EQ(t.kind, TurboTarget::Kind::kArtifact);
  EXPECT_EQ(t.ns, "team_1");  // teamId wins
  EXPECT_EQ(t.hash, "0123abcd");
  t = ParseTurboTarget("/v8/artifacts/0123abcd?slug=web");
  EXPECT_EQ(t.ns, "web");
  EXPECT_EQ(ParseTurboTarget("/v8/artifacts/status").kind, TurboTarget::Kind::kStatus);
  EXPECT_EQ(ParseTurboTarget("/v8/artifacts/events?slug=web").kind, TurboTarget::Kind::kEvents);

  t = ParseTurboTarget("/v8/artifacts/0123abcd");
  EXPECT_EQ(t.kind, TurboTarget::Kind::kInvalid);
  EXPECT_EQ(t.error_status, 400);  // no team
  t = ParseTurboTarget("/v8/artifacts/0123abcd?slug=a/b");
  EXPECT_EQ(t.kind, TurboTarget::Kind::kInvalid);
  EXPECT_EQ(t.error_status, 400);  // not a namespace name
  t = ParseTurboTarget("/v8/artifacts/../x?slug=web");
  EXPECT_EQ(t.kind, TurboTarget::Kind::kInvalid);
  EXPECT_EQ(ParseTurboTarget("/v8/artifacts/a/b?slug=web").kind, TurboTarget::Kind::kInvalid);
  EXPECT_EQ(ParseTurboTarget("/v8/artifacts?slug=web").kind, TurboTarget::Kind::kInvalid);
  EXPECT_EQ(TurboStoreKey("web", "0123abcd"), "web/turbo/0123abcd");
}

TEST(BuildCache, TurboArtifactRoundTrip) {
  std::string stored;
  std::string_view error;
  ASSERT_TRUE(
      EncodeTurboArtifact({"1234", "c2ln"}, std::string("body\0bytes", 10), &stored, &error));
  TurboMeta meta;
  std::size_t offset = 0;
  ASSERT_TRUE(DecodeTurboArtifact(stored, &meta, &offset));
  EXPECT_EQ(meta.duration, "1234");
  EXPECT_EQ(meta.tag, "c2ln");
  EXPECT_EQ(stored.substr(offset), std::string("body\0bytes", 10));

  ASSERT_TRUE(EncodeTurboArtifact({"", ""}, "", &stored, &error));
  ASSERT_TRUE(DecodeTurboArtifact(stored, &meta, &offset));
  EXPECT_EQ(offset, stored.size());
}

TEST(BuildCache, TurboArtifactRefusesBadMetadata) {
  std::string stored;
  std::string_view error;
  EXPECT_FALSE(EncodeTurboArtifact({"12s", ""}, "x", &stored, &error));
  EXPECT_FALSE(EncodeTurboArtifact({"123456789012345678901", ""}, "x", &stored, &error));
  EXPECT_FALSE(EncodeTurboArtifact({"1", "a\tb"}, "x", &stored, &error));
  EXPECT_FALSE(EncodeTurboArtifact({"1", std::string(9000, 'a')}, "x", &stored, &error));
}

TEST(BuildCache, TurboArtifactDecodeNeverReadsPastTheEnd) {
  std::string stored;
  std::string_view error;
  ASSERT_TRUE(EncodeTurboArtifact({"99", "tag"}, "payload", &stored, &error));
  TurboMeta meta;
  std::size_t offset = 0;
  // Every truncation that cuts into the metadata is refused, not misread.
  const std::size_t header = stored.size() - 7;
  for (std::size_t n = 0; n < header; ++n) {
    EXPECT_FALSE(DecodeTurboArtifact(std::string_view(stored).substr(0, n), &meta, &offset)) << n;
  }
  EXPECT_FALSE(DecodeTurboArtifact("plain value PUT through /web/turbo/x", &meta, &offset));
}

}  // namespace
}  // namespace memokeyd
