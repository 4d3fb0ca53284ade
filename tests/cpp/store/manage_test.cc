// Store management: Scan, Clear and PruneStore over memory, disk, Redis and
// tiered stores (what `memokey cache info|ls|clear|prune` runs on).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "store_test_util.h"

namespace {

using memokey::OpenStore;
using memokey::PruneResult;
using memokey::PruneStore;
using memokey::Status;
using memokey::Store;
using memokey::StoreEntry;
using memokey_store_test::RedisServer;
using memokey_store_test::TempDir;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  return store;
}

std::map<std::string, StoreEntry> ScanAll(Store& store) {
  std::map<std::string, StoreEntry> out;
  const Status s = store.Scan([&](const StoreEntry& e) {
    EXPECT_TRUE(out.emplace(e.key, e).second) << "reported twice: " << e.key;
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// The checks every store that can Scan passes. `expired_listed`: whether an
// entry past its ttl is still listed (disk, memory) or gone (Redis).
void CheckScanClearPrune(Store& store, bool expired_listed, bool knows_idle) {
  ASSERT_TRUE(store.Put("a", "1").ok());
  ASSERT_TRUE(store.Put("bb", std::string(100, 'x'), 1h).ok());
  ASSERT_TRUE(store.Put("gone", "v", 1ms).ok());
  std::this_thread::sleep_for(20ms);  // "gone" expires
  auto entries = ScanAll(store);
  ASSERT_EQ(entries.count("a"), 1u);
  EXPECT_EQ(entries["a"].value_bytes, 1u);
  EXPECT_FALSE(entries["a"].ttl_left.has_value());
  ASSERT_EQ(entries.count("bb"), 1u);
  EXPECT_EQ(entries["bb"].value_bytes, 100u);
  ASSERT_TRUE(entries["bb"].ttl_left.has_value());
  EXPECT_GT(entries["bb"].ttl_left->count(), 0);
  EXPECT_LE(*entries["bb"].ttl_left, std::chrono::milliseconds(1h));
  EXPECT_EQ(entries["a"].idle.has_value(), knows_idle);
  if (expired_listed) {
    ASSERT_EQ(entries.count("gone"), 1u);
    EXPECT_LE(entries["gone"].ttl_left->count(), 0);
  } else {
    EXPECT_EQ(entries.count("gone"), 0u);
  }

  // visit returning false stops the scan.
  int seen = 0;
  ASSERT_TRUE(store.Scan([&](const StoreEntry&) { return ++seen < 1; }).ok());
  EXPECT_EQ(seen, 1);

  // Prune: the expired entry only, then down to a size.
  PruneResult pruned;
  ASSERT_TRUE(PruneStore(store, std::nullopt, &pruned).ok());
  EXPECT_EQ(pruned.expired, expired_listed ? 1u : 0u);
  EXPECT_EQ(pruned.evicted, 0u);
  EXPECT_EQ(pruned.entries_left, 2u);
  EXPECT_EQ(pruned.bytes_left, 1u + 1u + 2u + 100u);
  EXPECT_EQ(ScanAll(store).size(), 2u);
  ASSERT_TRUE(PruneStore(store, 50, &pruned).ok());
  EXPECT_EQ(pruned.expired, 0u);
  EXPECT_LE(pruned.bytes_left, 50u);
  EXPECT_EQ(pruned.evicted + pruned.entries_left, 2u);
  EXPECT_EQ(ScanAll(store).size(), pruned.entries_left);
  EXPECT_GE(pruned.evicted, 1u);  // "bb" alone is over 50 bytes

  // Clear: everything, counted, with progress stopping a large clear early.
  for (int i = 0; i < 2500; ++i) ASSERT_TRUE(store.Put("k" + std::to_string(i), "v").ok());
  const std::size_t before = ScanAll(store).size();
  std::uint64_t removed = 0;
  std::vector<std::uint64_t> progress;
  ASSERT_TRUE(store
                  .Clear(&removed,
                         [&](std::uint64_t done) {
                           progress.push_back(done);
                           return false;  // stop at the first report
                         })
                  .ok());
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0], removed);
  EXPECT_GT(removed, 0u);
  EXPECT_LT(removed, before);
  EXPECT_EQ(ScanAll(store).size(), before - removed);
  std::uint64_t rest = 0;
  ASSERT_TRUE(store.Clear(&rest).ok());
  EXPECT_EQ(removed + rest, before);
  EXPECT_TRUE(ScanAll(store).empty());
  std::string value;
  EXPECT_TRUE(store.Get("k1", &value).IsNotFound());
}

TEST(StoreManage, Memory) {
  auto store = Open("memory://?max_bytes=64M&shards=4");
  CheckScanClearPrune(*store, true, false);
}

TEST(StoreManage, Disk) {
  TempDir dir;
  auto store = Open("disk://" + dir.path());
  CheckScanClearPrune(*store, true, true);
  EXPECT_EQ(store->Stats().entries, 0u);  // the totals follow a clear
  EXPECT_EQ(store->Stats().bytes, 0u);
}

TEST(StoreManage, DiskPruneEvictsLeastRecentlyUsedFirst) {
  TempDir dir;
  auto store = Open("disk://" + dir.path());
  for (const char* key : {"old", "mid", "new"}) {
    ASSERT_TRUE(store->Put(key, std::string(10, 'v')).ok());
    std::this_thread::sleep_for(5ms);  // distinct access times (ms resolution)
  }
  PruneResult pruned;
  ASSERT_TRUE(PruneStore(*store, 2 * 13, &pruned).ok());  // room for two entries
  EXPECT_EQ(pruned.evicted, 1u);
  auto left = ScanAll(*store);
  EXPECT_EQ(left.count("old"), 0u);
  EXPECT_EQ(left.count("mid"), 1u);
  EXPECT_EQ(left.count("new"), 1u);
}

TEST(StoreManage, DiskScanCrossesBatches) {
  TempDir dir;
  auto store = Open("disk://" + dir.path());
  for (int i = 0; i < 2345; ++i) ASSERT_TRUE(store->Put("key" + std::to_string(i), "v").ok());
  EXPECT_EQ(ScanAll(*store).size(), 2345u);
}

TEST(StoreManage, Redis) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  // Another prefix in the same database and a lease are not this store's.
  auto other = Open(server.url("prefix=other:"));
  ASSERT_TRUE(other->Put("mine", "v").ok());
  auto store = Open(server.url("prefix=app*[1]:"));  // glob characters taken literally
  memokey::LeaseResult lease;
  ASSERT_TRUE(store->AcquireLease("leased", {}, &lease).ok());
  ASSERT_EQ(lease.state, memokey::LeaseResult::State::kGranted);
  auto c = server.Connect();
  ASSERT_TRUE(server.Command(c.get(), "SET %s %s", "app-1:{x}", "y"));  // matches an unescaped glob
  CheckScanClearPrune(*store, false, true);
  std::string value;
  EXPECT_TRUE(other->Get("mine", &value).ok());
  auto leftover = server.Command(c.get(), "EXISTS %s %s", "app-1:{x}", "app*[1]:{leased}:lease");
  ASSERT_TRUE(leftover);
  EXPECT_EQ(leftover->integer, 2);
}

