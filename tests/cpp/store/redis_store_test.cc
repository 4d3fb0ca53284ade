// redis:// — against a redis-server each test starts on a free loopback port.

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
#include "store_test_util.h"

namespace {

using memokey::OpenStore;
using memokey::Status;
using memokey::Store;
using memokey_store_test::MakeValue;
using memokey_store_test::RedisServer;
using memokey_store_test::SeedOf;
using memokey_store_test::ValueIsIntact;
using namespace std::chrono_literals;

std::unique_ptr<Store> Open(const std::string& url) {
  std::unique_ptr<Store> store;
  Status s = OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  return store;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  RedisServer server_;
};

TEST_F(RedisStoreTest, RoundTrip) {
  auto store = Open(server_.url());
  std::string value;
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  ASSERT_TRUE(store->Put("a", "one").ok());
  ASSERT_TRUE(store->Get("a", &value).ok());
  EXPECT_EQ(value, "one");
  const std::string binary_key("k\0}{\xff", 5);
  const std::string binary = MakeValue(3, 1 << 20);
  ASSERT_TRUE(store->Put(binary_key, binary).ok());
  ASSERT_TRUE(store->Get(binary_key, &value).ok());
  EXPECT_TRUE(value == binary);
  ASSERT_TRUE(store->Put("empty", "").ok());
  ASSERT_TRUE(store->Get("empty", &value).ok());
  EXPECT_EQ(value, "");
  bool present = false;
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_TRUE(present);
  ASSERT_TRUE(store->Delete("a").ok());
  ASSERT_TRUE(store->Contains("a", &present).ok());
  EXPECT_FALSE(present);
  EXPECT_TRUE(store->Get("a", &value).IsNotFound());
  EXPECT_EQ(store->Put("", "x").code(), Status::Code::kInvalidArgument);

  const memokey::StoreStats stats = store->Stats();
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.puts, 3u);
  EXPECT_EQ(stats.deletes, 1u);
  EXPECT_EQ(stats.errors, 0u);
}

TEST_F(RedisStoreTest, KeyLayoutIsPrefixAndHashTag) {
  auto store = Open(server_.url("prefix=app:v1:"));
  ASSERT_TRUE(store->Put("abc", "v").ok());
  auto c = server_.Connect();
  auto reply = server_.Command(c.get(), "GET %s", "app:v1:{abc}");
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string(reply->str, reply->len), "v");
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

// A store whose pool already holds connections is used by forked children and
// the parent at once: each process must get its own connections, or replies
// meant for one would be read by another.
TEST_F(RedisStoreTest, StoreInheritedThroughFork) {
  auto store = Open(server_.url("pool=2"));
  ASSERT_TRUE(store->Put("before", "fork").ok());
  auto work = [&](int who) {
    int failures = 0;
    std::string v;
    for (int i = 0; i < 300; ++i) {
      const std::string key = "p" + std::to_string(who) + "/" + std::to_string(i % 20);
      const std::uint64_t seed =
          static_cast<std::uint64_t>(who) << 32 | static_cast<std::uint64_t>(i);
      if (!store->Put(key, MakeValue(seed, 50 + i)).ok()) ++failures;
      if (!store->Get(key, &v).ok() || SeedOf(v) != seed || !ValueIsIntact(v)) ++failures;
      if (!store->Get("before", &v).ok() || v != "fork") ++failures;
    }
    return failures;
  };
  std::vector<pid_t> children;
  for (int c = 1; c <= 4; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(work(c) == 0 ? 0 : 1);
    children.push_back(pid);
  }
  EXPECT_EQ(work(0), 0);
  for (pid_t pid : children) EXPECT_TRUE(memokey_store_test::ChildSucceeded(pid));
  EXPECT_EQ(store->Stats().errors, 0u);
}

TEST_F(RedisStoreTest, ThreadsShareThePool) {
  auto store = Open(server_.url("pool=3"));
  std::atomic<int> bad{0}, hits{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t));
      std::string value;
      for (int i = 0; i < 400; ++i) {
        const std::string key = "k" + std::to_string(rng() % 32);
        if (rng() % 3 == 0) {
          if (!store->Put(key, MakeValue(rng(), 16 + rng() % 20000)).ok()) ++errors;
        } else if (Status s = store->Get(key, &value); s.ok()) {
          ++hits;
          if (!ValueIsIntact(value)) ++bad;
        } else if (!s.IsNotFound()) {
          ++errors;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(hits.load(), 0);
  EXPECT_EQ(store->Stats().errors, 0u);
}

}  // namespace
