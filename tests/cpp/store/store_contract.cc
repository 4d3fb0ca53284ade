// The Store contract (store_contract.h), run for every backend that
// instantiates it: memory_store_test.cc, disk_store_test.cc,
// redis_store_test.cc and tests/cluster/redis_cluster_test.cc.

#include "store_contract.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "store_test_util.h"

namespace memokey_store_test {
namespace {

using memokey::Status;
using namespace std::chrono_literals;

// A backend's file instantiates only the suites that apply to it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ForkedStoreContract);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LocalStoreContract);

// Every call once, with binary keys (a key that is a prefix of another is
// another key), a large binary value and an empty one; then the statistics.
TEST_P(StoreContract, PutGetOverwriteDelete) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::string value;
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  ASSERT_TRUE(store->Put("a", "one").ok());
  ASSERT_TRUE(store->Get("a", &value).ok());
  EXPECT_EQ(value, "one");
  ASSERT_TRUE(store->Put("a", "two").ok());
  ASSERT_TRUE(store->Get("a", &value).ok());
  EXPECT_EQ(value, "two");
  const std::string binary_key("k\0}{\xff", 5);
  const std::string binary = MakeValue(3, 1 << 20);
  ASSERT_TRUE(store->Put(binary_key, binary).ok());
  ASSERT_TRUE(store->Get(binary_key, &value).ok());
  EXPECT_TRUE(value == binary);
  const std::string empty_key("b\0", 2);
  ASSERT_TRUE(store->Put(empty_key, "").ok());
  ASSERT_TRUE(store->Get(empty_key, &value).ok());
  EXPECT_EQ(value, "");
  EXPECT_TRUE(store->Get("b", &value).IsNotFound());
  bool present = false;
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_TRUE(present);
  ASSERT_TRUE(store->Delete("a").ok());
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_FALSE(present);
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  EXPECT_TRUE(store->Delete("a").ok());
  EXPECT_TRUE(store->Delete("never-there").ok());

  memokey::StoreStats stats = store->Stats();
  const std::uint64_t contains = GetParam().counts_contains ? 1 : 0;
  EXPECT_EQ(stats.hits, 4u + contains);
  EXPECT_EQ(stats.misses, 3u + contains);
  EXPECT_EQ(stats.puts, 4u);
  EXPECT_EQ(stats.deletes, 3u);
  EXPECT_EQ(stats.errors, 0u);
  if (GetParam().counts_entries) {
    EXPECT_EQ(stats.entries, 2u);
    EXPECT_GT(stats.bytes, 0u);
  }

  const std::vector<std::string_view> keys = {"a", empty_key};
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(keys, &values).ok());
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0], std::nullopt);
  EXPECT_EQ(values[1], "");

  // Emptied, nothing is left charged.
  ASSERT_TRUE(store->Delete(binary_key).ok());
  ASSERT_TRUE(store->Delete(empty_key).ok());
  EXPECT_TRUE(store->Get(binary_key, &value).IsNotFound());
  if (GetParam().counts_entries) {
    stats = store->Stats();
    EXPECT_EQ(stats.entries, 0u);
    EXPECT_EQ(stats.bytes, 0u);
  }
}

