// redis+cluster:// — against a 3-master, 3-replica Redis Cluster that each
// test starts on free loopback ports (redis_cluster.h) and kills after.

#include "redis_cluster.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "redis_router.h"  // KeySlot, checked against CLUSTER KEYSLOT
#include "store_contract.h"
#include "store_test_util.h"

namespace {

using memokey::LeaseOptions;
using memokey::LeaseResult;
using memokey::Status;
using memokey::Store;
using memokey_store_test::MakeValue;
using memokey_store_test::RawReply;
using memokey_store_test::RedisCluster;
using memokey_store_test::RedisServer;
using memokey_store_test::SeedOf;
using memokey_store_test::ValueIsIntact;
using State = LeaseResult::State;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(const std::string& url) { return memokey_store_test::OpenUrl(url); }

// The slot of store key K (Redis key prefix{K}).
int SlotOf(std::string_view prefix, std::string_view key) {
  return memokey::redis_internal::KeySlot(std::string(prefix) + "{" + std::string(key) + "}");
}

long long IntReply(const RawReply& reply) {
  return reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
}

// "errorstat_MOVED:count=3" in INFO errorstats -> 3.
long long ErrorCount(const RedisCluster& cluster, int port, std::string_view code) {
  const std::string info = cluster.StringReply(port, {"INFO", "errorstats"});
  const std::string want = "errorstat_" + std::string(code) + ":count=";
  const std::size_t at = info.find(want);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + want.size()));
}

class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(cluster_.Start()); }
  RedisCluster cluster_;
};

memokey_store_test::StoreBackend ClusterBackend() {
  auto cluster = memokey_store_test::ServerBackend<RedisCluster>(
      "cluster", [](const RedisCluster& c) { return c.url("ct:", "pool=2"); });
  cluster.fork = {.children = 3, .iterations = 200, .keys = 40, .value_base = 50};
  return cluster;
}

// The contract of every store; the fork() case as RedisClusterTest ran it
// (its pools hold connections to every master).
using memokey_store_test::ForkedStoreContract;
using memokey_store_test::StoreContract;
INSTANTIATE_TEST_SUITE_P(Cluster, StoreContract, ::testing::Values(ClusterBackend()),
                         memokey_store_test::BackendName);
INSTANTIATE_TEST_SUITE_P(Cluster, ForkedStoreContract, ::testing::Values(ClusterBackend()),
                         memokey_store_test::BackendName);

TEST(RedisClusterSlots, KeySlotMatchesTheServer) {
  EXPECT_EQ(memokey::redis_internal::Crc16("123456789"), 0x31C3);
  RedisServer server;  // one node in cluster mode: enough for CLUSTER KEYSLOT
  ASSERT_TRUE(server.Start({"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}));
  auto c = server.Connect();
  std::vector<std::string> keys = {"",       "a",    "foo",   "{",   "}",
                                   "{}",     "{}a",  "a{}",   "{a}", "x{a}y",
                                   "{a}{b}", "}{a}", "{{a}}", "a{b", "memokey:{k}:lease",
                                   "p{}x}"};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string key(rng() % 24, '\0');
    for (char& ch : key) ch = "ab{}\xff\x00"[rng() % 6];
    keys.push_back(key);
  }
  for (const std::string& key : keys) {
    RawReply reply = RedisCluster::CommandOn(c.get(), {"CLUSTER", "KEYSLOT", key});
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->type, REDIS_REPLY_INTEGER) << reply->str;
    EXPECT_EQ(memokey::redis_internal::KeySlot(key), reply->integer) << key;
  }
}

// Every Store call, on keys spread over all masters, including binary keys
// and keys whose '}' shortens the hash tag or (leading '}') removes it.
TEST_F(RedisClusterTest, AllOperationsAcrossMasters) {
  auto store = Open(cluster_.url("t:"));
  EXPECT_EQ(store->Describe(), cluster_.url("t:"));
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("key-" + std::to_string(i));
  keys.push_back(std::string("bin\0}{\xff", 7));
  keys.push_back("}leading");
  keys.push_back("}");
  std::set<int> masters;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    masters.insert(cluster_.MasterOfSlot(SlotOf("t:", keys[i])));
    const auto ttl = i % 3 == 0 ? std::chrono::milliseconds(3600s) : 0ms;
    ASSERT_TRUE(store->Put(keys[i], MakeValue(i, 16 + i * 7), ttl).ok()) << i;
  }
  EXPECT_EQ(masters.size(), 3u);
  for (int port : cluster_.MasterPorts()) {
    EXPECT_GT(IntReply(cluster_.Command(port, {"DBSIZE"})), 50) << "master " << port;
  }
  std::string value;
  std::chrono::milliseconds left{};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(store->GetWithTtl(keys[i], &value, &left).ok()) << i;
    EXPECT_EQ(SeedOf(value), i);
    EXPECT_TRUE(ValueIsIntact(value));
    if (i % 3 == 0) {
      EXPECT_GT(left.count(), 3000 * 1000);
    } else {
      EXPECT_EQ(left.count(), 0);
    }
    bool present = false;
    ASSERT_TRUE(store->Contains(keys[i], &present).ok());
    EXPECT_TRUE(present);
  }
  for (std::size_t i = 0; i < keys.size(); i += 2) ASSERT_TRUE(store->Delete(keys[i]).ok());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Status s = store->Get(keys[i], &value);
    EXPECT_EQ(s.ok(), i % 2 == 1) << i << s.ToString();
  }
  const memokey::StoreStats stats = store->Stats();
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.puts, keys.size());
  EXPECT_EQ(stats.deletes, (keys.size() + 1) / 2);
  EXPECT_EQ(stats.hits, keys.size() + keys.size() / 2);
  EXPECT_EQ(store->Put("", "x").code(), Status::Code::kInvalidArgument);
}

