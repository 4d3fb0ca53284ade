// tiered: — read-through with backfill, write-through, tier index, stats.

#include "memokey/tiered_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "store_test_util.h"

namespace {

using memokey::OpenStore;
using memokey::Status;
using memokey::Store;
using memokey::TieredStore;
using memokey_store_test::RedisServer;
using memokey_store_test::TempDir;
using namespace std::chrono_literals;

std::unique_ptr<TieredStore> OpenTiered(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  auto* tiered = dynamic_cast<TieredStore*>(store.get());
  EXPECT_NE(tiered, nullptr);
  if (tiered == nullptr) return nullptr;
  static_cast<void>(store.release());
  return std::unique_ptr<TieredStore>(tiered);
}

TEST(TieredStore, WriteThroughAndBackfill) {
  TempDir dir;
  auto store = OpenTiered("tiered:memory://?max_bytes=1M|disk://" + dir.path());
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(store->tier(0).Get("k", &value).ok());
  ASSERT_TRUE(store->tier(1).Get("k", &value).ok());

  int tier = -2;
  ASSERT_TRUE(store->Get("k", &value, &tier).ok());
  EXPECT_EQ(tier, 0);

  ASSERT_TRUE(store->tier(0).Delete("k").ok());
  ASSERT_TRUE(store->Get("k", &value, &tier).ok());
  EXPECT_EQ(tier, 1);
  EXPECT_EQ(value, "v");
  ASSERT_TRUE(store->Get("k", &value, &tier).ok());
  EXPECT_EQ(tier, 0);  // backfilled

  EXPECT_TRUE(store->Get("absent", &value, &tier).IsNotFound());
  EXPECT_EQ(tier, -1);

  ASSERT_TRUE(store->Delete("k").ok());
  EXPECT_TRUE(store->tier(0).Get("k", &value).IsNotFound());
  EXPECT_TRUE(store->tier(1).Get("k", &value).IsNotFound());

  const memokey::StoreStats stats = store->Stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.puts, 1u);
  EXPECT_EQ(stats.deletes, 1u);
  const std::vector<memokey::StoreStats> tiers = store->TierStats();
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[1].hits, 2u);  // one by the test, one read-through
  EXPECT_EQ(tiers[0].puts, 2u);  // write-through + backfill
}

TEST(TieredStore, BackfillKeepsTheRemainingTtl) {
  TempDir dir;
  auto store = OpenTiered("tiered:memory://|disk://" + dir.path());
  ASSERT_TRUE(store->Put("k", "v", 150ms).ok());
  ASSERT_TRUE(store->tier(0).Delete("k").ok());
  std::string value;
  int tier = -1;
  ASSERT_TRUE(store->Get("k", &value, &tier).ok());
  EXPECT_EQ(tier, 1);
  std::chrono::milliseconds left{};
  ASSERT_TRUE(store->tier(0).GetWithTtl("k", &value, &left).ok());
  EXPECT_GT(left.count(), 0);
  EXPECT_LE(left.count(), 150);
  std::this_thread::sleep_for(250ms);
  EXPECT_TRUE(store->Get("k", &value, &tier).IsNotFound());
  EXPECT_TRUE(store->tier(0).Get("k", &value).IsNotFound());
}

TEST(TieredStore, GetManyBackfills) {
  TempDir dir;
  auto store = OpenTiered("tiered:memory://|disk://" + dir.path());
  ASSERT_TRUE(store->tier(1).Put("slow", "s").ok());
  ASSERT_TRUE(store->Put("both", "b").ok());
  const std::vector<std::string_view> keys = {"slow", "none", "both"};
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(keys, &values).ok());
  EXPECT_EQ(values, (std::vector<std::optional<std::string>>{"s", std::nullopt, "b"}));
  std::string value;
  EXPECT_TRUE(store->tier(0).Get("slow", &value).ok());
  EXPECT_EQ(store->Stats().hits, 2u);
  EXPECT_EQ(store->Stats().misses, 1u);
}

// Redis down: writes still land in memory (and report Unavailable), reads are
// answered by memory, and nothing throws.
TEST(TieredStore, MemoryOverRedisSurvivesRedisGoingAway) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto store = OpenTiered("tiered:memory://|" + server.url("backoff_ms=20&max_backoff_ms=100"));
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(store->tier(1).Get("k", &value).ok());
  ASSERT_TRUE(store->tier(0).Delete("k").ok());
  int tier = -1;
  ASSERT_TRUE(store->Get("k", &value, &tier).ok());
  EXPECT_EQ(tier, 1);

  server.Kill();
  EXPECT_EQ(store->Put("k2", "v2").code(), Status::Code::kUnavailable);
  ASSERT_TRUE(store->Get("k2", &value, &tier).ok());
  EXPECT_EQ(tier, 0);
  EXPECT_TRUE(store->Get("gone", &value, &tier).IsNotFound());
  EXPECT_GE(store->Stats().errors, 2u);
  EXPECT_GE(store->TierStats()[1].errors, 2u);
}

}  // namespace
