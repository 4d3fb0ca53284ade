// redis:// — against a redis-server each test starts on a free loopback port:
// the Store contract (store_contract.h) and what is Redis's own.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
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
#include "memokey/store_spec.h"
#include "store_contract.h"
#include "store_test_util.h"

namespace {

using memokey::LeaseOptions;
using memokey::LeaseResult;
using memokey::OpenStore;
using memokey::Status;
using memokey::Store;
using memokey_store_test::MakeValue;
using memokey_store_test::RedisServer;
using memokey_store_test::SeedOf;
using memokey_store_test::ValueIsIntact;
using State = memokey::LeaseResult::State;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(const std::string& url) { return memokey_store_test::OpenUrl(url); }

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  RedisServer server_;
};

memokey_store_test::StoreBackend RedisBackend() {
  // The contract's default numbers are Redis's. 8 threads share 3
  // connections in ThreadsNeverSeeTornValues.
  return memokey_store_test::ServerBackend<RedisServer>(
      "redis", [](const RedisServer& server) { return server.url("pool=3"); });
}

using memokey_store_test::ForkedStoreContract;
using memokey_store_test::StoreContract;
INSTANTIATE_TEST_SUITE_P(Redis, StoreContract, ::testing::Values(RedisBackend()),
                         memokey_store_test::BackendName);
INSTANTIATE_TEST_SUITE_P(Redis, ForkedStoreContract, ::testing::Values(RedisBackend()),
                         memokey_store_test::BackendName);

// The frame ahead of every stored value: "mk1" and an 8-byte checksum.
constexpr std::size_t kFrameBytes = 3 + 8;

TEST_F(RedisStoreTest, KeyLayoutIsPrefixAndHashTag) {
  auto store = Open(server_.url("prefix=app:v1:"));
  ASSERT_TRUE(store->Put("abc", "v").ok());
  auto c = server_.Connect();
  auto reply = server_.Command(c.get(), "GET %s", "app:v1:{abc}");
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type, REDIS_REPLY_STRING);
  const std::string stored(reply->str, reply->len);
  ASSERT_EQ(stored.size(), kFrameBytes + 1);
  EXPECT_EQ(stored.substr(0, 3), "mk1");
  EXPECT_EQ(stored.substr(kFrameBytes), "v");
}

TEST_F(RedisStoreTest, TtlViaPx) {
  auto store = Open(server_.url());
  ASSERT_TRUE(store->Put("short", "v", 100ms).ok());
  ASSERT_TRUE(store->Put("none", "v").ok());
  auto c = server_.Connect();
  auto pttl = server_.Command(c.get(), "PTTL %s", "memokey:{short}");
  ASSERT_EQ(pttl->type, REDIS_REPLY_INTEGER);
  EXPECT_GT(pttl->integer, 0);
  EXPECT_LE(pttl->integer, 100);
  pttl = server_.Command(c.get(), "PTTL %s", "memokey:{none}");
  EXPECT_EQ(pttl->integer, -1);

  std::string value;
  std::chrono::milliseconds left{};
  ASSERT_TRUE(store->GetWithTtl("short", &value, &left).ok());
  EXPECT_GT(left.count(), 0);
  EXPECT_LE(left.count(), 100);
  ASSERT_TRUE(store->GetWithTtl("none", &value, &left).ok());
  EXPECT_EQ(left.count(), 0);
  std::this_thread::sleep_for(250ms);
  EXPECT_TRUE(store->Get("short", &value).IsNotFound());
  EXPECT_TRUE(store->Get("none", &value).ok());
}

TEST_F(RedisStoreTest, PrefixesSeparateNamespaces) {
  auto a = Open(server_.url("prefix=ns-a:"));
  auto b = Open(server_.url("prefix=ns-b:"));
  ASSERT_TRUE(a->Put("k", "from a").ok());
  std::string value;
  EXPECT_TRUE(b->Get("k", &value).IsNotFound());
  ASSERT_TRUE(b->Put("k", "from b").ok());
  ASSERT_TRUE(a->Get("k", &value).ok());
  EXPECT_EQ(value, "from a");
  ASSERT_TRUE(b->Get("k", &value).ok());
  EXPECT_EQ(value, "from b");
}

