// The library's http:// store against a real memokeyd started by the test.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "memokey/memo.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace {

using namespace std::chrono_literals;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// One memokeyd child process; killed when the object goes away.
class Server {
 public:
  explicit Server(std::vector<std::string> extra = {})
      : port_(FreePort()), extra_(std::move(extra)) {
    Start();
  }
  ~Server() { Stop(); }

  void Start() {
    std::vector<std::string> args = {
        MEMOKEYD_PATH, "--listen", "127.0.0.1:" + std::to_string(port_), "--threads", "1",
        "--log-level", "warn"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    // Ready once it accepts connections.
    for (int i = 0; i < 200; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(port_));
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (up) return;
      std::this_thread::sleep_for(25ms);
    }
    ADD_FAILURE() << "memokeyd did not start on port " << port_;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string Url(const std::string& ns, const std::string& token = "",
                  const std::string& query = "") const {
    return "http://" + (token.empty() ? "" : token + "@") + "127.0.0.1:" + std::to_string(port_) +
           "/" + ns + query;
  }

 private:
  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

std::unique_ptr<memokey::Store> Open(const std::string& url) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status s = memokey::OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

TEST(HttpStore, RoundTripMissDeleteContains) {
  Server server;
  auto store = Open(server.Url("ns"));
  std::string value;
  EXPECT_TRUE(store->Get("absent", &value).IsNotFound());
  ASSERT_TRUE(store->Put("k1", "hello").ok());
  ASSERT_TRUE(store->Get("k1", &value).ok());
  EXPECT_EQ(value, "hello");
  bool present = false;
  ASSERT_TRUE(store->Contains("k1", &present).ok());
  EXPECT_TRUE(present);
  ASSERT_TRUE(store->Delete("k1").ok());
  EXPECT_TRUE(store->Get("k1", &value).IsNotFound());
  ASSERT_TRUE(store->Contains("k1", &present).ok());
  EXPECT_FALSE(present);
  // Many requests over the pooled keep-alive connections.
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(store->Put("n" + std::to_string(i), std::string(i, 'x')).ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(store->Get("n" + std::to_string(i), &value).ok());
    EXPECT_EQ(value.size(), static_cast<std::size_t>(i));
  }
  const memokey::StoreStats stats = store->Stats();
  EXPECT_EQ(stats.errors, 0u);
  EXPECT_EQ(stats.hits, 201u);
}

TEST(HttpStore, BinaryKeysLargeValuesAndNamespaces) {
  Server server;
  auto a = Open(server.Url("team-a"));
  auto b = Open(server.Url("team-b"));
  const std::string binary_key("\x00\xff/..\x01", 6);
  const std::string large(3 << 20, '\x5a');
  ASSERT_TRUE(a->Put(binary_key, large).ok());
  ASSERT_TRUE(a->Put("~7e", "looks encoded").ok());  // must not collide with an encoded key
  std::string value;
  ASSERT_TRUE(a->Get(binary_key, &value).ok());
  EXPECT_EQ(value, large);
  ASSERT_TRUE(a->Get("~7e", &value).ok());
  EXPECT_EQ(value, "looks encoded");
  EXPECT_TRUE(a->Get("~", &value).IsNotFound());
  EXPECT_TRUE(b->Get(binary_key, &value).IsNotFound());  // namespaces are separate
}

TEST(HttpStore, TtlIsSentToTheServer) {
  Server server;
  auto store = Open(server.Url("ns"));
  ASSERT_TRUE(store->Put("short", "v", 100ms).ok());
  ASSERT_TRUE(store->Put("long", "v").ok());
  std::this_thread::sleep_for(400ms);
  std::string value;
  EXPECT_TRUE(store->Get("short", &value).IsNotFound());
  EXPECT_TRUE(store->Get("long", &value).ok());
}

TEST(HttpStore, GetWithTtlReportsTheRemainingTime) {
  Server server;
  auto store = Open(server.Url("ns"));
  ASSERT_TRUE(store->Put("brief", "v", 60s).ok());
  ASSERT_TRUE(store->Put("forever", "w").ok());
  std::string value;
  std::chrono::milliseconds ttl_left{-1};
  ASSERT_TRUE(store->GetWithTtl("brief", &value, &ttl_left).ok());
  EXPECT_EQ(value, "v");
  EXPECT_GT(ttl_left.count(), 0);
  EXPECT_LE(ttl_left.count(), 60000);
  ASSERT_TRUE(store->GetWithTtl("forever", &value, &ttl_left).ok());
  EXPECT_EQ(value, "w");
  EXPECT_EQ(ttl_left.count(), 0);  // no expiry
  EXPECT_TRUE(store->GetWithTtl("absent", &value, &ttl_left).IsNotFound());
}

TEST(HttpStore, TokensAndRights) {
  Server server({"--token", "rw:ns:writer-secret", "--token", "r:ns:reader-secret"});
  auto writer = Open(server.Url("ns", "writer-secret"));
  auto reader = Open(server.Url("ns", "u:reader-secret"));  // user:token form, as ccache writes
  auto nobody = Open(server.Url("ns", "", "?strict=1"));
  ASSERT_TRUE(writer->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(reader->Get("k", &value).ok());
  EXPECT_EQ(value, "v");
  const memokey::Status refused = reader->Put("k", "forged");
  EXPECT_EQ(refused.code(), memokey::Status::Code::kUnavailable);
  EXPECT_NE(refused.message().find("403"), std::string::npos) << refused.message();
  const memokey::Status anonymous = nobody->Get("k", &value);
  EXPECT_NE(anonymous.message().find("401"), std::string::npos) << anonymous.message();
  ASSERT_TRUE(writer->Get("k", &value).ok());
  EXPECT_EQ(value, "v");
}

TEST(HttpStore, ServerDownIsAMissAndRecovers) {
  Server server;
  auto store = Open(server.Url("ns", "", "?connect_timeout_ms=200&timeout_ms=500"));
  ASSERT_TRUE(store->Put("k", "v").ok());
  server.Stop();
  std::string value;
  EXPECT_TRUE(store->Get("k", &value).IsNotFound());
  EXPECT_EQ(store->Put("k2", "v").code(), memokey::Status::Code::kUnavailable);
  EXPECT_GE(store->Stats().errors, 2u);
  server.Start();  // a new, empty server on the same port
  EXPECT_TRUE(store->Get("k", &value).IsNotFound());
  ASSERT_TRUE(store->Put("k", "again").ok());
  ASSERT_TRUE(store->Get("k", &value).ok());
  EXPECT_EQ(value, "again");
}

TEST(HttpStore, MemoizeSharesResultsThroughTheServer) {
  Server server;
  memokey::MemoOptions options;
  options.secret = "http-store-test-secret-0123456789";
  int calls = 0;
  auto fn = [&](const std::string& s) {
    ++calls;
    return s + s;
  };
  auto first = memokey::memoize(std::shared_ptr<memokey::Store>(Open(server.Url("memo"))),
                                "test.double", fn, options);
  auto second = memokey::memoize(std::shared_ptr<memokey::Store>(Open(server.Url("memo"))),
                                 "test.double", fn, options);
  EXPECT_EQ(first("ab"), "abab");
  EXPECT_EQ(second("ab"), "abab");  // another client: a hit through the server
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(second.stats().hits, 1u);
}

using memokey::LeaseOptions;
using memokey::LeaseResult;
using LeaseState = memokey::LeaseResult::State;

LeaseOptions LeaseFor(std::chrono::milliseconds wait, std::chrono::milliseconds ttl = 60s) {
  LeaseOptions options;
  options.wait = wait;
  options.ttl = ttl;
  return options;
}

TEST(HttpStore, LeasesThroughTheServer) {
  Server server;
  auto holder = Open(server.Url("ns"));
  auto other = Open(server.Url("ns"));
  LeaseResult held;
  ASSERT_TRUE(holder->AcquireLease("k", LeaseFor(0ms), &held).ok());
  ASSERT_EQ(held.state, LeaseState::kGranted);
  LeaseResult busy;
  ASSERT_TRUE(other->AcquireLease("k", LeaseFor(0ms), &busy).ok());
  EXPECT_EQ(busy.state, LeaseState::kTimedOut);
  EXPECT_TRUE(busy.waited);
  // A waiter wakes when the holder stores and releases, with the value.
  std::thread waiter([&] {
    LeaseResult got;
    EXPECT_TRUE(other->AcquireLease("k", LeaseFor(30s), &got).ok());
    EXPECT_EQ(got.state, LeaseState::kValue);
    EXPECT_EQ(got.value, "computed");
    EXPECT_GT(got.ttl_left.count(), 0);
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(other->ReleaseLease("k", "not-the-token").ok());  // no effect
  ASSERT_TRUE(holder->Put("k", "computed", 60s).ok());
  ASSERT_TRUE(holder->ReleaseLease("k", held.token).ok());
  waiter.join();
}

TEST(HttpStore, ALeaseWhoseHolderVanishedExpires) {
  Server server;
  auto holder = Open(server.Url("ns"));
  auto other = Open(server.Url("ns"));
  LeaseResult held, next;
  ASSERT_TRUE(holder->AcquireLease("k", LeaseFor(0ms, 200ms), &held).ok());
  ASSERT_EQ(held.state, LeaseState::kGranted);
  holder.reset();  // never releases
  ASSERT_TRUE(other->AcquireLease("k", LeaseFor(30s), &next).ok());
  EXPECT_EQ(next.state, LeaseState::kGranted);
  EXPECT_TRUE(next.waited);
}

TEST(HttpStore, LeasesNeedTheRightToWrite) {
  Server server({"--token", "rw:ns:writer-secret", "--token", "r:ns:reader-secret"});
  auto reader = Open(server.Url("ns", "reader-secret"));
  LeaseResult r;
  const memokey::Status refused = reader->AcquireLease("k", LeaseFor(0ms), &r);
  EXPECT_EQ(refused.code(), memokey::Status::Code::kUnavailable);
  EXPECT_NE(refused.message().find("403"), std::string::npos) << refused.message();
}

TEST(HttpStore, MemoizeComputesOnceAcrossClientsAndThreads) {
  Server server;
  memokey::MemoOptions options;
  options.secret = "http-store-test-secret-0123456789";
  std::atomic<int> calls{0};
  auto slow = [&](std::int64_t x) {
    std::this_thread::sleep_for(300ms);
    calls.fetch_add(1);
    return x * 3;
  };
  // Four clients (as four processes would be), four threads each.
  std::vector<decltype(memokey::memoize(std::shared_ptr<memokey::Store>(), "", slow, options))>
      clients;
  for (int c = 0; c < 4; ++c) {
    clients.push_back(memokey::memoize(std::shared_ptr<memokey::Store>(Open(server.Url("memo"))),
                                       "test.triple", slow, options));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (auto& client : clients) {
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        if (client(14) != 42) wrong.fetch_add(1);
      });
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
  std::uint64_t lease_hits = 0;
  for (auto& client : clients) lease_hits += client.stats().lease_hits;
  // The other clients' winners waited for the holder (unless one started so
  // late that the value was already there: a plain hit).
  EXPECT_LE(lease_hits, 3u);
}

}  // namespace
