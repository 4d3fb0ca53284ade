// memory:// — semantics, byte bound, S3-FIFO behaviour, TTL, threads.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_backends.h"
#include "store_test_util.h"

namespace {

using memokey::MemoryStoreOptions;
using memokey::OpenMemoryStore;
using memokey::Status;
using memokey::Store;
using memokey_store_test::MakeValue;
using memokey_store_test::ValueIsIntact;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(std::uint64_t max_bytes, unsigned shards) {
  std::unique_ptr<Store> store;
  MemoryStoreOptions options;
  options.max_bytes = max_bytes;
  options.shards = shards;
  EXPECT_TRUE(OpenMemoryStore(options, &store).ok());
  return store;
}

TEST(MemoryStore, PutGetOverwriteDelete) {
  auto store = Open(1 << 20, 4);
  std::string value;
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  ASSERT_TRUE(store->Put("a", "one").ok());
  ASSERT_TRUE(store->Get("a", &value).ok());
  EXPECT_EQ(value, "one");
  ASSERT_TRUE(store->Put("a", "two").ok());
  ASSERT_TRUE(store->Get("a", &value).ok());
  EXPECT_EQ(value, "two");
  bool present = false;
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_TRUE(present);
  ASSERT_TRUE(store->Delete("a").ok());
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_FALSE(present);
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  EXPECT_TRUE(store->Delete("never-there").ok());

  const memokey::StoreStats stats = store->Stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.puts, 2u);
  EXPECT_EQ(stats.deletes, 2u);
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

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

TEST(MemoryStore, KeyAndTtlLimits) {
  auto store = Open(1 << 20, 1);
  std::string value;
  EXPECT_EQ(store->Put("", "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->Get("", &value).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->Put(std::string(memokey::kMaxStoreKeyBytes + 1, 'k'), "x").code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->Put(std::string(memokey::kMaxStoreKeyBytes, 'k'), "x").ok());
  EXPECT_EQ(store->Put("k", "x", -1ms).code(), Status::Code::kInvalidArgument);
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

TEST(MemoryStore, TtlExpires) {
  auto store = Open(1 << 20, 2);
  ASSERT_TRUE(store->Put("short", "v", 50ms).ok());
  ASSERT_TRUE(store->Put("long", "v", 1h).ok());
  ASSERT_TRUE(store->Put("none", "v").ok());
  std::string value;
  std::chrono::milliseconds left{};
  ASSERT_TRUE(store->GetWithTtl("short", &value, &left).ok());
  EXPECT_GT(left.count(), 0);
  EXPECT_LE(left.count(), 50);
  ASSERT_TRUE(store->GetWithTtl("none", &value, &left).ok());
  EXPECT_EQ(left.count(), 0);
  std::this_thread::sleep_for(120ms);
  EXPECT_TRUE(store->Get("short", &value).IsNotFound());
  bool present = true;
  ASSERT_TRUE(store->Contains("short", &present).ok());
  EXPECT_FALSE(present);
  EXPECT_TRUE(store->Get("long", &value).ok());
  EXPECT_TRUE(store->Get("none", &value).ok());
  EXPECT_EQ(store->Stats().expired, 1u);
  // Overwriting drops the old TTL.
  ASSERT_TRUE(store->Put("long", "w").ok());
  ASSERT_TRUE(store->GetWithTtl("long", &value, &left).ok());
  EXPECT_EQ(left.count(), 0);
}

TEST(MemoryStore, ExpiredEntriesAreEvictedFirst) {
  // Room for about 20 entries of 1 KiB.
  auto store = Open(20 * (1024 + 200), 1);
  const std::string kb(1024, 'x');
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Put("old" + std::to_string(i), kb).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->Put("ttl" + std::to_string(i), kb, 30ms).ok());
  std::this_thread::sleep_for(80ms);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(store->Put("new" + std::to_string(i), kb).ok());
  std::string value;
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(store->Get("old" + std::to_string(i), &value).ok()) << "old" << i;
  }
  EXPECT_EQ(store->Stats().expired, 10u);
  EXPECT_EQ(store->Stats().evictions, 0u);
}

TEST(MemoryStore, ThreadsNeverSeeTornValues) {
  auto store = Open(512 * 1024, 8);  // small: eviction runs all the time
  constexpr int kThreads = 8;
#ifdef NDEBUG
  constexpr int ops = 20000;
#else
  constexpr int ops = 5000;  // sanitizer builds
#endif
  std::atomic<int> bad{0}, hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      std::string value;
      for (int i = 0; i < ops; ++i) {
        const std::string key = "k" + std::to_string(rng() % 64);
        switch (rng() % 4) {
          case 0:
          case 1:
            if (store->Get(key, &value).ok()) {
              ++hits;
              if (!ValueIsIntact(value)) ++bad;
            }
            break;
          case 2:
            static_cast<void>(store->Put(key, MakeValue(rng(), 16 + rng() % 8000)));
            break;
          default:
            if (rng() % 8 == 0) static_cast<void>(store->Delete(key));
            break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_LE(store->Stats().bytes, 512u * 1024);
}

}  // namespace
