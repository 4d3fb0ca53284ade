// memokey::memoize over real stores: hits, single flight, exceptions,
// recursion, tampering, an unreachable backend, a failing store (every
// operation an error: still the function's result); and decode_cpp.h's FromValue.

#include "memokey/memo.h"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "memokey/cbor_reader.h"
#include "memokey/decode_cpp.h"
#include "memokey/encode_cpp.h"
#include "memokey/envelope.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace geometry {
struct Point {
  int x = 0;
  int y = 0;
  friend bool operator==(const Point&, const Point&) = default;
};
void memokey_encode(memokey::Encoder& e, const Point& p) {
  memokey::EncodeRecord(e, "geometry:Point", "x", p.x, "y", p.y);
}
memokey::Status memokey_decode(const memokey::Value& v, Point* p) {
  return memokey::DecodeRecord(v, "geometry:Point", "x", &p->x, "y", &p->y);
}
}  // namespace geometry

namespace {

using namespace std::chrono_literals;

std::shared_ptr<memokey::Store> MemoryStore() {
  std::unique_ptr<memokey::Store> store;
  EXPECT_TRUE(memokey::OpenStore("memory://?max_bytes=16M", &store).ok());
  return std::shared_ptr<memokey::Store>(std::move(store));
}

memokey::MemoOptions TestOptions() {
  memokey::MemoOptions options;
  options.secret = "memo-test-secret-0123456789abcdef";
  return options;
}

template <class T>
T RoundTrip(const T& value) {
  memokey::Value decoded;
  const auto bytes = memokey::Canonical(value);
  EXPECT_TRUE(memokey::Decode(memokey::ByteSpan(bytes.data(), bytes.size()), &decoded).ok());
  T out{};
  const memokey::Status status = memokey::FromValue(decoded, &out);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return out;
}

TEST(FromValue, InvertsEncodeForStdTypes) {
  EXPECT_EQ(RoundTrip(-5), -5);
  EXPECT_EQ(RoundTrip(std::uint64_t{18446744073709551615ULL}), 18446744073709551615ULL);
  EXPECT_EQ(RoundTrip(2.5), 2.5);
  EXPECT_EQ(RoundTrip(std::string("ü")), "ü");
  EXPECT_EQ(RoundTrip(std::vector<std::uint8_t>{1, 2}), (std::vector<std::uint8_t>{1, 2}));
  EXPECT_EQ(RoundTrip(std::vector<int>{3, 1, 2}), (std::vector<int>{3, 1, 2}));
  const std::map<std::string, std::vector<double>> m{{"b", {1}}, {"a", {1, 2.5}}};
  EXPECT_EQ(RoundTrip(m), m);
  EXPECT_EQ(RoundTrip(std::set<int>{3, 1}), (std::set<int>{1, 3}));
  EXPECT_EQ(RoundTrip(std::make_tuple(1, std::string("a"), true)),
            std::make_tuple(1, std::string("a"), true));
  EXPECT_EQ(RoundTrip(std::optional<int>()), std::nullopt);
  EXPECT_EQ(RoundTrip(std::optional<int>(4)), 4);
  EXPECT_EQ(RoundTrip(geometry::Point{1, 2}), (geometry::Point{1, 2}));
}

TEST(FromValue, WrongShapeNamesThePath) {
  const auto bytes =
      memokey::Canonical(std::vector<std::map<std::string, int>>{{{"a", 1}}, {{"b", -1}}});
  memokey::Value decoded;
  ASSERT_TRUE(memokey::Decode(memokey::ByteSpan(bytes.data(), bytes.size()), &decoded).ok());
  std::vector<std::map<std::string, std::string>> wrong;
  const memokey::Status s = memokey::FromValue(decoded, &wrong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "at [0][\"a\"]: expected text, found an integer");
  std::vector<std::map<std::string, unsigned>> unsigned_values;
  EXPECT_EQ(memokey::FromValue(decoded, &unsigned_values).message(),
            "at [1][\"b\"]: negative integer for an unsigned type");
  std::tuple<int, int> pair;
  EXPECT_FALSE(memokey::FromValue(decoded, &pair).ok());
}

TEST(Memoize, EqualArgumentsHit) {
  std::atomic<int> calls = 0;
  auto square = memokey::memoize(
      MemoryStore(), "test.square",
      [&](int x) {
        ++calls;
        return x * x;
      },
      TestOptions());
  EXPECT_EQ(square(12), 144);
  EXPECT_EQ(square(12), 144);
  EXPECT_EQ(square(13), 169);
  EXPECT_EQ(calls.load(), 2);
  const memokey::MemoStats stats = square.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_NE(square.key(12), square.key(13));
}

TEST(Memoize, StructuredArgumentsAndResults) {
  std::atomic<int> calls = 0;
  auto bounding = memokey::memoize(
      MemoryStore(), "test.bounding",
      [&](const std::vector<geometry::Point>& points, const std::map<std::string, int>& pad) {
        ++calls;
        geometry::Point hi{};
        for (const auto& p : points) hi = {std::max(hi.x, p.x), std::max(hi.y, p.y)};
        hi.x += pad.at("x");
        return std::make_pair(hi, std::string("ok"));
      },
      TestOptions());
  const std::vector<geometry::Point> points{{1, 5}, {3, 2}};
  const auto first = bounding(points, {{"x", 1}});
  const auto second = bounding(points, {{"x", 1}});
  EXPECT_EQ(first, second);
  EXPECT_EQ(first.first, (geometry::Point{4, 5}));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Memoize, NamespaceAndVersionSeparateEntries) {
  auto store = MemoryStore();
  std::atomic<int> calls = 0;
  auto fn = [&](int x) {
    ++calls;
    return x + 1;
  };
  auto v1 = memokey::memoize(store, "test.inc", fn, TestOptions());
  memokey::MemoOptions v2_options = TestOptions();
  v2_options.version = "2";
  auto v2 = memokey::memoize(store, "test.inc", fn, v2_options);
  memokey::MemoOptions ns_options = TestOptions();
  ns_options.key_namespace = "other";
  auto ns = memokey::memoize(store, "test.inc", fn, ns_options);
  v1(1);
  v2(1);
  ns(1);
  v1(1);
  EXPECT_EQ(calls.load(), 3);
}

// Each stored value carries its function's label, so tools can tell one
// function's entries from another's in a shared store.
TEST(Memoize, ValuesAreLabelledWithTheirFunction) {
  auto store = MemoryStore();
  auto fn = [](int x) { return x + 1; };
  auto plain = memokey::memoize(store, "test.plain", fn, TestOptions());
  memokey::MemoOptions ns_options = TestOptions();
  ns_options.key_namespace = "sim";
  auto spaced = memokey::memoize(store, "test.spaced", fn, ns_options);
  plain(1);
  plain(2);
  spaced(1);
  std::map<std::string, int> per_label;
  memokey::ScanOptions options;
  options.head_bytes = memokey::kEnvelopePeekBytes;
  ASSERT_TRUE(store
                  ->Scan(options,
                         [&](const memokey::StoreEntry& e) {
                           std::string label;
                           EXPECT_TRUE(memokey::PeekEnvelopeLabel(e.head, &label)) << e.key;
                           ++per_label[label];
                           return true;
                         })
                  .ok());
  EXPECT_EQ(per_label, (std::map<std::string, int>{{"test.plain", 2}, {"sim\x1ftest.spaced", 1}}));
  // And the label is authenticated with the value.
  std::string sealed;
  ASSERT_TRUE(store->Get(plain.key(1).hex(), &sealed).ok());
  memokey::Codec codec;
  std::string payload, label;
  const memokey::Secret secret(*TestOptions().secret);
  ASSERT_TRUE(
      memokey::OpenEnvelope(plain.key(1).hex(), sealed, secret, &codec, &payload, &label).ok());
  EXPECT_EQ(label, "test.plain");
}

TEST(Memoize, ConcurrentCallersOfAColdKeyComputeOnce) {
  std::atomic<int> calls = 0;
  auto slow = memokey::memoize(
      MemoryStore(), "test.slow",
      [&](int x) {
        ++calls;
        std::this_thread::sleep_for(100ms);
        return x * 2;
      },
      TestOptions());
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  std::vector<int> results(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[static_cast<std::size_t>(i)] = slow(21);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
}

TEST(Memoize, ExceptionsReachEveryWaiterAndAreNotCached) {
  std::atomic<int> calls = 0;
  auto failing = memokey::memoize(
      MemoryStore(), "test.failing",
      [&](int x) -> int {
        ++calls;
        std::this_thread::sleep_for(50ms);
        if (calls.load() == 1) throw std::runtime_error("boom");
        return x;
      },
      TestOptions());
  constexpr int kThreads = 4;
  std::barrier start(kThreads);
  std::atomic<int> errors = 0;
  std::atomic<int> successes = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        if (failing(7) == 7) ++successes;
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "boom") ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  // The first computation throws; every caller that waited on it gets the
  // same exception. Callers arriving after it ended compute afresh (and succeed).
  EXPECT_GE(errors.load(), 1);
  EXPECT_EQ(errors.load() + successes.load(), kThreads);
  // Not cached: the next call computes again and succeeds.
  const int before = calls.load();
  EXPECT_EQ(failing(7), 7);
  EXPECT_EQ(calls.load(), before + 1);
}

TEST(Memoize, RecursionIntoTheSameKeyDoesNotDeadlock) {
  std::function<long(int)> fib_impl;
  auto fib = std::make_shared<memokey::Memoized<long, int>>(
      MemoryStore(), "test.fib", [&](int n) { return fib_impl(n); }, TestOptions());
  bool reentered = false;
  fib_impl = [&](int n) -> long {
    if (n < 2) return n;
    if (n == 10 && !reentered) {
      reentered = true;
      EXPECT_EQ((*fib)(10), 55);  // re-enters its own key while computing it
    }
    return (*fib)(n - 1) + (*fib)(n - 2);
  };
  EXPECT_EQ((*fib)(30), 832040);
  EXPECT_TRUE(reentered);
  EXPECT_EQ((*fib)(30), 832040);  // now a hit
}

TEST(Memoize, TamperedValuesAreRejectedAndRecomputed) {
  auto store = MemoryStore();
  std::atomic<int> calls = 0;
  auto fn = memokey::memoize(
      store, "test.tamper",
      [&](int x) {
        ++calls;
        return std::string(100, static_cast<char>('a' + x));
      },
      TestOptions());
  EXPECT_EQ(fn(1), std::string(100, 'b'));
  const std::string store_key = fn.key(1).hex();
  std::string sealed;
  ASSERT_TRUE(store->Get(store_key, &sealed).ok());
  sealed[sealed.size() / 2] ^= 0x01;
  ASSERT_TRUE(store->Put(store_key, sealed).ok());
  EXPECT_EQ(fn(1), std::string(100, 'b'));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(fn.stats().rejected, 1u);

  // A value sealed with another secret is rejected too.
  memokey::MemoOptions other = TestOptions();
  other.secret = "another-secret-of-sufficient-length";
  auto foreign = memokey::memoize(
      store, "test.tamper", [&](int) { return std::string("forged"); }, other);
  const std::string forged_key = foreign.key(2).hex();
  foreign(2);  // writes a value under the other secret
  std::string forged;
  ASSERT_TRUE(store->Get(forged_key, &forged).ok());
  EXPECT_EQ(fn(2), std::string(100, 'c'));
  EXPECT_EQ(fn.stats().rejected, 2u);
}

TEST(Memoize, UnreachableBackendStillReturnsResults) {
  std::unique_ptr<memokey::Store> store;
  // Port 1 on loopback: nothing listens there, connects fail at once.
  ASSERT_TRUE(memokey::OpenStore("redis://127.0.0.1:1?connect_timeout_ms=100", &store).ok());
  std::atomic<int> calls = 0;
  auto fn = memokey::memoize(
      std::shared_ptr<memokey::Store>(std::move(store)), "test.down",
      [&](int x) {
        ++calls;
        return x - 1;
      },
      TestOptions());
  EXPECT_EQ(fn(5), 4);
  EXPECT_EQ(fn(5), 4);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_GE(fn.stats().store_errors, 1u);
}

// A store that fails: each operation answers `failure`, except those
// configured to succeed (a miss, a granted lease), so that every path of a
// memoized call meets a failing store somewhere.
class FailingStore final : public memokey::Store {
 public:
  explicit FailingStore(memokey::Status failure) : failure_(std::move(failure)) {}