TEST_F(RedisStoreTest, GetManyAcrossBatches) {
  auto store = Open(server_.url());
  std::vector<std::string> keys;
  for (int i = 0; i < 600; ++i) {
    keys.push_back("k" + std::to_string(i));
    if (i % 2 == 0) {
      ASSERT_TRUE(store->Put(keys.back(), "v" + std::to_string(i), 1h).ok());
    }
  }
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(views, &values).ok());
  ASSERT_EQ(values.size(), 600u);
  for (int i = 0; i < 600; ++i) {
    if (i % 2 == 0) {
      EXPECT_EQ(values[i], "v" + std::to_string(i));
    } else {
      EXPECT_EQ(values[i], std::nullopt);
    }
  }
  std::vector<std::chrono::milliseconds> ttls;
  ASSERT_TRUE(store->GetManyWithTtl(views, &values, &ttls).ok());
  EXPECT_GT(ttls[0].count(), 3500 * 1000);
  EXPECT_EQ(ttls[1].count(), 0);
  EXPECT_EQ(store->Stats().hits, 600u);
  EXPECT_EQ(store->Stats().misses, 600u);
}

TEST_F(RedisStoreTest, UnixSocketAndDb) {
  auto store = Open("redis+unix://" + server_.socket_path() + "?db=3");
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(store->Get("k", &value).ok());
  auto c = server_.Connect();
  EXPECT_EQ(server_.Command(c.get(), "GET %s", "memokey:{k}")->type, REDIS_REPLY_NIL);
  server_.Command(c.get(), "SELECT 3");
  EXPECT_EQ(server_.Command(c.get(), "GET %s", "memokey:{k}")->type, REDIS_REPLY_STRING);
}

TEST(RedisStoreAuth, PasswordUserAndWrongPassword) {
  RedisServer server;
  ASSERT_TRUE(server.Start({"--requirepass", "s3cret-pw"}));
  const std::string port = std::to_string(server.port());
  auto plain = Open("redis://:s3cret%2Dpw@127.0.0.1:" + port + "/2");
  ASSERT_TRUE(plain->Put("k", "v").ok());
  auto with_user = Open("redis://default:s3cret%2Dpw@127.0.0.1:" + port + "/2");
  std::string value;
  ASSERT_TRUE(with_user->Get("k", &value).ok());
  EXPECT_EQ(value, "v");

  auto wrong = Open("redis://:nope@127.0.0.1:" + port + "/2?backoff_ms=10");
  Status s = wrong->Get("k", &value);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_NE(s.message().find("AUTH"), std::string::npos) << s.message();
  EXPECT_EQ(wrong->Put("k", "w").code(), Status::Code::kUnavailable);
  EXPECT_GE(wrong->Stats().errors, 2u);
  EXPECT_EQ(wrong->Describe(), "redis://:***@127.0.0.1:" + port + "/2?prefix=memokey:");
}

