// Leases of the stores that need no server: memory:// (a table in this
// process), disk:// (lock files) and tiered: (the slowest tier with leases).
// Redis leases are tested in redis_store_test.cc, memokeyd's in
// tests/integration.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "memokey/tiered_store.h"
#include "store_test_util.h"

namespace {

using namespace std::chrono_literals;
using memokey::LeaseOptions;
using memokey::LeaseResult;
using memokey::Store;
using State = memokey::LeaseResult::State;
using memokey_store_test::TempDir;

std::unique_ptr<Store> Open(const std::string& url) {
  std::unique_ptr<Store> store;
  EXPECT_TRUE(memokey::OpenStore(url, &store).ok()) << url;
  return store;
}

LeaseOptions Quick(std::chrono::milliseconds wait, std::chrono::milliseconds ttl = 60s) {
  LeaseOptions options;
  options.ttl = ttl;
  options.wait = wait;
  return options;
}

// The same contract for every store kind.
class LeaseContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url = GetParam();
    const std::size_t at = url.find("DIR");
    if (at != std::string::npos) url.replace(at, 3, dir_.path());
    store_ = Open(url);
    ASSERT_TRUE(store_);
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(LeaseContract, GrantsOneHolderAtATime) {
  LeaseResult first, second;
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &first).ok());
  ASSERT_EQ(first.state, State::kGranted);
  EXPECT_FALSE(first.token.empty());
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &second).ok());
  EXPECT_EQ(second.state, State::kTimedOut);
  EXPECT_TRUE(second.waited);
  // Another key is independent.
  LeaseResult other;
  ASSERT_TRUE(store_->AcquireLease("other", Quick(0ms), &other).ok());
  EXPECT_EQ(other.state, State::kGranted);
  ASSERT_TRUE(store_->ReleaseLease("k", first.token).ok());
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &second).ok());
  EXPECT_EQ(second.state, State::kGranted);
}

TEST_P(LeaseContract, OnlyTheHolderReleases) {
  LeaseResult held, probe;
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  EXPECT_TRUE(store_->ReleaseLease("k", "not-the-token").ok());
  EXPECT_TRUE(store_->ReleaseLease("k", "0:" + held.token + "x").ok());
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &probe).ok());
  EXPECT_EQ(probe.state, State::kTimedOut);
  ASSERT_TRUE(store_->ReleaseLease("k", held.token).ok());
}

TEST_P(LeaseContract, AWaiterGetsTheHoldersValue) {
  LeaseResult held;
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  auto waiter = std::async(std::launch::async, [&] {
    LeaseResult r;
    EXPECT_TRUE(store_->AcquireLease("k", Quick(30s), &r).ok());
    return r;
  });
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(store_->Put("k", "the value", 10s).ok());
  ASSERT_TRUE(store_->ReleaseLease("k", held.token).ok());
  const LeaseResult got = waiter.get();
  EXPECT_EQ(got.state, State::kValue);
  EXPECT_EQ(got.value, "the value");
  EXPECT_GT(got.ttl_left.count(), 0);
}

TEST_P(LeaseContract, AReleaseWithoutValueHandsTheLeaseOn) {
  // The holder failed (its function threw): the waiter becomes the holder.
  LeaseResult held;
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &held).ok());
  auto waiter = std::async(std::launch::async, [&] {
    LeaseResult r;
    EXPECT_TRUE(store_->AcquireLease("k", Quick(30s), &r).ok());
    return r;
  });
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(store_->ReleaseLease("k", held.token).ok());
  const LeaseResult got = waiter.get();
  EXPECT_EQ(got.state, State::kGranted);
  EXPECT_NE(got.token, held.token);
}

TEST_P(LeaseContract, AValueAlreadyThereIsReturnedInsteadOfALease) {
  ASSERT_TRUE(store_->Put("k", "v").ok());
  LeaseResult r;
  ASSERT_TRUE(store_->AcquireLease("k", Quick(0ms), &r).ok());
  EXPECT_EQ(r.state, State::kValue);
  EXPECT_EQ(r.value, "v");
  // check_value=false: only the lease (refreshing a stale value).
  LeaseOptions refresh = Quick(0ms);
  refresh.check_value = false;
  ASSERT_TRUE(store_->AcquireLease("k", refresh, &r).ok());
  EXPECT_EQ(r.state, State::kGranted);
  EXPECT_TRUE(store_->ReleaseLease("k", r.token).ok());
}

TEST_P(LeaseContract, BadKeysAreRefused) {
  LeaseResult r;
  EXPECT_FALSE(store_->AcquireLease("", Quick(0ms), &r).ok());
  EXPECT_FALSE(store_->AcquireLease(std::string(600, 'x'), Quick(0ms), &r).ok());
  EXPECT_FALSE(store_->ReleaseLease("", "t").ok());
}