TEST_F(RedisClusterTest, GetManySpreadOverAllNodes) {
  auto store = Open(cluster_.url("gm:", "pool=2"));
  std::vector<std::string> keys;
  std::map<int, int> per_master;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back("k" + std::to_string(i));
    if (i % 2 == 0) {
      ASSERT_TRUE(store->Put(keys.back(), "v" + std::to_string(i), 1h).ok());
    }
    ++per_master[cluster_.MasterOfSlot(SlotOf("gm:", keys.back()))];
  }
  EXPECT_EQ(per_master.size(), 3u);
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(views, &values).ok());
  ASSERT_EQ(values.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(values[i], "v" + std::to_string(i));
    } else {
      EXPECT_EQ(values[i], std::nullopt);
    }
  }
  std::vector<std::chrono::milliseconds> ttls;
  ASSERT_TRUE(store->GetManyWithTtl(views, &values, &ttls).ok());
  ASSERT_EQ(ttls.size(), keys.size());
  EXPECT_GT(ttls[0].count(), 3500 * 1000);
  EXPECT_EQ(ttls[1].count(), 0);
  EXPECT_EQ(values[998], "v998");
  EXPECT_EQ(store->Stats().hits, 1000u);
  EXPECT_EQ(store->Stats().misses, 1000u);
  EXPECT_EQ(store->Stats().errors, 0u);

  // Many threads at once with small pools: no reply goes to the wrong caller.
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::optional<std::string>> mine;
      for (int round = 0; round < 20; ++round) {
        const std::size_t begin = static_cast<std::size_t>((t * 37 + round * 11) % 500);
        const auto part = std::span(views).subspan(begin, 400);
        if (!store->GetMany(part, &mine).ok()) ++bad;
        for (std::size_t i = 0; i < part.size(); ++i) {
          const std::size_t k = begin + i;
          const bool want = k % 2 == 0;
          if (mine[i].has_value() != want || (want && *mine[i] != "v" + std::to_string(k))) ++bad;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
}

// A slot moves to another master behind the client's back: the first command
// gets MOVED, is retried on the new owner, and the map is re-read, so the
// old owner sees no further MOVED for that slot or others.
TEST_F(RedisClusterTest, FollowsMovedAfterSlotMigration) {
  auto store = Open(cluster_.url("mv:"));
  // Keys "m}0".."m}19" all hash on "m": one slot, several keys.
  const int slot = SlotOf("mv:", "m}0");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Put("m}" + std::to_string(i), "v" + std::to_string(i)).ok());
  }
  std::string value;
  ASSERT_TRUE(store->Get("m}0", &value).ok());  // the map is loaded and names the old owner
  const int from = cluster_.MasterOfSlot(slot);
  int to = 0;
  for (int port : cluster_.MasterPorts()) {
    if (port != from) to = port;
  }
  ASSERT_NE(to, 0);
  const std::string from_id = cluster_.NodeId(from);
  const std::string to_id = cluster_.NodeId(to);
  const std::string slot_text = std::to_string(slot);
  ASSERT_EQ(cluster_.StringReply(to, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", from_id}),
            "OK");
  ASSERT_EQ(cluster_.StringReply(from, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", to_id}),
            "OK");
  RawReply keys = cluster_.Command(from, {"CLUSTER", "GETKEYSINSLOT", slot_text, "100"});
  ASSERT_TRUE(keys && keys->type == REDIS_REPLY_ARRAY);
  ASSERT_EQ(keys->elements, 20u);
  std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0",
                                      "5000",    "KEYS"};
  for (std::size_t i = 0; i < keys->elements; ++i) {
    migrate.emplace_back(keys->element[i]->str, keys->element[i]->len);
  }
  ASSERT_EQ(cluster_.StringReply(from, migrate), "OK");
  for (int port : cluster_.MasterPorts()) {
    ASSERT_EQ(cluster_.StringReply(port, {"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}), "OK");
  }
  const long long moved_before = ErrorCount(cluster_, from, "MOVED");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->Get("m}" + std::to_string(i), &value).ok()) << i;
    EXPECT_EQ(value, "v" + std::to_string(i));
  }
  ASSERT_TRUE(store->Put("m}new", "fresh").ok());
  EXPECT_EQ(IntReply(cluster_.Command(to, {"EXISTS", "mv:{m}new}"})), 1);
  // One MOVED, then the refreshed map.
  EXPECT_EQ(ErrorCount(cluster_, from, "MOVED") - moved_before, 1);
  EXPECT_EQ(store->Stats().errors, 0u);
}

// During a migration: keys already moved are answered with ASK, which the
// client follows (ASKING on the target) without changing its map; keys not
// yet moved are still served by the source.
TEST_F(RedisClusterTest, FollowsAskDuringMigration) {
  auto store = Open(cluster_.url("ask:"));
  const int slot = SlotOf("ask:", "a}x");
  ASSERT_TRUE(store->Put("a}moved", "m").ok());
  ASSERT_TRUE(store->Put("a}stays", "s").ok());
  const int from = cluster_.MasterOfSlot(slot);
  int to = 0;
  for (int port : cluster_.MasterPorts()) {
    if (port != from) to = port;
  }
  const std::string slot_text = std::to_string(slot);
  ASSERT_EQ(cluster_.StringReply(
                to, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING", cluster_.NodeId(from)}),
            "OK");
  ASSERT_EQ(cluster_.StringReply(
                from, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING", cluster_.NodeId(to)}),
            "OK");
  ASSERT_EQ(cluster_.StringReply(
                from, {"MIGRATE", "127.0.0.1", std::to_string(to), "ask:{a}moved}", "0", "5000"}),
            "OK");
  const long long ask_before = ErrorCount(cluster_, from, "ASK");
  std::string value;
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(store->Get("a}moved", &value).ok());
    EXPECT_EQ(value, "m");
    ASSERT_TRUE(store->Get("a}stays", &value).ok());
    EXPECT_EQ(value, "s");
  }
  // A new key of a migrating slot is created on the target.
  ASSERT_TRUE(store->Put("a}new", "n").ok());
  {
    // The importing node answers only after ASKING (else MOVED to the source).
    auto c = cluster_.Connect(to);
    ASSERT_EQ(RedisCluster::CommandOn(c.get(), {"ASKING"})->type, REDIS_REPLY_STATUS);
    EXPECT_EQ(IntReply(RedisCluster::CommandOn(c.get(), {"EXISTS", "ask:{a}new}"})), 1);
  }
  // Every access to a moved key asked again: ASK does not change the map.
  EXPECT_EQ(ErrorCount(cluster_, from, "ASK") - ask_before, 4);
  EXPECT_EQ(ErrorCount(cluster_, from, "MOVED"), 0);
  EXPECT_EQ(store->Stats().errors, 0u);
}

// Leases in a cluster: keys on every master, a waiter woken by the
// release, a non-holder release ignored, a key without hash tag.
TEST_F(RedisClusterTest, Leases) {
  auto store = Open(cluster_.url("ls:"));
  LeaseOptions quick;
  quick.wait = 0ms;
  std::set<int> masters;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "lease-" + std::to_string(i);
    masters.insert(cluster_.MasterOfSlot(SlotOf("ls:", key)));
    LeaseResult first, second;
    ASSERT_TRUE(store->AcquireLease(key, quick, &first).ok());
    ASSERT_EQ(first.state, State::kGranted) << key;
    ASSERT_TRUE(store->AcquireLease(key, quick, &second).ok());
    EXPECT_EQ(second.state, State::kTimedOut);
    EXPECT_TRUE(second.waited);
    ASSERT_TRUE(store->ReleaseLease(key, "not-the-token").ok());
    ASSERT_TRUE(store->AcquireLease(key, quick, &second).ok());
    EXPECT_EQ(second.state, State::kTimedOut);
    ASSERT_TRUE(store->Put(key, "value").ok());
    ASSERT_TRUE(store->ReleaseLease(key, first.token).ok());
    ASSERT_TRUE(store->AcquireLease(key, quick, &second).ok());
    EXPECT_EQ(second.state, State::kValue);
    EXPECT_EQ(second.value, "value");
  }
  EXPECT_EQ(masters.size(), 3u);

  // A waiter in another thread gets the holder's value.
  for (const std::string key : {"waited", "}no-tag"}) {
    LeaseResult holder;
    ASSERT_TRUE(store->AcquireLease(key, {}, &holder).ok());
    ASSERT_EQ(holder.state, State::kGranted);
    auto waiter = std::async(std::launch::async, [&] {
      LeaseOptions options;
      options.wait = 30s;
      LeaseResult result;
      Status s = store->AcquireLease(key, options, &result);
      return std::make_pair(s, result);
    });
    ASSERT_TRUE(store->Put(key, "computed once").ok());
    ASSERT_TRUE(store->ReleaseLease(key, holder.token).ok());
    auto [status, result] = waiter.get();
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(result.state, State::kValue) << key;
    EXPECT_EQ(result.value, "computed once");
  }
  EXPECT_EQ(store->Stats().errors, 0u);
}

// Values damaged on their master behind the store's back (SETRANGE of one
// byte; a valid frame of another key): on every path — Get, the per-node
// GetMany pipelines, a lease's value lookup, including the key without a hash
// tag whose value and lease live in different slots — a miss, counted, and
// deleted on the master that held it. Never the bytes.
TEST_F(RedisClusterTest, DamagedValuesAreMissesOnEveryNode) {
  constexpr std::size_t kFrameBytes = 3 + 8;  // "mk1" + checksum ahead of each value
  auto store = Open(cluster_.url("dm:"));
  auto rkey = [](const std::string& key) { return "dm:{" + key + "}"; };
  auto master = [](const std::string& key) { return SlotOf("dm:", key); };
  auto flip = [&](const std::string& key, std::size_t offset) {
    const int port = cluster_.MasterOfSlot(master(key));
    const std::string old = cluster_.StringReply(
        port, {"GETRANGE", rkey(key), std::to_string(offset), std::to_string(offset)});
    ASSERT_EQ(old.size(), 1u) << key;
    const std::string flipped(1, static_cast<char>(old[0] ^ 0x01));
    EXPECT_EQ(
        IntReply(cluster_.Command(port, {"SETRANGE", rkey(key), std::to_string(offset), flipped})),
        static_cast<long long>(kFrameBytes + 64));
  };
  auto in_redis = [&](const std::string& key) {
    return IntReply(cluster_.Command(cluster_.MasterOfSlot(master(key)), {"EXISTS", rkey(key)})) ==
           1;
  };

  std::vector<std::string> keys;
  std::set<int> damaged_masters;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("d" + std::to_string(i));
    ASSERT_TRUE(store->Put(keys.back(), MakeValue(i, 64), 1h).ok());
  }
  std::vector<bool> damaged(keys.size(), false);
  for (std::size_t i = 0; i < keys.size(); i += 5) {
    flip(keys[i], kFrameBytes + i % 64);
    damaged[i] = true;
    damaged_masters.insert(cluster_.MasterOfSlot(master(keys[i])));
  }
  EXPECT_EQ(damaged_masters.size(), 3u);  // 12 keys: every master has some
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::optional<std::string>> values;
  std::vector<std::chrono::milliseconds> ttls;
  ASSERT_TRUE(store->GetManyWithTtl(views, &values, &ttls).ok());
  std::uint64_t count = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (damaged[i]) {
      ++count;
      EXPECT_EQ(values[i], std::nullopt) << i;
      EXPECT_FALSE(in_redis(keys[i])) << i;
    } else {
      ASSERT_TRUE(values[i].has_value()) << i;
      EXPECT_EQ(*values[i], MakeValue(i, 64)) << i;
      EXPECT_GT(ttls[i].count(), 0) << i;
    }
  }
  EXPECT_EQ(store->Stats().damaged, count);
  EXPECT_EQ(store->Stats().misses, count);

  // Get: a frame moved from another key (on another master, even).
  std::size_t other = 1;
  while (cluster_.MasterOfSlot(master(keys[other])) == cluster_.MasterOfSlot(master(keys[2]))) {
    ++other;
  }
  const std::string moved =
      cluster_.StringReply(cluster_.MasterOfSlot(master(keys[other])), {"GET", rkey(keys[other])});
  ASSERT_EQ(moved.size(), kFrameBytes + 64);
  ASSERT_EQ(
      cluster_.StringReply(cluster_.MasterOfSlot(master(keys[2])), {"SET", rkey(keys[2]), moved}),
      "OK");
  std::string value;
  EXPECT_TRUE(store->Get(keys[2], &value).IsNotFound());
  EXPECT_FALSE(in_redis(keys[2]));
  EXPECT_EQ(store->Stats().damaged, ++count);
  ASSERT_TRUE(store->Get(keys[other], &value).ok());
  EXPECT_EQ(value, MakeValue(other, 64));

  // Leases: the damaged value is not handed over, the lease is granted.
  for (const std::string key : {"leased", "}no-tag"}) {
    ASSERT_TRUE(store->Put(key, MakeValue(99, 64)).ok());
    flip(key, kFrameBytes + 10);
    LeaseOptions quick;
    quick.wait = 0ms;
    LeaseResult result;
    ASSERT_TRUE(store->AcquireLease(key, quick, &result).ok());
    EXPECT_EQ(result.state, State::kGranted) << key;
    EXPECT_TRUE(result.value.empty());
    EXPECT_FALSE(in_redis(key)) << key;
    EXPECT_EQ(store->Stats().damaged, ++count);
    ASSERT_TRUE(store->ReleaseLease(key, result.token).ok());
  }
  EXPECT_EQ(store->Stats().errors, 0u);
}

