// OpenStore URL parsing: accepted forms, canonical Describe(), and errors that
// name the offending part; the StoreSpec they are parsed into, formatted back.

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "memokey/tiered_store.h"
#include "store_test_util.h"

namespace {

using memokey::FormatStoreSpec;
using memokey::OpenStore;
using memokey::ParseStoreSpec;
using memokey::Status;
using memokey::Store;
using memokey::StoreSpec;
using memokey_store_test::TempDir;

std::string Describe(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  return store ? store->Describe() : "";
}

// The error message for a URL that must be refused.
std::string Refusal(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_FALSE(s.ok()) << url << " was accepted";
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << url << ": " << s.ToString();
  EXPECT_EQ(store, nullptr);
  return s.message();
}

TEST(StoreUrl, MemorySizesAndShards) {
  EXPECT_EQ(Describe("memory://"), "memory://?max_bytes=67108864&shards=16");
  EXPECT_EQ(Describe("memory://?max_bytes=1K"), "memory://?max_bytes=1024&shards=1");
  EXPECT_EQ(Describe("memory://?max_bytes=1KiB&shards=4"), "memory://?max_bytes=1024&shards=4");
  EXPECT_EQ(Describe("memory://?max_bytes=2kb"), "memory://?max_bytes=2000&shards=1");
  EXPECT_EQ(Describe("memory://?max_bytes=8M"), "memory://?max_bytes=8388608&shards=2");
  EXPECT_EQ(Describe("memory://?max_bytes=500MB"), "memory://?max_bytes=500000000&shards=16");
  EXPECT_EQ(Describe("memory://?max_bytes=1GiB"), "memory://?max_bytes=1073741824&shards=16");
  EXPECT_EQ(Describe("memory://?max_bytes=1g&shards=3"), "memory://?max_bytes=1073741824&shards=3");
  EXPECT_EQ(Describe("memory:///?max_bytes=123"), "memory://?max_bytes=123&shards=1");
}

TEST(StoreUrl, MemoryErrorsNameTheBadPart) {
  EXPECT_NE(Refusal("memory://?max_bytes=12Q").find("max_bytes=12Q"), std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes=0").find("max_bytes=0"), std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes=99999999999999999999").find("max_bytes"),
            std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes=20000000T").find("max_bytes"), std::string::npos);
  EXPECT_NE(Refusal("memory://?shards=0").find("shards=0"), std::string::npos);
  EXPECT_NE(Refusal("memory://?colour=blue").find("'colour'"), std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes=1M&max_bytes=2M").find("twice"), std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes").find("'max_bytes'"), std::string::npos);
  EXPECT_NE(Refusal("memory://?max_bytes=%zz").find("percent"), std::string::npos);
  EXPECT_NE(Refusal("memory://somehost").find("'somehost'"), std::string::npos);
}

TEST(StoreUrl, UnknownSchemes) {
  EXPECT_NE(Refusal("ftp://x").find("'ftp'"), std::string::npos);
  EXPECT_NE(Refusal("").find("scheme"), std::string::npos);
  EXPECT_NE(Refusal("/var/cache").find("scheme"), std::string::npos);
  EXPECT_NE(Refusal("rediss://h:1").find("TLS"), std::string::npos);
  EXPECT_NE(Refusal("MEMORY://").find("scheme"), std::string::npos);
}

TEST(StoreUrl, DiskNeedsAnAbsolutePath) {
  EXPECT_NE(Refusal("disk://relative/dir").find("absolute"), std::string::npos);
  EXPECT_NE(Refusal("disk://").find("absolute"), std::string::npos);
  EXPECT_NE(Refusal("disk:///tmp/x?sync=sometimes").find("sync=sometimes"), std::string::npos);
  EXPECT_NE(Refusal("disk:///tmp/x?max_bytes=lots").find("max_bytes=lots"), std::string::npos);
  EXPECT_NE(Refusal("disk:///tmp/x?shards=2").find("'shards'"), std::string::npos);
}

TEST(StoreUrl, DiskOpensAndDescribes) {
  TempDir dir;
  EXPECT_EQ(Describe("disk://" + dir.path() + "/a%20b/?max_bytes=16M"),
            "disk://" + dir.path() + "/a%20b?max_bytes=16777216");
  EXPECT_TRUE(std::filesystem::is_directory(dir / "a b"));
  EXPECT_EQ(Describe("disk://" + dir.path() + "/c?sync=full"),
            "disk://" + dir.path() + "/c?max_bytes=1073741824&sync=full");
  EXPECT_EQ(Describe("disk://" + dir.path() + "/d?map_size=8M&max_bytes=4M&sync=none"),
            "disk://" + dir.path() + "/d?max_bytes=4194304");
  EXPECT_EQ(Describe("disk://" + dir.path() + "/e?sync=meta"),
            "disk://" + dir.path() + "/e?max_bytes=1073741824&sync=meta");
}