INSTANTIATE_TEST_SUITE_P(Stores, LeaseContract,
                         ::testing::Values("memory://", "disk://DIR/d?sync=none",
                                           "tiered:memory://|disk://DIR/t?sync=none"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           const std::string& url = param.param;
                           return url.starts_with("memory") ? std::string("Memory")
                                  : url.starts_with("disk") ? std::string("Disk")
                                                            : std::string("Tiered");
                         });

TEST(MemoryLease, AnExpiredLeaseIsTakenOver) {
  auto store = Open("memory://");
  LeaseResult held, next;
  ASSERT_TRUE(store->AcquireLease("k", Quick(0ms, 100ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  // The waiter outlives the (never released) lease's 100 ms ttl.
  ASSERT_TRUE(store->AcquireLease("k", Quick(30s), &next).ok());
  EXPECT_EQ(next.state, State::kGranted);
  EXPECT_TRUE(next.waited);
  // The old holder's late release does not end the new lease.
  ASSERT_TRUE(store->ReleaseLease("k", held.token).ok());
  LeaseResult probe;
  ASSERT_TRUE(store->AcquireLease("k", Quick(0ms), &probe).ok());
  EXPECT_EQ(probe.state, State::kTimedOut);
}

TEST(DiskLease, ADeadHoldersLeaseEndsWithItsProcess) {
  TempDir dir;
  const std::string url = "disk://" + dir.path() + "/d?sync=none";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    std::unique_ptr<Store> store;
    LeaseResult held;
    if (!memokey::OpenStore(url, &store).ok() ||
        !store->AcquireLease("k", Quick(0ms), &held).ok() || held.state != State::kGranted) {
      ::_exit(1);
    }
    [[maybe_unused]] const ssize_t n = ::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto store = Open(url);
  LeaseResult probe;
  ASSERT_TRUE(store->AcquireLease("k", Quick(0ms), &probe).ok());
  EXPECT_EQ(probe.state, State::kTimedOut);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(store->AcquireLease("k", Quick(30s), &probe).ok());
  EXPECT_EQ(probe.state, State::kGranted);
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(TieredLease, TheSlowestTierHoldsTheLeaseAndBackfills) {
  TempDir dir;
  auto store = Open("tiered:memory://|disk://" + dir.path() + "/d?sync=none");
  auto disk = Open("disk://" + dir.path() + "/d?sync=none");
  LeaseResult held;
  ASSERT_TRUE(store->AcquireLease("k", Quick(0ms), &held).ok());
  ASSERT_EQ(held.state, State::kGranted);
  EXPECT_TRUE(held.token.starts_with("1:"));
  // Another process's view of the disk tier sees the lease.
  LeaseResult probe;
  ASSERT_TRUE(disk->AcquireLease("k", Quick(0ms), &probe).ok());
  EXPECT_EQ(probe.state, State::kTimedOut);
  ASSERT_TRUE(store->ReleaseLease("k", held.token).ok());
  // A value in the disk tier comes back through the lease, and into memory.
  ASSERT_TRUE(disk->Put("k", "from disk").ok());
  ASSERT_TRUE(store->AcquireLease("k", Quick(0ms), &probe).ok());
  EXPECT_EQ(probe.state, State::kValue);
  auto& tiered = static_cast<memokey::TieredStore&>(*store);
  std::string value;
  EXPECT_TRUE(tiered.tier(0).Get("k", &value).ok());
  EXPECT_EQ(value, "from disk");
}

TEST(StoreWithoutLeases, SaysUnsupported) {
  // http:// and redis:// have leases; every store kind here does. The
  // default of the Store interface is what a third-party store inherits.
  class Bare final : public Store {
   public:
    memokey::Status Get(std::string_view, std::string*) override {
      return memokey::Status::NotFound();
    }
    memokey::Status Put(std::string_view, std::string_view, std::chrono::milliseconds) override {
      return memokey::Status::Ok();
    }
    memokey::Status Delete(std::string_view) override { return memokey::Status::Ok(); }
    memokey::Status Contains(std::string_view, bool* present) override {
      *present = false;
      return memokey::Status::Ok();
    }
    memokey::StoreStats Stats() const override { return {}; }
    std::string Describe() const override { return "bare"; }
  } bare;
  LeaseResult r;
  r.state = State::kGranted;
  ASSERT_TRUE(bare.AcquireLease("k", Quick(0ms), &r).ok());
  EXPECT_EQ(r.state, State::kUnsupported);
}

}  // namespace
