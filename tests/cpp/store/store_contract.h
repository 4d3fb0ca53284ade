// The contract every Store backend keeps, written once (store_contract.cc) as
// value-parameterised suites. Each backend's test file instantiates them with
// a StoreBackend — how to start what its stores need (a directory, a
// redis-server, a cluster), how to open one, and the numbers that suit it —
// and keeps its own specific tests beside:
//
//   StoreContract        every backend: put/get/overwrite/delete with binary
//                        keys and values, key and TTL limits, threads;
//   ForkedStoreContract  stores that processes share (disk, Redis, cluster):
//                        a store inherited through fork();
//   LocalStoreContract   stores that keep their own byte budget and entry
//                        counts (memory, disk): TTL expiry, expired entries
//                        evicted before live ones.

#ifndef MEMOKEY_TESTS_CPP_STORE_STORE_CONTRACT_H_
#define MEMOKEY_TESTS_CPP_STORE_STORE_CONTRACT_H_

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "memokey/store.h"
#include "store_test_util.h"

namespace memokey_store_test {

// What one test's stores live in; destroyed (server killed, directory
// removed) when the test ends.
class StoreHome {
 public:
  virtual ~StoreHome() = default;
  // A store in this home (EXPECTs success). `max_bytes` and `shards` bound
  // it where the backend has such a bound; 0 is the backend's test default.
  virtual std::unique_ptr<memokey::Store> Open(std::uint64_t max_bytes = 0,
                                               unsigned shards = 0) = 0;
};

// The numbers' defaults are those the Redis tests ran with.
struct StoreBackend {
  std::string name;  // the instantiation's suffix: letters and digits only
  // Starts a home; nullptr (after a failed assertion) when it cannot.
  std::function<std::unique_ptr<StoreHome>()> start;
  // Stats().entries and .bytes are kept (memory, disk).
  bool counts_entries = false;
  // Contains() counts as a hit or a miss in Stats() (disk; memory and Redis
  // count Get calls only).
  bool counts_contains = false;

  // ThreadsNeverSeeTornValues: 8 threads of `ops` operations on `keys` keys,
  // values of 16 to 16 + value_spread bytes, a store of `max_bytes` (0: the
  // default) in `shards` shards; with max_bytes, Stats().bytes stays within.
  struct Threads {
    int ops = 400;
    int keys = 32;
    std::size_t value_spread = 20000;
    std::uint64_t max_bytes = 0;
    unsigned shards = 0;
  } threads;

  // ForkedStoreContract: `children` forked processes and this one each run
  // `iterations` put/get rounds over `keys` keys of their own, values of
  // value_base + round bytes.
  struct Fork {
    int children = 4;
    int iterations = 300;
    int keys = 20;
    std::size_t value_base = 50;
  } fork;

  // LocalStoreContract.ExpiredEntriesAreEvictedFirst: `entries` live and
  // `entries` expiring values of 1 KiB in a store of `max_bytes`.
  struct Expiry {
    int entries = 8;
    std::uint64_t max_bytes = 0;
    unsigned shards = 0;
  } expiry;
};

// The home of a server's stores: `Server` (RedisServer, RedisCluster) is
// started with the test and killed after; every store opens url(server).
template <class Server>
class ServerHome : public StoreHome {
 public:
  using Url = std::function<std::string(const Server&)>;
  explicit ServerHome(Url url) : url_(std::move(url)) {}
  std::unique_ptr<memokey::Store> Open(std::uint64_t /*max_bytes*/, unsigned /*shards*/) override {
    return OpenUrl(url_(server_));
  }
  // For StoreBackend::start.
  static std::function<std::unique_ptr<StoreHome>()> Starter(Url url) {
    return [url]() -> std::unique_ptr<StoreHome> {
      auto home = std::make_unique<ServerHome>(url);
      const ::testing::AssertionResult started = home->server_.Start();
      EXPECT_TRUE(started);
      if (!started) return nullptr;
      return home;
    };
  }

 private:
  Url url_;
  Server server_;
};

// A backend whose stores live on a `Server`, with the default numbers.
template <class Server>
StoreBackend ServerBackend(std::string name, typename ServerHome<Server>::Url url) {
  StoreBackend backend;
  backend.name = std::move(name);
  backend.start = ServerHome<Server>::Starter(std::move(url));
  return backend;
}

inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

// The instantiation name generator: the backend's name.
inline std::string BackendName(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreContractBase : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    home_ = GetParam().start();
    ASSERT_NE(home_, nullptr) << GetParam().name << ": cannot start";
  }
  std::unique_ptr<memokey::Store> Open(std::uint64_t max_bytes = 0, unsigned shards = 0) {
    return home_->Open(max_bytes, shards);
  }

  std::unique_ptr<StoreHome> home_;
};

class StoreContract : public StoreContractBase {};
class ForkedStoreContract : public StoreContractBase {};
class LocalStoreContract : public StoreContractBase {};

}  // namespace memokey_store_test

#endif  // MEMOKEY_TESTS_CPP_STORE_STORE_CONTRACT_H_