TEST(StoreUrl, RedisForms) {
  // Opening never connects: none of these hosts needs to exist.
  EXPECT_EQ(Describe("redis://cache.example:6380/2"),
            "redis://cache.example:6380/2?prefix=memokey:");
  EXPECT_EQ(Describe("redis://h"), "redis://h:6379/0?prefix=memokey:");
  EXPECT_EQ(Describe("redis://:s3cret@h:1/3?prefix=app:v1:&strict=1"),
            "redis://:***@h:1/3?prefix=app:v1:&strict=1");
  EXPECT_EQ(Describe("redis://alice:p%40ss@[::1]:7000?db=4&pool=2&timeout_ms=50"),
            "redis://alice:***@[::1]:7000/4?prefix=memokey:");
  EXPECT_EQ(Describe("redis+unix:///run/redis/redis.sock?db=5"),
            "redis+unix:///run/redis/redis.sock?db=5&prefix=memokey:");
  EXPECT_EQ(Describe("redis+unix://u:pw@/run/r.sock"),
            "redis+unix://u:***@/run/r.sock?db=0&prefix=memokey:");
  EXPECT_EQ(Describe("redis://h?prefix=a%26b%7Cc"), "redis://h:6379/0?prefix=a%26b%7Cc");
}

TEST(StoreUrl, RedisErrorsNameTheBadPart) {
  EXPECT_NE(Refusal("redis://h:99999").find("'99999'"), std::string::npos);
  EXPECT_NE(Refusal("redis://h:").find("port"), std::string::npos);
  EXPECT_NE(Refusal("redis://h:abc").find("'abc'"), std::string::npos);
  EXPECT_NE(Refusal("redis://h/zero").find("'/zero'"), std::string::npos);
  EXPECT_NE(Refusal("redis://").find("no host"), std::string::npos);
  EXPECT_NE(Refusal("redis://alice@h").find("'alice'"), std::string::npos);
  EXPECT_NE(Refusal("redis://h?prefix=a{b").find("'a{b'"), std::string::npos);
  EXPECT_NE(Refusal("redis://h?pool=0").find("pool=0"), std::string::npos);
  EXPECT_NE(Refusal("redis://h?timeout_ms=-1").find("timeout_ms=-1"), std::string::npos);
  EXPECT_NE(Refusal("redis://h?strict=maybe").find("strict=maybe"), std::string::npos);
  EXPECT_NE(Refusal("redis://h/1?db=2").find("'db'"), std::string::npos);
  EXPECT_NE(Refusal("redis://[::1:6379").find("IPv6"), std::string::npos);
  EXPECT_NE(Refusal("redis+unix://relative.sock").find("absolute"), std::string::npos);
  EXPECT_NE(Refusal("redis+unix://").find("socket path"), std::string::npos);
}

TEST(StoreUrl, Tiered) {
  TempDir dir;
  std::unique_ptr<Store> store;
  const std::string url = "tiered:memory://?max_bytes=1M|disk://" + dir.path() + "|redis://h:1";
  ASSERT_TRUE(OpenStore(url, &store).ok());
  auto* tiered = dynamic_cast<memokey::TieredStore*>(store.get());
  ASSERT_NE(tiered, nullptr);
  EXPECT_EQ(tiered->tier_count(), 3u);
  EXPECT_EQ(store->Describe(), "tiered:memory://?max_bytes=1048576&shards=1|disk://" + dir.path() +
                                   "?max_bytes=1073741824|redis://h:1/0?prefix=memokey:");

  EXPECT_NE(Refusal("tiered:").find("no tiers"), std::string::npos);
  EXPECT_NE(Refusal("tiered:memory://||memory://").find("tier 1"), std::string::npos);
  EXPECT_NE(Refusal("tiered:memory://|bogus://x").find("tier 1"), std::string::npos);
  EXPECT_NE(Refusal("tiered:memory://|tiered:memory://").find("tiered"), std::string::npos);
  EXPECT_NE(Refusal("tiered:memory://?max_bytes=1X").find("tier 0"), std::string::npos);
}