// Redis goes away: lookups are counted misses, writes report Unavailable,
// nothing throws; strict stores report Unavailable on lookups too. When the
// server comes back the store recovers by itself.
TEST_F(RedisStoreTest, ServerDownThenBack) {
  const std::string query =
      "backoff_ms=20&max_backoff_ms=200&timeout_ms=500&connect_timeout_ms=500";
  auto store = Open(server_.url(query));
  auto strict = Open(server_.url(query + "&strict=1"));
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(strict->Get("k", &value).ok());  // both pools now hold a connection

  server_.Kill();
  Status s = store->Get("k", &value);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(store->Put("k", "v2").code(), Status::Code::kUnavailable);
  EXPECT_EQ(store->Delete("k").code(), Status::Code::kUnavailable);
  bool present = true;
  EXPECT_TRUE(store->Contains("k", &present).ok());
  EXPECT_FALSE(present);
  const std::vector<std::string_view> keys = {"k", "j"};
  std::vector<std::optional<std::string>> values;
  EXPECT_TRUE(store->GetMany(keys, &values).ok());
  EXPECT_EQ(values, (std::vector<std::optional<std::string>>{std::nullopt, std::nullopt}));
  const memokey::StoreStats stats = store->Stats();
  EXPECT_GE(stats.errors, 5u);
  EXPECT_EQ(stats.misses, 3u);
  EXPECT_EQ(strict->Get("k", &value).code(), Status::Code::kUnavailable);
  EXPECT_EQ(strict->GetMany(keys, &values).code(), Status::Code::kUnavailable);

  ASSERT_TRUE(server_.Start());  // same port, empty data
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  Status put;
  while (!(put = store->Put("k", "v3")).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(put.ok()) << put.ToString();
  ASSERT_TRUE(store->Get("k", &value).ok());
  EXPECT_EQ(value, "v3");
  Status strict_get;
  while (!(strict_get = strict->Get("k", &value)).ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(strict_get.ok()) << strict_get.ToString();
}

// A server that hangs: commands give up after timeout_ms instead of blocking
// the caller, and the store recovers once the server answers again.
TEST_F(RedisStoreTest, HungServerTimesOut) {
  auto store = Open(server_.url("timeout_ms=100&backoff_ms=20&max_backoff_ms=100"));
  ASSERT_TRUE(store->Put("k", "v").ok());
  server_.Pause();
  std::string value;
  Status s = store->Get("k", &value);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(store->Put("k", "w").code(), Status::Code::kUnavailable);
  EXPECT_GE(store->Stats().errors, 2u);
  server_.Resume();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!store->Get("k", &value).ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(store->Get("k", &value).ok());
  EXPECT_EQ(value, "v");
}

TEST(RedisStoreDown, NeverReachableIsACountedMiss) {
  const int port = memokey_store_test::FreePort();
  auto store = Open("redis://127.0.0.1:" + std::to_string(port) + "/0?connect_timeout_ms=200");
  std::string value;
  for (int i = 0; i < 3; ++i) {
    Status s = store->Get("k", &value);
    EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  }
  EXPECT_EQ(store->Put("k", "v").code(), Status::Code::kUnavailable);
  EXPECT_EQ(store->Stats().errors, 4u);
  EXPECT_EQ(store->Stats().misses, 3u);
}

// --- Damaged values -------------------------------------------------------------

// Reads and rewrites the stored bytes behind the store's back, as a bad
// restore, a stray client or a bit flip would.
class RedisDamageTest : public RedisStoreTest {
 protected:
  void SetUp() override {
    RedisStoreTest::SetUp();
    c_ = server_.Connect();
    ASSERT_TRUE(c_ && c_->err == 0);
  }

 public:  // for the damage lambdas, which get a base pointer
  static std::string RedisKey(std::string_view key) { return "memokey:{" + std::string(key) + "}"; }
  std::string Raw(std::string_view key) {
    const std::string rkey = RedisKey(key);
    auto reply = server_.Command(c_.get(), "GET %b", rkey.data(), rkey.size());
    EXPECT_TRUE(reply && reply->type == REDIS_REPLY_STRING) << key;
    return reply && reply->type == REDIS_REPLY_STRING ? std::string(reply->str, reply->len) : "";
  }
  void SetRaw(std::string_view key, std::string_view bytes) {
    const std::string rkey = RedisKey(key);
    auto reply = server_.Command(c_.get(), "SET %b %b", rkey.data(), rkey.size(), bytes.data(),
                                 bytes.size());
    ASSERT_TRUE(reply && reply->type == REDIS_REPLY_STATUS);
  }
  // SETRANGE of one byte, flipped: the value keeps its length and its TTL.
  void FlipByte(std::string_view key, std::size_t offset) {
    const std::string stored = Raw(key);
    ASSERT_LT(offset, stored.size());
    const char flipped = static_cast<char>(stored[offset] ^ 0x20);
    const std::string rkey = RedisKey(key);
    const std::string at = std::to_string(offset);
    auto reply = server_.Command(c_.get(), "SETRANGE %b %s %b", rkey.data(), rkey.size(),
                                 at.c_str(), &flipped, std::size_t{1});
    ASSERT_TRUE(reply && reply->type == REDIS_REPLY_INTEGER);
  }
  bool InRedis(std::string_view key) {
    const std::string rkey = RedisKey(key);
    auto reply = server_.Command(c_.get(), "EXISTS %b", rkey.data(), rkey.size());
    return reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
  }

 private:
  memokey_store_test::RawContext c_;
};

// Every kind of damage: a miss, counted, the entry deleted; never the bytes.
// Then the key works again.
TEST_F(RedisDamageTest, DamagedValueIsACountedMissAndDeleted) {
  auto store = Open(server_.url());
  const std::string good = MakeValue(7, 1000);
  struct Case {
    const char* name;
    std::function<void(RedisDamageTest*, const std::string&)> damage;
  };
  const std::vector<Case> cases = {
      {"payload byte", [](RedisDamageTest* t, const std::string& k) { t->FlipByte(k, 500); }},
      {"last byte", [](RedisDamageTest* t, const std::string& k) { t->FlipByte(k, 1010); }},
      {"checksum byte", [](RedisDamageTest* t, const std::string& k) { t->FlipByte(k, 5); }},
      {"magic", [](RedisDamageTest* t, const std::string& k) { t->FlipByte(k, 0); }},
      {"truncated",
       [](RedisDamageTest* t, const std::string& k) { t->SetRaw(k, t->Raw(k).substr(0, 600)); }},
      {"frame only", [](RedisDamageTest* t,
                        const std::string& k) { t->SetRaw(k, t->Raw(k).substr(0, kFrameBytes)); }},
      {"unframed (an older version's value)",
       [&good](RedisDamageTest* t, const std::string& k) { t->SetRaw(k, good); }},
      {"empty", [](RedisDamageTest* t, const std::string& k) { t->SetRaw(k, ""); }},
      {"garbage", [](RedisDamageTest* t, const std::string& k) { t->SetRaw(k, "mk1garbage!"); }},
      // A valid frame, but of another key: a value moved (RENAME, a restore
      // into the wrong prefix) is not the value of its new key.
      {"moved from another key",
       [&store, &good](RedisDamageTest* t, const std::string& k) {
         ASSERT_TRUE(store->Put("other", good).ok());
         t->SetRaw(k, t->Raw("other"));
       }},
  };
  std::uint64_t damaged = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(store->Put(key, good, 1h).ok());
    cases[i].damage(this, key);
    ASSERT_TRUE(InRedis(key));
    const memokey::StoreStats before = store->Stats();
    std::string value = "untouched";
    std::chrono::milliseconds left{5};
    const Status s = i % 2 == 0 ? store->Get(key, &value) : store->GetWithTtl(key, &value, &left);
    EXPECT_TRUE(s.IsNotFound()) << s.ToString();
    EXPECT_NE(value, good);
    EXPECT_EQ(left.count(), i % 2 == 0 ? 5 : 0);
    const memokey::StoreStats after = store->Stats();
    EXPECT_EQ(after.damaged, ++damaged);
    EXPECT_EQ(after.misses, before.misses + 1);
    EXPECT_EQ(after.hits, before.hits);
    EXPECT_EQ(after.errors, 0u);
    EXPECT_FALSE(InRedis(key));
    // Gone, so the next read is an ordinary miss; a new Put is served.
    EXPECT_TRUE(store->Get(key, &value).IsNotFound());
    EXPECT_EQ(store->Stats().damaged, damaged);
    ASSERT_TRUE(store->Put(key, good).ok());
    ASSERT_TRUE(store->Get(key, &value).ok());
    EXPECT_EQ(value, good);
  }
  // The undamaged neighbour was never touched.
  std::string value;
  ASSERT_TRUE(store->Get("other", &value).ok());
  EXPECT_EQ(value, good);
  EXPECT_EQ(store->Stats().damaged, cases.size());
}

// GetMany and GetManyWithTtl (one MGET pipeline): the damaged entries of a
// batch are misses and deleted, the others are served as stored.
TEST_F(RedisDamageTest, GetManyMixesGoodAndDamaged) {
  auto store = Open(server_.url());
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    keys.push_back("m" + std::to_string(i));
    if (i == 39) continue;  // absent
    ASSERT_TRUE(store->Put(keys.back(), MakeValue(i, 64 + i), 1h).ok());
  }
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  auto damaged = [](int i) { return i % 7 == 3; };  // 3, 10, 17, 24, 31, 38
  for (int i = 0; i < 40; ++i) {
    if (damaged(i)) FlipByte(keys[i], kFrameBytes + static_cast<std::size_t>(i));
  }
  std::vector<std::optional<std::string>> values;
  ASSERT_TRUE(store->GetMany(views, &values).ok());
  ASSERT_EQ(values.size(), 40u);
  for (int i = 0; i < 40; ++i) {
    if (damaged(i) || i == 39) {
      EXPECT_EQ(values[i], std::nullopt) << i;
      EXPECT_FALSE(InRedis(keys[i])) << i;
    } else {
      ASSERT_TRUE(values[i].has_value()) << i;
      EXPECT_EQ(*values[i], MakeValue(i, 64 + i)) << i;
      EXPECT_TRUE(InRedis(keys[i])) << i;
    }
  }
  EXPECT_EQ(store->Stats().damaged, 6u);
  EXPECT_EQ(store->Stats().hits, 33u);
  EXPECT_EQ(store->Stats().misses, 7u);

  // Again with TTLs, other entries damaged (moved values this time).
  for (int i = 0; i < 40; ++i) {
    if (damaged(i)) {
      ASSERT_TRUE(store->Put(keys[i], MakeValue(i, 64 + i), 1h).ok());
    }
  }
  SetRaw(keys[0], Raw(keys[1]));
  SetRaw(keys[20], "");
  std::vector<std::chrono::milliseconds> ttls;
  ASSERT_TRUE(store->GetManyWithTtl(views, &values, &ttls).ok());
  for (int i = 0; i < 40; ++i) {
    if (i == 0 || i == 20 || i == 39) {
      EXPECT_EQ(values[i], std::nullopt) << i;
      EXPECT_EQ(ttls[i].count(), 0) << i;
    } else {
      ASSERT_TRUE(values[i].has_value()) << i;
      EXPECT_EQ(*values[i], MakeValue(i, 64 + i)) << i;
      EXPECT_GT(ttls[i].count(), 3500 * 1000) << i;
    }
  }
  EXPECT_FALSE(InRedis(keys[0]));
  EXPECT_FALSE(InRedis(keys[20]));
  EXPECT_TRUE(InRedis(keys[1]));
  EXPECT_EQ(store->Stats().damaged, 8u);
  EXPECT_EQ(store->Stats().errors, 0u);
}