// A cluster whose nodes require a password: the URL's password reaches
// every node the store talks to (the seeds, each master's pool, the
// subscription a lease waiter opens); a wrong or missing one is a clear error.
TEST(RedisClusterAuth, PasswordFromTheUrlReachesEveryNode) {
  RedisCluster cluster(3, 1, "cluster-secret");
  ASSERT_TRUE(cluster.Start());
  const std::string scheme = "redis+cluster://";
  auto with_password = [&](const std::string& userinfo) {
    std::string url = cluster.url("auth:", "strict=1");
    return url.insert(scheme.size(), userinfo);
  };
  auto store = Open(with_password(":cluster-secret@"));
  std::set<int> masters;
  for (int i = 0; i < 30; ++i) {
    const std::string key = "k" + std::to_string(i);
    masters.insert(cluster.MasterOfSlot(SlotOf("auth:", key)));
    ASSERT_TRUE(store->Put(key, "v" + std::to_string(i)).ok()) << key;
  }
  EXPECT_EQ(masters.size(), 3u);
  std::vector<std::string> names;
  for (int i = 0; i < 30; ++i) names.push_back("k" + std::to_string(i));
  std::vector<std::string_view> keys(names.begin(), names.end());
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(keys, &values).ok());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(values[i], "v" + std::to_string(i));

  LeaseResult holder;
  ASSERT_TRUE(store->AcquireLease("leased", {}, &holder).ok());
  ASSERT_EQ(holder.state, State::kGranted);
  auto waiter = std::async(std::launch::async, [&] {
    LeaseOptions options;
    options.wait = 30s;
    LeaseResult result;
    Status s = store->AcquireLease("leased", options, &result);
    return std::make_pair(s, result);
  });
  ASSERT_TRUE(store->Put("leased", "computed").ok());
  ASSERT_TRUE(store->ReleaseLease("leased", holder.token).ok());
  auto [status, result] = waiter.get();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.state, State::kValue);
  EXPECT_EQ(result.value, "computed");
  EXPECT_EQ(store->Stats().errors, 0u);

  std::string value;
  // Redis's own reasons reach the caller.
  for (const auto& [userinfo, reason] :
       {std::pair<std::string, std::string>{":wrong-secret@", "WRONGPASS"}, {"", "NOAUTH"}}) {
    auto refused = Open(with_password(userinfo));
    const Status s = refused->Get("k1", &value);
    EXPECT_FALSE(s.ok()) << "password '" << userinfo << "'";
    EXPECT_NE(s.message().find(reason), std::string::npos) << s.ToString();
  }
}