TEST(StoreUrl, DiskOpenErrorIsIOError) {
  TempDir dir;
  { std::ofstream(dir / "file") << "not a directory"; }
  std::unique_ptr<Store> store;
  Status s = OpenStore("disk://" + dir.path() + "/file/sub", &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError) << s.ToString();
  EXPECT_NE(s.message().find("/file"), std::string::npos) << s.message();
}

TEST(StoreSpec, RedisFieldsAndFormat) {
  const std::string url = "redis://alice:p%40ss@[::1]:7000/2?prefix=app:&strict=1";
  StoreSpec spec;
  ASSERT_TRUE(ParseStoreSpec(url, &spec).ok());
  EXPECT_EQ(spec.scheme, StoreSpec::Scheme::kRedis);
  EXPECT_EQ(spec.user, "alice");
  EXPECT_EQ(spec.password, "p@ss");
  ASSERT_EQ(spec.hosts.size(), 1u);
  EXPECT_EQ(spec.hosts[0].name, "::1");
  EXPECT_EQ(spec.hosts[0].port, 7000);
  EXPECT_EQ(spec.db, 2);
  EXPECT_EQ(spec.param("prefix"), "app:");
  EXPECT_FALSE(spec.param("pool"));
  EXPECT_TRUE(spec.strict());
  EXPECT_EQ(FormatStoreSpec(spec), url);
  EXPECT_EQ(FormatStoreSpec(spec, /*hide_secrets=*/true),
            "redis://alice:***@[::1]:7000/2?prefix=app:&strict=1");
}

TEST(StoreSpec, TieredFieldsAndFormat) {
  const std::string url =
      "tiered:memory://?max_bytes=64M|disk:///tmp/a%20b?sync=meta|http://tok@h:8080/ns?strict=yes";
  StoreSpec spec;
  ASSERT_TRUE(ParseStoreSpec(url, &spec).ok());
  EXPECT_EQ(spec.scheme, StoreSpec::Scheme::kTiered);
  ASSERT_EQ(spec.tiers.size(), 3u);
  EXPECT_EQ(spec.tiers[0].param("max_bytes"), "64M");
  EXPECT_EQ(spec.tiers[1].path, "/tmp/a b");
  EXPECT_EQ(spec.tiers[2].password, "tok");
  EXPECT_EQ(spec.tiers[2].path, "ns");
  EXPECT_FALSE(spec.tiers[0].strict());
  EXPECT_TRUE(spec.tiers[2].strict());
  EXPECT_TRUE(spec.strict());
  EXPECT_EQ(FormatStoreSpec(spec), url);
  EXPECT_EQ(
      FormatStoreSpec(spec, true),
      "tiered:memory://?max_bytes=64M|disk:///tmp/a%20b?sync=meta|http://***@h:8080/ns?strict=yes");
}

TEST(StoreSpec, ErrorsNameTheTierAndThePart) {
  StoreSpec spec;
  Status s = ParseStoreSpec("tiered:memory://|redis://h?pool=0", &spec);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("tier 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("pool=0"), std::string::npos) << s.message();
  s = ParseStoreSpec("memory://?strict=2", &spec);
  EXPECT_NE(s.message().find("strict=2"), std::string::npos) << s.message();
}

TEST(StoreSpec, OpenChecksAnEditedSpecAndStrictReachesTheStore) {
  StoreSpec spec;
  ASSERT_TRUE(ParseStoreSpec("memory://?max_bytes=1M", &spec).ok());
  spec.set_param("shards", "0");
  std::unique_ptr<Store> store;
  Status s = OpenStore(spec, &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("shards=0"), std::string::npos) << s.message();
  spec.set_param("shards", "2");
  spec.set_param("strict", "1");
  EXPECT_EQ(FormatStoreSpec(spec), "memory://?max_bytes=1M&shards=2&strict=1");
  ASSERT_TRUE(OpenStore(spec, &store).ok());
  EXPECT_TRUE(store->strict());
  EXPECT_EQ(store->Describe(), "memory://?max_bytes=1048576&shards=2&strict=1");

  ASSERT_TRUE(OpenStore("tiered:memory://|memory://?strict=1", &store).ok());
  EXPECT_TRUE(store->strict());
  ASSERT_TRUE(OpenStore("tiered:memory://|redis://h:1?strict=0", &store).ok());
  EXPECT_FALSE(store->strict());
}

}  // namespace