// The lease's own value lookup verifies too: a damaged value is not handed
// over; the caller gets the lease and recomputes.
TEST_F(RedisDamageTest, LeaseDoesNotHandOverADamagedValue) {
  auto store = Open(server_.url());
  ASSERT_TRUE(store->Put("k", "cached", 1h).ok());
  FlipByte("k", kFrameBytes);
  LeaseResult result;
  ASSERT_TRUE(store->AcquireLease("k", LeaseOptions{}, &result).ok());
  EXPECT_EQ(result.state, State::kGranted);
  EXPECT_TRUE(result.value.empty());
  EXPECT_FALSE(InRedis("k"));
  EXPECT_EQ(store->Stats().damaged, 1u);
  ASSERT_TRUE(store->Put("k", "recomputed").ok());
  ASSERT_TRUE(store->ReleaseLease("k", result.token).ok());
  ASSERT_TRUE(store->AcquireLease("k", LeaseOptions{}, &result).ok());
  EXPECT_EQ(result.state, State::kValue);
  EXPECT_EQ(result.value, "recomputed");
  EXPECT_EQ(store->Stats().errors, 0u);
}

// --- Leases ------------------------------------------------------------------

LeaseOptions Lease(std::chrono::milliseconds wait, std::chrono::milliseconds ttl = 60s,
                   bool check_value = true) {
  LeaseOptions options;
  options.wait = wait;
  options.ttl = ttl;
  options.check_value = check_value;
  return options;
}