// kill -9 of a master under load. Values are self-verifying and name their
// key and version: no read may return another key's value, a torn value or a
// version never written. Errors and misses are allowed while the replica
// takes over (and a failover may lose the latest acknowledged writes: Redis
// replicates asynchronously); afterwards the killed master's slots are
// served again.
TEST_F(RedisClusterTest, FailoverUnderLoad) {
  auto store = Open(cluster_.url("fo:",
                                 "timeout_ms=500&connect_timeout_ms=300&backoff_ms=20&"
                                 "max_backoff_ms=200"));
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 64;
  auto key_of = [](int thread, int k) {
    return "t" + std::to_string(thread) + "-" + std::to_string(k);
  };
  // Highest version written (attempted) per key: a read beyond it is wrong.
  std::vector<std::atomic<std::uint32_t>> written(kThreads * kKeysPerThread);
  std::atomic<bool> stop{false};
  std::atomic<long> wrong{0}, reads{0}, hits{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::string value;
      std::uint32_t version = 0;
      while (!stop.load()) {
        const int k = static_cast<int>(rng() % kKeysPerThread);
        const int id = t * kKeysPerThread + k;
        const std::string key = key_of(t, k);
        if (rng() % 2 == 0) {
          ++version;
          written[id].store(version);
          const std::uint64_t seed = static_cast<std::uint64_t>(id) << 32 | version;
          if (!store->Put(key, MakeValue(seed, 32 + version % 200)).ok()) ++errors;
        } else {
          ++reads;
          Status s = store->Get(key, &value);
          if (s.ok()) {
            ++hits;
            const std::uint64_t seed = SeedOf(value);
            if (!ValueIsIntact(value) || static_cast<int>(seed >> 32) != id ||
                static_cast<std::uint32_t>(seed) > written[id].load()) {
              ++wrong;
            }
          } else if (!s.IsNotFound()) {
            ++errors;
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(500ms);  // load before the kill
  const std::vector<int> masters_before = cluster_.MasterPorts();
  ASSERT_EQ(masters_before.size(), 3u);
  const int killed = cluster_.KillMaster(masters_before[1]);
  const auto killed_at = std::chrono::steady_clock::now();
  const double failover_s = cluster_.WaitFailover(60s);
  ASSERT_GE(failover_s, 0) << "the replica did not take over";

  // The client serves the killed master's slots again: a key of one of
  // them, written and read back through the store.
  std::string probe;
  for (int i = 0; probe.empty(); ++i) {
    const std::string candidate = "probe" + std::to_string(i);
    if (std::find(masters_before.begin(), masters_before.end(),
                  cluster_.MasterOfSlot(SlotOf("fo:", candidate))) == masters_before.end()) {
      probe = candidate;  // served by the promoted replica now
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool recovered = false;
  std::string value;
  while (!recovered && std::chrono::steady_clock::now() < deadline) {
    recovered =
        store->Put(probe, "after").ok() && store->Get(probe, &value).ok() && value == "after";
    if (!recovered) std::this_thread::sleep_for(10ms);
  }
  const double client_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  std::this_thread::sleep_for(300ms);  // load after the recovery
  stop = true;
  for (auto& thread : threads) thread.join();
  std::cout << "[ FIGURES  ] failover: killed master " << killed << "; cluster_state:ok with all "
            << "slots on live masters after " << failover_s << " s; the client served the lost "
            << "slots again after " << client_s
            << " s (cluster-node-timeout 1000 ms); load: " << reads.load() << " reads, "
            << hits.load() << " hits, " << errors.load() << " errors, " << wrong.load()
            << " wrong values" << std::endl;
  EXPECT_TRUE(recovered) << "the killed master's slots were not served again within 30 s";
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);

  // Every key is reachable afterwards.
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeysPerThread; ++k) {
      EXPECT_TRUE(store->Put(key_of(t, k), "final").ok());
      ASSERT_TRUE(store->Get(key_of(t, k), &value).ok());
      EXPECT_EQ(value, "final");
    }
  }
}

// The whole cluster goes away: counted misses, Unavailable writes and
// leases, Unavailable lookups when strict; nothing crashes or hangs.
TEST_F(RedisClusterTest, ClusterDown) {
  const std::string query = "timeout_ms=300&connect_timeout_ms=300&backoff_ms=20";
  auto store = Open(cluster_.url("dn:", query));
  auto strict = Open(cluster_.url("dn:", query + "&strict=1"));
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(strict->Get("k", &value).ok());
  cluster_.Stop();
  Status s = store->Get("k", &value);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(store->Put("k", "w").code(), Status::Code::kUnavailable);
  EXPECT_EQ(store->Delete("k").code(), Status::Code::kUnavailable);
  bool present = true;
  EXPECT_TRUE(store->Contains("k", &present).ok());
  EXPECT_FALSE(present);
  const std::vector<std::string_view> keys = {"k", "j", "i"};
  std::vector<std::optional<std::string>> values;
  EXPECT_TRUE(store->GetMany(keys, &values).ok());
  EXPECT_EQ(values.size(), 3u);
  LeaseResult lease;
  EXPECT_EQ(store->AcquireLease("k", {}, &lease).code(), Status::Code::kUnavailable);
  EXPECT_EQ(lease.state, State::kUnsupported);
  EXPECT_EQ(store->ReleaseLease("k", "token").code(), Status::Code::kUnavailable);
  EXPECT_GE(store->Stats().errors, 6u);
  EXPECT_EQ(strict->Get("k", &value).code(), Status::Code::kUnavailable);
  EXPECT_EQ(strict->GetMany(keys, &values).code(), Status::Code::kUnavailable);
}

// Seeds that never answer, and the wrong kind of server on either side.
TEST(RedisClusterMisuse, ClearErrors) {
  const int port = memokey_store_test::FreePort();
  auto nowhere = Open("redis+cluster://127.0.0.1:" + std::to_string(port) +
                      "?connect_timeout_ms=200&strict=1");
  std::string value;
  Status s = nowhere->Get("k", &value);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(port)), std::string::npos) << s.message();

  RedisServer plain;
  ASSERT_TRUE(plain.Start());
  auto not_cluster =
      Open("redis+cluster://127.0.0.1:" + std::to_string(plain.port()) + "?strict=1");
  s = not_cluster->Get("k", &value);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("cluster support disabled"), std::string::npos) << s.message();

  RedisCluster cluster;
  ASSERT_TRUE(cluster.Start());
  int wrong_node = 0;
  for (int p : cluster.MasterPorts()) {
    if (cluster.MasterOfSlot(SlotOf("memokey:", "k")) != p) wrong_node = p;
  }
  auto single = Open("redis://127.0.0.1:" + std::to_string(wrong_node) + "?strict=1");
  s = single->Get("k", &value);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("redis+cluster://"), std::string::npos) << s.message();
}

}  // namespace