TEST(StoreManage, TieredListsEachKeyOnceAndClearsEveryTier) {
  TempDir dir;
  auto store = Open("tiered:memory://|disk://" + dir.path());
  ASSERT_TRUE(store->Put("both", "v").ok());
  auto& tiered = dynamic_cast<memokey::TieredStore&>(*store);
  ASSERT_TRUE(tiered.tier(1).Put("disk-only", "v").ok());
  auto entries = ScanAll(*store);
  EXPECT_EQ(entries.size(), 2u);
  std::uint64_t removed = 0;
  ASSERT_TRUE(store->Clear(&removed).ok());
  EXPECT_EQ(removed, 3u);  // "both" in two tiers, "disk-only" in one
  EXPECT_TRUE(ScanAll(tiered.tier(0)).empty());
  EXPECT_TRUE(ScanAll(tiered.tier(1)).empty());
}

TEST(StoreManage, StoresThatCannotListSaySo) {
  auto http = Open("http://127.0.0.1:1/ns?connect_timeout_ms=50");
  bool called = false;
  Status s = http->Scan([&](const StoreEntry&) { return called = true; });
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("cannot list"), std::string::npos) << s.ToString();
  EXPECT_FALSE(called);
  std::uint64_t removed = 7;
  EXPECT_FALSE(http->Clear(&removed).ok());
  EXPECT_EQ(removed, 0u);
  PruneResult pruned;
  EXPECT_FALSE(PruneStore(*http, std::nullopt, &pruned).ok());
}

}  // namespace