TEST_F(RedisStoreTest, LeaseGrantedHeldAndReleased) {
  auto store = Open(server_.url("prefix=ls:"));
  LeaseResult first;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms, 5s), &first).ok());
  ASSERT_EQ(first.state, State::kGranted);
  EXPECT_FALSE(first.waited);
  EXPECT_EQ(first.token.size(), 32u);
  EXPECT_EQ(first.token.find_first_not_of("0123456789abcdef"), std::string::npos);
  // The lease key sits next to the value, with the lease's ttl.
  auto c = server_.Connect();
  auto held = server_.Command(c.get(), "GET %s", "ls:{k}:lease");
  ASSERT_EQ(held->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(held->str, held->len), first.token);
  auto pttl = server_.Command(c.get(), "PTTL %s", "ls:{k}:lease");
  EXPECT_GT(pttl->integer, 0);
  EXPECT_LE(pttl->integer, 5000);

  LeaseResult second;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &second).ok());
  EXPECT_EQ(second.state, State::kTimedOut);
  EXPECT_TRUE(second.waited);
  EXPECT_TRUE(second.token.empty());

  ASSERT_TRUE(store->ReleaseLease("k", first.token).ok());
  EXPECT_EQ(server_.Command(c.get(), "EXISTS %s", "ls:{k}:lease")->integer, 0);
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &second).ok());
  EXPECT_EQ(second.state, State::kGranted);
  EXPECT_NE(second.token, first.token);
  // Releasing twice, or an old token, changes nothing.
  ASSERT_TRUE(store->ReleaseLease("k", first.token).ok());
  EXPECT_EQ(server_.Command(c.get(), "EXISTS %s", "ls:{k}:lease")->integer, 1);
  ASSERT_TRUE(store->ReleaseLease("k", second.token).ok());
  EXPECT_EQ(store->Stats().errors, 0u);
}