  bool get_misses = false;     // Get answers NotFound instead of failing
  bool lease_granted = false;  // AcquireLease grants instead of failing
  std::atomic<int> gets{0}, puts{0}, leases{0}, releases{0};

  memokey::Status Get(std::string_view, std::string*) override {
    ++gets;
    return get_misses ? memokey::Status::NotFound() : failure_;
  }
  memokey::Status Put(std::string_view, std::string_view, std::chrono::milliseconds) override {
    ++puts;
    return failure_;
  }
  memokey::Status Delete(std::string_view) override { return failure_; }
  memokey::Status Contains(std::string_view, bool*) override { return failure_; }
  memokey::StoreStats Stats() const override { return {}; }
  memokey::Status AcquireLease(std::string_view, const memokey::LeaseOptions&,
                               memokey::LeaseResult* out) override {
    ++leases;
    if (!lease_granted) return failure_;
    out->state = memokey::LeaseResult::State::kGranted;
    out->token = "token";
    return memokey::Status::Ok();
  }
  memokey::Status ReleaseLease(std::string_view, std::string_view) override {
    ++releases;
    return failure_;
  }
  std::string Describe() const override { return "failing://"; }

 private:
  memokey::Status failure_;
};

TEST(Memoize, NoStoreFailureReachesTheCaller) {
  for (const memokey::Status& failure :
       {memokey::Status::IOError("disk on fire"), memokey::Status::Corruption("torn page"),
        memokey::Status::Unavailable("nobody home")}) {
    SCOPED_TRACE(failure.ToString());
    for (const bool partial : {false, true}) {
      auto store = std::make_shared<FailingStore>(failure);
      // partial: lookups miss and the lease is granted, so the write and the
      // release are what fail.
      store->get_misses = partial;
      store->lease_granted = partial;
      memokey::MemoOptions options = TestOptions();
      std::vector<std::string> reports;
      options.on_store_error = [&](const std::string& message) { reports.push_back(message); };
      std::atomic<int> calls = 0;
      auto fn = memokey::memoize(
          store, "test.failing",
          [&](int x) {
            ++calls;
            if (x < 0) throw std::domain_error("negative");
            return x * 3;
          },
          options);
      for (int i = 0; i < 5; ++i) EXPECT_EQ(fn(7), 21);
      EXPECT_EQ(calls.load(), 5);
      // The function's own exception, not a store error.
      EXPECT_THROW(fn(-1), std::domain_error);
      EXPECT_EQ(calls.load(), 6);
      EXPECT_GE(store->puts.load(), 5);
      if (partial) {
        EXPECT_EQ(store->releases.load(), 6);  // also after the exception
        // Each call's write and release; the raising call's release.
        EXPECT_EQ(fn.stats().store_errors, 5u * 2 + 1);
      } else {
        // Each call's lookup, lease and write; the raising call's lookup and lease.
        EXPECT_EQ(fn.stats().store_errors, 5u * 3 + 2);
      }
      ASSERT_EQ(reports.size(), 1u);  // reported once, naming the store and the failure
      EXPECT_NE(reports[0].find("failing://"), std::string::npos) << reports[0];
      EXPECT_NE(reports[0].find(failure.message()), std::string::npos) << reports[0];
      EXPECT_NE(reports[0].find("test.failing"), std::string::npos) << reports[0];
    }
  }
}

TEST(Memoize, StrictRaisesStoreFailures) {
  auto store = std::make_shared<FailingStore>(memokey::Status::IOError("disk on fire"));
  memokey::MemoOptions options = TestOptions();
  options.strict = true;
  options.on_store_error = [](const std::string&) {
    ADD_FAILURE() << "strict: raised, not reported";
  };
  std::atomic<int> calls = 0;
  auto fn = memokey::memoize(
      store, "test.strict",
      [&](int x) {
        ++calls;
        return x;
      },
      options);
  try {
    fn(1);
    ADD_FAILURE() << "no StoreError";
  } catch (const memokey::StoreError& e) {
    EXPECT_EQ(e.status().code(), memokey::Status::Code::kIOError);
    EXPECT_NE(std::string(e.what()).find("disk on fire"), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls.load(), 0);  // the lookup failed: nothing computed

  // A failing write raises too, and a waiter is not left waiting.
  store->get_misses = true;
  store->lease_granted = true;
  EXPECT_THROW(fn(2), memokey::StoreError);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(store->releases.load(), 1);
  EXPECT_THROW(fn(2), memokey::StoreError);
  EXPECT_EQ(calls.load(), 2);

  // A store whose URL says strict=1 makes the memoizer strict by itself.
  std::unique_ptr<memokey::Store> redis;
  ASSERT_TRUE(
      memokey::OpenStore("redis://127.0.0.1:1?connect_timeout_ms=100&strict=1", &redis).ok());
  auto down = memokey::memoize(
      std::shared_ptr<memokey::Store>(std::move(redis)), "test.strict.redis",
      [](int x) { return x; }, TestOptions());
  EXPECT_THROW(down(1), memokey::StoreError);
}

TEST(Memoize, StaleWhileRevalidateServesTheOldValueWhileOneCallerRefreshes) {
  auto store = MemoryStore();
  memokey::MemoOptions options = TestOptions();
  options.ttl = 100ms;
  options.stale_while_revalidate = 60s;
  std::atomic<int> calls{0};
  std::atomic<bool> refreshing{false}, finish{false};
  auto fn = memokey::memoize(
      store, "test.swr",
      [&](int) {
        const int n = calls.fetch_add(1) + 1;
        if (n == 2) {  // the refresh: hold it until the others have been served
          refreshing = true;
          while (!finish) std::this_thread::sleep_for(1ms);
        }
        return n;
      },
      options);
  EXPECT_EQ(fn(0), 1);
  EXPECT_EQ(fn(0), 1);                 // fresh hit
  std::this_thread::sleep_for(150ms);  // past ttl, within the stale window
  std::thread refresher([&] { EXPECT_EQ(fn(0), 2); });
  while (!refreshing) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fn(0), 1);  // the old value, at once
  finish = true;
  refresher.join();
  EXPECT_EQ(fn(0), 2);  // the refreshed value, fresh again
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(fn.stats().stale_served, 3u);
  EXPECT_EQ(fn.stats().revalidated, 1u);
}

TEST(Memoize, StaleWhileRevalidateNeedsATtl) {
  memokey::MemoOptions options = TestOptions();
  options.stale_while_revalidate = 1s;
  EXPECT_THROW(memokey::memoize(
                   MemoryStore(), "test.swr.nottl", [](int x) { return x; }, options),
               std::invalid_argument);
}

}  // namespace
