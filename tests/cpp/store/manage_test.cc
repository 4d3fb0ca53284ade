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

#include "memokey/envelope.h"
#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_manage.h"
#include "memokey/store_spec.h"
#include "memokey/tiered_store.h"
#include "store_test_util.h"

namespace {

using memokey::PruneResult;
using memokey::PruneStore;
using memokey::Status;
using memokey::Store;
using memokey::StoreEntry;
using memokey_store_test::RedisServer;
using memokey_store_test::TempDir;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(const std::string& url) { return memokey_store_test::OpenUrl(url); }

std::map<std::string, StoreEntry> ScanAll(Store& store, std::size_t head_bytes = 0) {
  std::map<std::string, StoreEntry> out;
  memokey::ScanOptions options;
  options.head_bytes = head_bytes;
  const Status s = store.Scan(options, [&](const StoreEntry& e) {
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

// Scan with heads: each value's first bytes as Get returns them, enough of
// an envelope to read its label; none without asking.
void CheckHeads(Store& store) {
  const memokey::Secret secret("a test secret of enough length");
  std::string sealed;
  ASSERT_TRUE(memokey::SealEnvelope("env", memokey::Codec::kCbor, std::string(5000, 'p'), secret,
                                    &sealed, 1 << 20, "ns\x1fmod:f")
                  .ok());
  ASSERT_TRUE(store.Put("env", sealed).ok());
  ASSERT_TRUE(store.Put("short", "abc").ok());
  ASSERT_TRUE(store.Put("empty", "").ok());
  auto entries = ScanAll(store, memokey::kEnvelopePeekBytes);
  ASSERT_EQ(entries.count("env"), 1u);
  EXPECT_EQ(entries["env"].head, sealed.substr(0, memokey::kEnvelopePeekBytes));
  EXPECT_EQ(entries["env"].value_bytes, sealed.size());
  std::string label;
  ASSERT_TRUE(memokey::PeekEnvelopeLabel(entries["env"].head, &label));
  EXPECT_EQ(label, "ns\x1fmod:f");
  EXPECT_EQ(entries["short"].head, "abc");
  EXPECT_EQ(entries["empty"].head, "");
  EXPECT_FALSE(memokey::PeekEnvelopeLabel(entries["short"].head, &label));
  EXPECT_EQ(ScanAll(store, 2)["short"].head, "ab");
  for (const auto& [key, e] : ScanAll(store)) EXPECT_TRUE(e.head.empty()) << key;
  std::uint64_t removed = 0;
  ASSERT_TRUE(store.Clear(&removed).ok());
}

TEST(StoreManage, Heads) {
  CheckHeads(*Open("memory://"));
  TempDir dir;
  CheckHeads(*Open("disk://" + dir.path()));
  TempDir tiered_dir;
  CheckHeads(*Open("tiered:memory://|disk://" + tiered_dir.path()));
}

TEST(StoreManage, RedisHeads) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto store = Open(server.url("prefix=h:"));
  CheckHeads(*store);
  // A value without the store's frame (written by something else) has no head.
  auto c = server.Connect();
  ASSERT_TRUE(server.Command(c.get(), "SET %s %s", "h:{raw}", "MKEV-unframed"));
  auto entries = ScanAll(*store, 64);
  ASSERT_EQ(entries.count("raw"), 1u);
  EXPECT_EQ(entries["raw"].head, "");
}

std::string Sealed(std::string_view key, std::string_view label) {
  const memokey::Secret secret("a test secret of enough length");
  std::string sealed;
  EXPECT_TRUE(
      memokey::SealEnvelope(key, memokey::Codec::kCbor, "payload", secret, &sealed, 1024, label)
          .ok());
  return sealed;
}

// ClearLabelled deletes exactly the entries of the labels it is given.
void CheckClearLabelled(Store& store) {
  const std::string a = "ns\x1fmod:a";
  ASSERT_TRUE(store.Put("a1", Sealed("a1", a)).ok());
  ASSERT_TRUE(store.Put("a2", Sealed("a2", a), 1h).ok());
  ASSERT_TRUE(store.Put("b1", Sealed("b1", "mod:b")).ok());
  ASSERT_TRUE(store.Put("v1", Sealed("v1", "")).ok());  // version 1: no label
  ASSERT_TRUE(store.Put("raw", "ns\x1fmod:a").ok());    // not an envelope
  memokey::ClearLabelledResult result;
  ASSERT_TRUE(memokey::ClearLabelled(
                  store, [&](std::string_view l) { return l == a; }, &result)
                  .ok());
  EXPECT_EQ(result.removed, 2u);
  EXPECT_TRUE(result.unlisted.empty());
  auto left = ScanAll(store);
  EXPECT_EQ(left.count("a1") + left.count("a2"), 0u);
  EXPECT_EQ(left.size(), 3u);
  std::string value;
  EXPECT_TRUE(store.Get("a1", &value).IsNotFound());
  EXPECT_TRUE(store.Get("b1", &value).ok());

  // progress between batches; false stops there (what was deleted stays so).
  for (int i = 0; i < 600; ++i) {
    const std::string key = "c" + std::to_string(i);
    ASSERT_TRUE(store.Put(key, Sealed(key, "mod:c")).ok());
  }
  auto is_c = [](std::string_view l) { return l == "mod:c"; };
  std::vector<std::uint64_t> reports;
  ASSERT_TRUE(memokey::ClearLabelled(store, is_c, &result, [&](std::uint64_t done) {
                reports.push_back(done);
                return false;
              }).ok());
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(result.removed, reports[0]);
  EXPECT_LT(result.removed, 600u);
  const std::uint64_t first = result.removed;
  ASSERT_TRUE(memokey::ClearLabelled(store, is_c, &result).ok());
  EXPECT_EQ(first + result.removed, 600u);
  EXPECT_EQ(ScanAll(store).size(), 3u);
  std::uint64_t removed = 0;
  ASSERT_TRUE(store.Clear(&removed).ok());
}

TEST(StoreManage, ClearLabelled) {
  CheckClearLabelled(*Open("memory://"));
  TempDir dir;
  CheckClearLabelled(*Open("disk://" + dir.path()));
  TempDir tiered_dir;
  auto tiered_store = Open("tiered:memory://|disk://" + tiered_dir.path());
  CheckClearLabelled(*tiered_store);
  // A key in the slow tier only is found there and deleted.
  auto& tiered = dynamic_cast<memokey::TieredStore&>(*tiered_store);
  ASSERT_TRUE(tiered.tier(1).Put("deep", Sealed("deep", "mod:d")).ok());
  memokey::ClearLabelledResult result;
  ASSERT_TRUE(memokey::ClearLabelled(
                  *tiered_store, [](std::string_view l) { return l == "mod:d"; }, &result)
                  .ok());
  EXPECT_EQ(result.removed, 1u);
  std::string value;
  EXPECT_TRUE(tiered.tier(1).Get("deep", &value).IsNotFound());
}

TEST(StoreManage, RedisClearLabelled) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  CheckClearLabelled(*Open(server.url("prefix=cl:")));
}

TEST(StoreManage, ClearLabelledSkipsTiersThatCannotList) {
  auto all = [](std::string_view) { return true; };
  memokey::ClearLabelledResult result;
  auto http = Open("http://127.0.0.1:1/ns?connect_timeout_ms=50");
  Status s = memokey::ClearLabelled(*http, all, &result);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("cannot list"), std::string::npos) << s.ToString();

  auto tiered = Open("tiered:memory://|http://127.0.0.1:1/ns?connect_timeout_ms=50");
  auto& tiers = dynamic_cast<memokey::TieredStore&>(*tiered);
  ASSERT_TRUE(tiers.tier(0).Put("m", Sealed("m", "mod:m")).ok());
  s = memokey::ClearLabelled(*tiered, all, &result);
  ASSERT_EQ(result.unlisted.size(), 1u);
  EXPECT_EQ(result.unlisted[0].substr(0, 7), "http://");
  std::string value;
  EXPECT_TRUE(tiers.tier(0).Get("m", &value).IsNotFound()) << s.ToString();
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