TEST_F(RedisStoreTest, LeaseReleaseByAnotherTokenIsIgnored) {
  auto store = Open(server_.url());
  LeaseResult held;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  ASSERT_TRUE(store->ReleaseLease("k", "0123456789abcdef0123456789abcdef").ok());
  ASSERT_TRUE(store->ReleaseLease("k", std::string(held.token.size() + 1, 'a')).ok());
  LeaseResult other;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &other).ok());
  EXPECT_EQ(other.state, State::kTimedOut);
  EXPECT_EQ(store->ReleaseLease("k", "").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->ReleaseLease("", held.token).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->AcquireLease("", Lease(0ms), &other).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->AcquireLease("k", Lease(0ms, 0ms), &other).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(store->AcquireLease("k", Lease(-1ms), &other).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(store->ReleaseLease("k", held.token).ok());
}

// The value is there already: handed over, no lease left behind. With
// check_value=false (refreshing a stale value) the lease is granted anyway.
TEST_F(RedisStoreTest, LeaseValuePresentAndCheckValueFalse) {
  auto store = Open(server_.url());
  ASSERT_TRUE(store->Put("k", "cached", 1h).ok());
  LeaseResult result;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &result).ok());
  EXPECT_EQ(result.state, State::kValue);
  EXPECT_EQ(result.value, "cached");
  EXPECT_GT(result.ttl_left.count(), 3500 * 1000);
  EXPECT_TRUE(result.token.empty());
  auto c = server_.Connect();
  EXPECT_EQ(server_.Command(c.get(), "EXISTS %s", "memokey:{k}:lease")->integer, 0);

  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms, 60s, false), &result).ok());
  EXPECT_EQ(result.state, State::kGranted);
  EXPECT_TRUE(result.value.empty());
  LeaseResult waiter;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms, 60s, false), &waiter).ok());
  EXPECT_EQ(waiter.state, State::kTimedOut);
  // check_value=true still sees the (stale) value while the refresh runs.
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &waiter).ok());
  EXPECT_EQ(waiter.state, State::kValue);
  ASSERT_TRUE(store->ReleaseLease("k", result.token).ok());
}