TEST_P(StoreContract, KeyAndTtlLimits) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::string value;
  EXPECT_EQ(store->Put("", "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->Get("", &value).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->Put(std::string(memokey::kMaxStoreKeyBytes + 1, 'k'), "x").code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->Put(std::string(memokey::kMaxStoreKeyBytes, 'k'), "x").ok());
  EXPECT_EQ(store->Put("k", "x", -1ms).code(), Status::Code::kInvalidArgument);
}

// Threads share one store object: no read returns a torn or foreign value,
// no call fails, and a bounded store stays within its bytes.
TEST_P(StoreContract, ThreadsNeverSeeTornValues) {
  const StoreBackend::Threads& p = GetParam().threads;
  auto store = Open(p.max_bytes, p.shards);
  ASSERT_NE(store, nullptr);
  std::atomic<int> bad{0}, hits{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      std::string value;
      for (int i = 0; i < p.ops; ++i) {
        const std::string key = "k" + std::to_string(rng() % static_cast<unsigned>(p.keys));
        switch (rng() % 6) {
          case 0:
          case 1:
            if (!store->Put(key, MakeValue(rng(), 16 + rng() % p.value_spread)).ok()) ++errors;
            break;
          case 2:
            if (rng() % 8 == 0 && !store->Delete(key).ok()) ++errors;
            break;
          default:
            if (Status s = store->Get(key, &value); s.ok()) {
              ++hits;
              if (!ValueIsIntact(value)) ++bad;
            } else if (!s.IsNotFound()) {
              ++errors;
            }
            break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_EQ(store->Stats().errors, 0u);
  if (p.max_bytes != 0) {
    EXPECT_LE(store->Stats().bytes, p.max_bytes);
  }
}

// A store opened before fork() is used by the parent and its children at the
// same time (Python's multiprocessing does this): each process must get its
// own connections (SQLite forbids sharing them; replies on a shared socket
// would go to the wrong reader), and every process's writes reach the others.
TEST_P(ForkedStoreContract, StoreInheritedThroughFork) {
  const StoreBackend::Fork& p = GetParam().fork;
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kPreloaded = 50;
  for (int i = 0; i < kPreloaded; ++i) ASSERT_TRUE(store->Put("pre" + std::to_string(i), "p").ok());
  std::string value;
  ASSERT_TRUE(store->Get("pre0", &value).ok());  // the parent holds a pooled connection
  auto work = [&](int who) {
    int failures = 0;
    std::string v;
    for (int i = 0; i < p.iterations; ++i) {
      const std::string key = "p" + std::to_string(who) + "/" + std::to_string(i % p.keys);
      const std::uint64_t seed =
          static_cast<std::uint64_t>(who) << 32 | static_cast<std::uint64_t>(i);
      if (!store->Put(key, MakeValue(seed, p.value_base + static_cast<std::size_t>(i))).ok()) {
        ++failures;
      }
      if (!store->Get(key, &v).ok() || SeedOf(v) != seed || !ValueIsIntact(v)) ++failures;
      if (!store->Get("pre" + std::to_string(i % kPreloaded), &v).ok() || v != "p") ++failures;
    }
    return failures;
  };
  RunInProcesses(p.children, work);
  EXPECT_EQ(store->Stats().errors, 0u);
  const int last = p.iterations - 1;
  for (int c = 0; c <= p.children; ++c) {
    ASSERT_TRUE(
        store->Get("p" + std::to_string(c) + "/" + std::to_string(last % p.keys), &value).ok())
        << c;
    EXPECT_EQ(SeedOf(value), static_cast<std::uint64_t>(c) << 32 | static_cast<unsigned>(last));
  }
  if (GetParam().counts_entries) {
    EXPECT_EQ(store->Stats().entries,
              static_cast<std::uint64_t>(kPreloaded + (p.children + 1) * p.keys));
  }
}

TEST_P(LocalStoreContract, TtlExpires) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
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
  // By the next write the expired entry is counted and gone.
  ASSERT_TRUE(store->Put("other", "v").ok());
  EXPECT_EQ(store->Stats().expired, 1u);
  EXPECT_EQ(store->Stats().entries, 3u);
  // Overwriting drops the old TTL.
  ASSERT_TRUE(store->Put("long", "w").ok());
  ASSERT_TRUE(store->GetWithTtl("long", &value, &left).ok());
  EXPECT_EQ(left.count(), 0);
}

TEST_P(LocalStoreContract, ExpiredEntriesAreEvictedFirst) {
  const StoreBackend::Expiry& p = GetParam().expiry;
  auto store = Open(p.max_bytes, p.shards);
  ASSERT_NE(store, nullptr);
  const std::string kb(1024, 'x');
  for (int i = 0; i < p.entries; ++i) ASSERT_TRUE(store->Put("old" + std::to_string(i), kb).ok());
  for (int i = 0; i < p.entries; ++i) {
    ASSERT_TRUE(store->Put("ttl" + std::to_string(i), kb, 30ms).ok());
  }
  std::this_thread::sleep_for(80ms);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(store->Put("new" + std::to_string(i), kb).ok());
  std::string value;
  for (int i = 0; i < p.entries; ++i) {
    EXPECT_TRUE(store->Get("old" + std::to_string(i), &value).ok()) << "old" << i;
  }
  EXPECT_EQ(store->Stats().expired, static_cast<std::uint64_t>(p.entries));
  EXPECT_EQ(store->Stats().evictions, 0u);
}

}  // namespace
}  // namespace memokey_store_test
