// memory:// — the Store contract (store_contract.h) and what is memory's own:
// binary keys, GetMany, the byte bound, S3-FIFO behaviour.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_backends.h"
#include "store_contract.h"
#include "store_test_util.h"

namespace {

using memokey::MemoryStoreOptions;
using memokey::OpenMemoryStore;
using memokey::Status;
using memokey::Store;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(std::uint64_t max_bytes, unsigned shards) {
  std::unique_ptr<Store> store;
  MemoryStoreOptions options;
  options.max_bytes = max_bytes;
  options.shards = shards;
  EXPECT_TRUE(OpenMemoryStore(options, &store).ok());
  return store;
}

class MemoryHome : public memokey_store_test::StoreHome {
 public:
  std::unique_ptr<Store> Open(std::uint64_t max_bytes, unsigned shards) override {
    return ::Open(max_bytes != 0 ? max_bytes : 64 << 20, shards != 0 ? shards : 4);
  }
};

memokey_store_test::StoreBackend MemoryBackend() {
#ifdef NDEBUG
  constexpr int kThreadOps = 20000;
#else
  constexpr int kThreadOps = 5000;  // sanitizer builds
#endif
  memokey_store_test::StoreBackend memory;
  memory.name = "memory";
  memory.start = [] { return std::make_unique<MemoryHome>(); };
  memory.counts_entries = true;
  // 512 KiB: eviction runs all the time.
  memory.threads = {
      .ops = kThreadOps, .keys = 64, .value_spread = 8000, .max_bytes = 512 * 1024, .shards = 8};
  // Room for about 20 entries of 1 KiB.
  memory.expiry = {.entries = 10, .max_bytes = 20 * (1024 + 200), .shards = 1};
  return memory;
}

using memokey_store_test::LocalStoreContract;
using memokey_store_test::StoreContract;
INSTANTIATE_TEST_SUITE_P(Memory, StoreContract, ::testing::Values(MemoryBackend()),
                         memokey_store_test::BackendName);
INSTANTIATE_TEST_SUITE_P(Memory, LocalStoreContract, ::testing::Values(MemoryBackend()),
                         memokey_store_test::BackendName);

TEST(MemoryStore, BinaryKeysAndValues) {
  auto store = Open(1 << 20, 2);
  const std::string key("k\0ey\xff", 5);
  const std::string other("k\0ez\xff", 5);
  const std::string value("\0\1\2\0", 4);
  ASSERT_TRUE(store->Put(key, value).ok());
  ASSERT_TRUE(store->Put(other, "").ok());
  std::string got;
  ASSERT_TRUE(store->Get(key, &got).ok());
  EXPECT_EQ(got, value);
  ASSERT_TRUE(store->Get(other, &got).ok());
  EXPECT_EQ(got, "");
  EXPECT_EQ(store->Stats().entries, 2u);
}

TEST(MemoryStore, GetMany) {
  auto store = Open(1 << 20, 4);
  ASSERT_TRUE(store->Put("a", "1").ok());
  ASSERT_TRUE(store->Put("c", "3").ok());
  const std::vector<std::string_view> keys = {"a", "b", "c", "a"};
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(keys, &values).ok());
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(values[0], "1");
  EXPECT_EQ(values[1], std::nullopt);
  EXPECT_EQ(values[2], "3");
  EXPECT_EQ(values[3], "1");
  const std::vector<std::string_view> bad = {"a", ""};
  EXPECT_FALSE(store->GetMany(bad, &values).ok());
}

TEST(MemoryStore, BytesStayBounded) {
  constexpr std::uint64_t kMax = 64 * 1024;
  auto store = Open(kMax, 1);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(store->Put("key" + std::to_string(i), std::string(1000, 'v')).ok());
    ASSERT_LE(store->Stats().bytes, kMax);
  }
  const memokey::StoreStats stats = store->Stats();
  EXPECT_GT(stats.evictions, 900u);
  EXPECT_GT(stats.entries, 30u);  // a full store, not an emptied one
  EXPECT_EQ(stats.entries + stats.evictions, 1000u);
  std::string value;
  EXPECT_TRUE(store->Get("key999", &value).ok());  // the newest survives
}

TEST(MemoryStore, ValueLargerThanAShardIsNotAdmitted) {
  auto store = Open(64 * 1024, 4);  // 16 KiB per shard
  ASSERT_TRUE(store->Put("big", "small first").ok());
  ASSERT_TRUE(store->Put("big", std::string(20 * 1024, 'x')).ok());
  std::string value;
  EXPECT_TRUE(store->Get("big", &value).IsNotFound());  // the old value is gone too
  EXPECT_EQ(store->Stats().evictions, 1u);
  EXPECT_EQ(store->Stats().entries, 0u);
}

// S3-FIFO: entries read while young move to the main queue, so a long scan
// of one-time keys does not flush them (LRU would).
TEST(MemoryStore, HotKeysSurviveAScan) {
  auto store = Open(256 * 1024, 1);
  std::string value;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(store->Put("hot" + std::to_string(i), "v").ok());
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(store->Get("hot" + std::to_string(i), &value).ok());
  }
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(store->Put("scan" + std::to_string(i), std::string(500, 's')).ok());
    if (i % 100 == 0) {  // the hot set stays in use during the scan
      for (int h = 0; h < 20; ++h) static_cast<void>(store->Get("hot" + std::to_string(h), &value));
    }
  }
  int hot_hits = 0;
  for (int i = 0; i < 20; ++i) hot_hits += store->Get("hot" + std::to_string(i), &value).ok();
  EXPECT_EQ(hot_hits, 20);
}

// A key evicted from the small queue and written again soon (the ghost queue
// remembers it) goes straight to main.
TEST(MemoryStore, GhostReadmission) {
  auto store = Open(32 * 1024, 1);
  std::string value;
  ASSERT_TRUE(store->Put("again", std::string(200, 'a')).ok());
  int i = 0;
  for (bool present = true; present; ++i) {  // Contains: does not count as a use
    ASSERT_TRUE(store->Put("f" + std::to_string(i), std::string(200, 'f')).ok());
    ASSERT_TRUE(store->Contains("again", &present).ok());
    ASSERT_LT(i, 1000);
  }
  ASSERT_TRUE(store->Put("again", std::string(200, 'a')).ok());
  for (int j = 0; j < 200; ++j, ++i) {
    ASSERT_TRUE(store->Put("f" + std::to_string(i), std::string(200, 'f')).ok());
  }
  EXPECT_TRUE(store->Get("again", &value).ok());
}

}  // namespace