// A waiter subscribed to the lease's channel gets the value once the holder
// stores it and releases. Correctness, not speed: the release must publish
// on the channel the waiter listens to (checked with a subscriber of our
// own), and the waiter must come back with the holder's value.
TEST_F(RedisStoreTest, LeaseWaiterGetsTheHoldersValue) {
  auto holder_store = Open(server_.url());
  auto waiter_store = Open(server_.url());
  LeaseResult held;
  ASSERT_TRUE(holder_store->AcquireLease("k", Lease(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  auto waiter = std::async(std::launch::async, [&] {
    LeaseResult result;
    Status s = waiter_store->AcquireLease("k", Lease(30s), &result);
    return std::make_pair(s, result);
  });
  // Until the waiter has subscribed (and so is past its first check).
  auto c = server_.Connect();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  long long subscribers = 0;
  while (subscribers == 0 && std::chrono::steady_clock::now() < deadline) {
    auto numsub = server_.Command(c.get(), "PUBSUB NUMSUB %s", "memokey:{k}:done");
    subscribers = numsub->element[1]->integer;
    if (subscribers == 0) std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(subscribers, 1);
  auto listener = server_.Connect();
  server_.Command(listener.get(), "SUBSCRIBE %s", "memokey:{k}:done");

  ASSERT_TRUE(holder_store->Put("k", "computed once").ok());
  ASSERT_TRUE(holder_store->ReleaseLease("k", held.token).ok());
  void* raw = nullptr;
  ASSERT_EQ(redisGetReply(listener.get(), &raw), REDIS_OK);
  memokey_store_test::RawReply message(static_cast<redisReply*>(raw));
  ASSERT_EQ(message->type, REDIS_REPLY_ARRAY);
  EXPECT_EQ(std::string(message->element[0]->str), "message");

  auto [status, result] = waiter.get();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.state, State::kValue);
  EXPECT_EQ(result.value, "computed once");
  EXPECT_TRUE(result.waited);
  EXPECT_EQ(waiter_store->Stats().errors, 0u);
}

// Single flight: many threads (two store objects, as two processes would
// have) want one key; exactly one computes, the others get its value.
TEST_F(RedisStoreTest, LeaseComputesOnceAmongManyCallers) {
  auto a = Open(server_.url("pool=2"));
  auto b = Open(server_.url("pool=2"));
  std::atomic<int> computed{0}, values{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 == 0 ? *a : *b;
      LeaseResult result;
      if (!store.AcquireLease("hot", Lease(30s), &result).ok()) {
        ++other;
        return;
      }
      if (result.state == State::kGranted) {
        ++computed;
        std::this_thread::sleep_for(50ms);  // the computation
        if (!store.Put("hot", "result").ok() || !store.ReleaseLease("hot", result.token).ok()) {
          ++other;
        }
      } else if (result.state == State::kValue && result.value == "result") {
        ++values;
      } else {
        ++other;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(computed.load(), 1);
  EXPECT_EQ(values.load(), 7);
  EXPECT_EQ(other.load(), 0);
}

// A holder that dies without releasing (a child process, SIGKILLed): its
// lease ends with its ttl and the next caller gets it.
TEST_F(RedisStoreTest, LeaseOfACrashedHolderExpires) {
  auto store = Open(server_.url());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    LeaseResult held;
    const bool granted =
        store->AcquireLease("k", Lease(0ms, 400ms), &held).ok() && held.state == State::kGranted;
    const char byte = granted ? 'g' : 'x';
    (void)!::write(ready[1], &byte, 1);
    ::pause();  // "computing" until killed
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  const auto granted_at = std::chrono::steady_clock::now();
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(byte, 'g');

  // A wait shorter than the lease's remaining time: kTimedOut.
  LeaseResult result;
  ASSERT_TRUE(store->AcquireLease("k", Lease(10ms), &result).ok());
  EXPECT_EQ(result.state, State::kTimedOut);
  EXPECT_TRUE(result.waited);
  // A longer wait outlasts the dead holder's lease.
  ASSERT_TRUE(store->AcquireLease("k", Lease(20s), &result).ok());
  const double takeover_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - granted_at)
          .count();
  EXPECT_EQ(result.state, State::kGranted);
  EXPECT_TRUE(result.waited);
  std::cout << "[ FIGURES  ] lease takeover: a SIGKILLed holder's 400 ms lease was granted to "
               "a waiter "
            << takeover_ms << " ms after the holder got it" << std::endl;
  ASSERT_TRUE(store->ReleaseLease("k", result.token).ok());
}

// The release script is run by EVALSHA; a server that lost its script cache
// (restart, SCRIPT FLUSH) gets it again through EVAL.
TEST_F(RedisStoreTest, LeaseReleaseAfterScriptFlush) {
  auto store = Open(server_.url());
  for (int round = 0; round < 2; ++round) {
    LeaseResult held;
    ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &held).ok());
    ASSERT_EQ(held.state, State::kGranted);
    auto c = server_.Connect();
    server_.Command(c.get(), "SCRIPT FLUSH");
    ASSERT_TRUE(store->ReleaseLease("k", held.token).ok());
    EXPECT_EQ(server_.Command(c.get(), "EXISTS %s", "memokey:{k}:lease")->integer, 0);
  }
}

// Redis down: Unavailable (compute anyway), counted, strict or not; no crash.
TEST_F(RedisStoreTest, LeaseWithRedisDown) {
  const std::string query = "backoff_ms=20&timeout_ms=300&connect_timeout_ms=300";
  auto store = Open(server_.url(query));
  auto strict = Open(server_.url(query + "&strict=1"));
  LeaseResult held;
  ASSERT_TRUE(store->AcquireLease("k", Lease(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  // A waiter whose server dies while it waits.
  auto waiter = std::async(std::launch::async, [&] {
    LeaseResult result;
    Status s = strict->AcquireLease("k", Lease(20s), &result);
    return std::make_pair(s, result);
  });
  auto c = server_.Connect();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (server_.Command(c.get(), "PUBSUB NUMSUB %s", "memokey:{k}:done")->element[1]->integer ==
             0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  c.reset();
  server_.Kill();
  auto [status, result] = waiter.get();
  EXPECT_EQ(status.code(), Status::Code::kUnavailable) << status.ToString();
  EXPECT_EQ(result.state, State::kUnsupported);

  for (Store* s : {store.get(), strict.get()}) {
    LeaseResult lease;
    EXPECT_EQ(s->AcquireLease("k", Lease(1s), &lease).code(), Status::Code::kUnavailable);
    EXPECT_EQ(lease.state, State::kUnsupported);
    EXPECT_EQ(s->ReleaseLease("k", held.token).code(), Status::Code::kUnavailable);
    EXPECT_GE(s->Stats().errors, 2u);
  }
}

// --- redis+cluster:// URLs (no cluster needed: nothing connects) --------------

std::string Describe(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  return store ? store->Describe() : "";
}

std::string Refusal(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << url;
  EXPECT_EQ(store, nullptr);
  return s.message();
}

TEST(RedisClusterUrl, CanonicalForm) {
  EXPECT_EQ(Describe("redis+cluster://h1:7000,h2:7001,[::1]:7002"),
            "redis+cluster://h1:7000,h2:7001,[::1]:7002?prefix=memokey:");
  EXPECT_EQ(Describe("redis+cluster://h1/?prefix=app:&pool=2&timeout_ms=50&strict=1"),
            "redis+cluster://h1:6379?prefix=app:&strict=1");
  EXPECT_EQ(Describe("redis+cluster://alice:p%40ss@h:1,h:2?db=0"),
            "redis+cluster://alice:***@h:1,h:2?prefix=memokey:");
  EXPECT_EQ(Describe("redis+cluster://:pw@h:1"), "redis+cluster://:***@h:1?prefix=memokey:");
  // The canonical form opens the same store.
  const std::string canonical = Describe("redis+cluster://a:1,b:2?prefix=x:");
  EXPECT_EQ(Describe(canonical), canonical);
}

TEST(RedisClusterUrl, Refusals) {
  EXPECT_NE(Refusal("redis+cluster://h:1/0").find("only database 0"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1/3").find("only database 0"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1?db=2").find("only database 0"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://").find("no nodes"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1,,h:2").find("empty host"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1,").find("empty host"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1,:2").find("empty host"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1,h:99999").find("'99999'"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:x").find("'x'"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://[::1:7000").find("IPv6"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://alice@h:1").find("'alice'"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1?prefix=a}").find("'a}'"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1?pool=0").find("pool=0"), std::string::npos);
  EXPECT_NE(Refusal("redis+cluster://h:1?bogus=1").find("'bogus'"), std::string::npos);
  EXPECT_NE(Refusal("redis://h:1,h:2").find("redis+cluster://"), std::string::npos);

  memokey::RedisStoreOptions options;
  options.cluster_seeds.push_back({"h", 1});
  options.db = 1;
  std::unique_ptr<Store> store;
  EXPECT_NE(memokey::OpenRedisStore(options, &store).message().find("only database 0"),
            std::string::npos);
  options.db = 0;
  options.cluster_seeds.push_back({"h", 0});
  EXPECT_EQ(memokey::OpenRedisStore(options, &store).code(), Status::Code::kInvalidArgument);
}

}  // namespace
