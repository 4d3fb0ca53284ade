// The memoization engine (memo_engine.h) on its own: keys and payload bytes,
// the tier walk, claims that never block, wait handles, abandon, counters.

#include "memokey/memo_engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "memokey/tiered_store.h"

namespace {

using namespace std::chrono_literals;
using memokey::MemoEngine;

constexpr char kSecret[] = "memo-engine-test-secret-0123456789";
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
// Canonical CBOR of the text "good" and "other".
const std::string kGood = "\x64good";
const std::string kOther = "\x65other";

std::unique_ptr<memokey::Store> Open(const std::string& url) {
  std::unique_ptr<memokey::Store> store;
  EXPECT_TRUE(memokey::OpenStore(url, &store).ok()) << url;
  return store;
}

memokey::EngineOptions Options() {
  memokey::EngineOptions options;
  options.name = "test.engine";
  options.label = "test.engine";
  options.secret = kSecret;
  options.on_store_error = [](const std::string&) {};
  return options;
}

std::string Seal(const std::string& payload, const std::string& secret = kSecret) {
  std::string sealed;
  EXPECT_TRUE(
      memokey::SealEnvelope(kKey, memokey::Codec::kCbor, payload, memokey::Secret(secret), &sealed)
          .ok());
  return sealed;
}

std::shared_ptr<memokey::TieredStore> TwoTiers() {
  std::vector<std::unique_ptr<memokey::Store>> tiers;
  tiers.push_back(Open("memory://"));
  tiers.push_back(Open("memory://"));
  return std::make_shared<memokey::TieredStore>(std::move(tiers));
}

TEST(MemoEngine, ATamperedFirstTierIsRejectedAndTheNextTierAnswersAndRepairsIt) {
  auto store = TwoTiers();
  ASSERT_TRUE(store->tier(0).Put(kKey, Seal(kOther, "another-secret-of-sufficient-length")).ok());
  ASSERT_TRUE(store->tier(1).Put(kKey, Seal(kGood)).ok());
  MemoEngine engine(store, Options());
  const MemoEngine::Found found = engine.Lookup(kKey);
  EXPECT_EQ(found.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(found.payload, kGood);
  EXPECT_EQ(engine.Stats().rejected, 1u);
  EXPECT_EQ(engine.Stats().hits, 1u);
  // The good value was copied over the bad one: the next lookup is clean.
  EXPECT_EQ(engine.Lookup(kKey).payload, kGood);
  EXPECT_EQ(engine.Stats().rejected, 1u);
}

TEST(MemoEngine, TamperedEverywhereIsARejectedMiss) {
  auto store = TwoTiers();
  std::string bad = Seal(kGood);
  bad[bad.size() - 1] ^= 1;
  ASSERT_TRUE(store->Put(kKey, bad).ok());
  MemoEngine engine(store, Options());
  const MemoEngine::Found found = engine.Lookup(kKey);
  EXPECT_EQ(found.state, MemoEngine::Found::State::kMiss);
  EXPECT_TRUE(found.rejected);
  EXPECT_TRUE(found.payload.empty());
  EXPECT_EQ(engine.Stats().rejected, 2u);  // once per tier
  EXPECT_EQ(engine.Stats().misses, 1u);
}

TEST(MemoEngine, AcceptRejectsPayloadsOfTheWrongType) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  ASSERT_TRUE(store->Put(kKey, Seal(kGood)).ok());
  MemoEngine engine(store, Options());
  const MemoEngine::Found found = engine.Lookup(kKey, [](memokey::ByteSpan) { return false; });
  EXPECT_EQ(found.state, MemoEngine::Found::State::kMiss);
  EXPECT_TRUE(found.rejected);
  EXPECT_EQ(engine.Stats().rejected, 1u);
}

TEST(MemoEngine, ClaimCompleteAndWaitersInThisProcess) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  MemoEngine engine(store, Options());
  EXPECT_EQ(engine.Lookup(kKey).state, MemoEngine::Found::State::kMiss);
  MemoEngine::Claimed first = engine.Claim(kKey, 1, false);
  ASSERT_EQ(first.state, MemoEngine::Claimed::State::kGranted);
  // The same owner re-entering: compute directly.
  EXPECT_EQ(engine.Claim(kKey, 1, false).state, MemoEngine::Claimed::State::kReentrant);
  // Another owner: a wait handle, at once.
  MemoEngine::Claimed second = engine.Claim(kKey, 2, false);
  ASSERT_EQ(second.state, MemoEngine::Claimed::State::kWait);
  std::thread waiter([&] {
    MemoEngine::Wait::Outcome outcome = second.wait->Get();
    EXPECT_EQ(outcome.state, MemoEngine::Wait::Outcome::State::kValue);
    EXPECT_EQ(outcome.payload, kGood);
  });
  engine.Complete(std::move(first.ticket), kGood);
  waiter.join();
  EXPECT_EQ(engine.Lookup(kKey).payload, kGood);
  const memokey::MemoStats stats = engine.Stats();
  EXPECT_EQ(stats.computed, 2u);  // the ticket and the re-entry
  EXPECT_EQ(stats.waited, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
}

TEST(MemoEngine, AnErrorReachesTheWaitersAndAnAbandonHandsTheKeyOn) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  MemoEngine engine(store, Options());
  MemoEngine::Claimed first = engine.Claim(kKey, 1, false);
  ASSERT_EQ(first.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed second = engine.Claim(kKey, 2, false);
  ASSERT_EQ(second.state, MemoEngine::Claimed::State::kWait);
  engine.Abandon(std::move(first.ticket), std::make_exception_ptr(std::domain_error("boom")));
  MemoEngine::Wait::Outcome failed = second.wait->Get();
  ASSERT_EQ(failed.state, MemoEngine::Wait::Outcome::State::kError);
  EXPECT_THROW(std::rethrow_exception(failed.error), std::domain_error);
  EXPECT_EQ(engine.Lookup(kKey).state, MemoEngine::Found::State::kMiss);  // not cached

  // Abandoned without an error (a dropped ticket): the waiter gets a ticket.
  MemoEngine::Claimed third = engine.Claim(kKey, 1, false);
  ASSERT_EQ(third.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed fourth = engine.Claim(kKey, 2, false);
  ASSERT_EQ(fourth.state, MemoEngine::Claimed::State::kWait);
  third.ticket.reset();
  MemoEngine::Wait::Outcome handed = fourth.wait->Get();
  ASSERT_EQ(handed.state, MemoEngine::Wait::Outcome::State::kGranted);
  ASSERT_TRUE(handed.ticket);
  engine.Complete(std::move(handed.ticket), kOther);
  EXPECT_EQ(engine.Lookup(kKey).payload, kOther);
}

TEST(MemoEngine, ALeasesValueIsVerified) {
  // Another process's lease holder stored a value; the claim gets it with the
  // lease -- verified like any stored value.
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  MemoEngine engine(store, Options());
  ASSERT_EQ(engine.Lookup(kKey).state, MemoEngine::Found::State::kMiss);
  ASSERT_TRUE(store->Put(kKey, Seal(kGood)).ok());  // landed after the lookup
  MemoEngine::Claimed claimed = engine.Claim(kKey, 1, false);
  ASSERT_EQ(claimed.state, MemoEngine::Claimed::State::kValue);
  EXPECT_EQ(claimed.payload, kGood);
  EXPECT_EQ(engine.Stats().lease_hits, 1u);

  // A forged one is rejected (counted) and the caller computes.
  const std::string other_key(32, 'f');
  std::string forged;
  ASSERT_TRUE(memokey::SealEnvelope(other_key, memokey::Codec::kCbor, kGood,
                                    memokey::Secret("another-secret-of-sufficient-length"), &forged)
                  .ok());
  ASSERT_TRUE(store->Put(other_key, forged).ok());
  MemoEngine::Claimed computed = engine.Claim(other_key, 1, false);
  ASSERT_EQ(computed.state, MemoEngine::Claimed::State::kGranted);
  EXPECT_EQ(engine.Stats().rejected, 1u);
  engine.Complete(std::move(computed.ticket), kOther);
  EXPECT_EQ(engine.Lookup(other_key).payload, kOther);
}

TEST(MemoEngine, AnotherHoldersLeaseIsAWaitHandleNotABlock) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  // Another "process": a second engine on the same store holds the lease.
  MemoEngine holder(store, Options());
  MemoEngine engine(store, Options());
  MemoEngine::Claimed held = holder.Claim(kKey, 1, false);
  ASSERT_EQ(held.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed claimed = engine.Claim(kKey, 1, false);  // returns at once
  ASSERT_EQ(claimed.state, MemoEngine::Claimed::State::kWait);
  EXPECT_EQ(engine.Stats().lease_waits, 1u);
  // A second caller in this process waits on the same flight.
  MemoEngine::Claimed follower = engine.Claim(kKey, 2, false);
  ASSERT_EQ(follower.state, MemoEngine::Claimed::State::kWait);
  std::thread finish([&] {
    std::this_thread::sleep_for(50ms);
    holder.Complete(std::move(held.ticket), kGood);
  });
  MemoEngine::Wait::Outcome outcome = claimed.wait->Get();
  finish.join();
  ASSERT_EQ(outcome.state, MemoEngine::Wait::Outcome::State::kValue);
  EXPECT_EQ(outcome.payload, kGood);
  EXPECT_EQ(follower.wait->Get().payload, kGood);
  EXPECT_EQ(engine.Stats().lease_hits, 1u);
  EXPECT_EQ(engine.Stats().computed, 0u);
}

TEST(MemoEngine, AnUnreachableStoreIsCountedNeverRaised) {
  auto store = std::shared_ptr<memokey::Store>(Open("redis://127.0.0.1:1?connect_timeout_ms=100"));
  memokey::EngineOptions options = Options();
  std::vector<std::string> reports;
  options.on_store_error = [&](const std::string& message) { reports.push_back(message); };
  MemoEngine engine(store, options);
  const MemoEngine::Found found = engine.Lookup(kKey);
  EXPECT_EQ(found.state, MemoEngine::Found::State::kMiss);
  MemoEngine::Claimed claimed = engine.Claim(kKey, 1, false);
  ASSERT_EQ(claimed.state, MemoEngine::Claimed::State::kGranted);
  engine.Complete(std::move(claimed.ticket), kGood);
  // The lookup, the lease and the write each failed, counted; reported once.
  EXPECT_EQ(engine.Stats().store_errors, 3u);
  EXPECT_EQ(reports.size(), 1u);
}

TEST(MemoEngine, StaleValuesAreRefreshedByOneCaller) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  memokey::EngineOptions options = Options();
  options.ttl = 1ms;
  options.stale_while_revalidate = 60s;
  MemoEngine engine(store, options);
  engine.Save(kKey, kGood);
  std::this_thread::sleep_for(5ms);
  const MemoEngine::Found found = engine.Lookup(kKey);
  ASSERT_EQ(found.state, MemoEngine::Found::State::kStale);
  EXPECT_EQ(found.payload, kGood);
  std::unique_ptr<MemoEngine::Ticket> refresh = engine.ClaimRefresh(kKey);
  ASSERT_TRUE(refresh);
  EXPECT_FALSE(engine.ClaimRefresh(kKey));  // the lease is taken: serve stale
  EXPECT_EQ(engine.Stats().stale_served, 1u);
  engine.Complete(std::move(refresh), kOther);
  EXPECT_EQ(engine.Stats().revalidated, 1u);
  EXPECT_EQ(engine.Lookup(kKey).payload, kOther);
}

TEST(MemoEngine, FoundSaysWhichTierAnsweredAndWhatTheWalkMet) {
  auto store = TwoTiers();
  ASSERT_TRUE(store->tier(0).Put(kKey, Seal(kOther, "another-secret-of-sufficient-length")).ok());
  ASSERT_TRUE(store->tier(1).Put(kKey, Seal(kGood), 60s).ok());
  MemoEngine engine(store, Options());
  const MemoEngine::Found found = engine.Lookup(kKey);
  ASSERT_EQ(found.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(found.tier, 1u);
  EXPECT_EQ(found.codec, memokey::Codec::kCbor);
  EXPECT_GT(found.ttl_left.count(), 0);
  EXPECT_LE(found.ttl_left, std::chrono::milliseconds(60s));
  EXPECT_EQ(found.rejections, 1u);
  EXPECT_EQ(found.rejected_tier, 0u);
  EXPECT_FALSE(found.rejection.empty());
  EXPECT_EQ(found.failures, 0u);
  // Backfilled: the fast tier answers now, with the ttl the value had left.
  const MemoEngine::Found again = engine.Lookup(kKey);
  EXPECT_EQ(again.tier, 0u);
  EXPECT_GT(again.ttl_left.count(), 0);
  EXPECT_EQ(again.rejections, 0u);
}

TEST(MemoEngine, AFailedTierIsNamedInFoundAndTheNextTierAnswers) {
  std::vector<std::unique_ptr<memokey::Store>> tiers;
  tiers.push_back(Open("redis://127.0.0.1:1?connect_timeout_ms=100"));
  tiers.push_back(Open("memory://"));
  auto store = std::make_shared<memokey::TieredStore>(std::move(tiers));
  ASSERT_TRUE(store->tier(1).Put(kKey, Seal(kGood)).ok());
  MemoEngine engine(store, Options());
  const MemoEngine::Found found = engine.Lookup(kKey);
  ASSERT_EQ(found.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(found.tier, 1u);
  EXPECT_EQ(found.payload, kGood);
  // The unreachable tier's lookup, then its backfill write.
  EXPECT_EQ(found.failures, 2u);
  EXPECT_EQ(found.failed_tier, 0u);
  EXPECT_FALSE(found.failure.empty());
}

TEST(MemoEngine, OnlyTheConfiguredCodecsAreAccepted) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  std::string sealed;
  ASSERT_TRUE(memokey::SealEnvelope(kKey, memokey::Codec::kPickle5, "pickled",
                                    memokey::Secret(kSecret), &sealed)
                  .ok());
  ASSERT_TRUE(store->Put(kKey, sealed).ok());
  MemoEngine cbor_only(store, Options());
  const MemoEngine::Found refused = cbor_only.Lookup(kKey);
  EXPECT_EQ(refused.state, MemoEngine::Found::State::kMiss);
  EXPECT_TRUE(refused.rejected);
  EXPECT_NE(refused.rejection.find("codec"), std::string::npos) << refused.rejection;
  EXPECT_EQ(cbor_only.Stats().rejected, 1u);
  memokey::EngineOptions options = Options();
  options.codecs = {memokey::Codec::kCbor, memokey::Codec::kPickle5};
  MemoEngine both(store, options);
  const MemoEngine::Found found = both.Lookup(kKey);
  ASSERT_EQ(found.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(found.codec, memokey::Codec::kPickle5);
  EXPECT_EQ(found.payload, "pickled");
}

TEST(MemoEngine, ALazySecretIsLoadedAtFirstUseAndItsFailureIsAMiss) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  memokey::EngineOptions bad = Options();
  bad.secret = "short";
  EXPECT_THROW(MemoEngine(store, bad), std::runtime_error);
  bad.lazy_secret = true;
  MemoEngine lazy_bad(store, bad);  // does not load it yet
  const MemoEngine::Found found = lazy_bad.Lookup(kKey);
  EXPECT_EQ(found.state, MemoEngine::Found::State::kMiss);
  EXPECT_EQ(found.failures, 1u);
  EXPECT_EQ(found.failed_tier, MemoEngine::Found::kNoTier);
  EXPECT_EQ(found.failure.rfind("no secret: ", 0), 0u) << found.failure;
  lazy_bad.Save(kKey, kGood);  // not written, counted
  EXPECT_EQ(lazy_bad.Stats().store_errors, 2u);
  bool present = true;
  ASSERT_TRUE(store->Contains(kKey, &present).ok());
  EXPECT_FALSE(present);

  memokey::EngineOptions good = Options();
  good.lazy_secret = true;
  MemoEngine lazy(store, good);
  lazy.Save(kKey, kGood);
  const MemoEngine::Found hit = lazy.Lookup(kKey);
  EXPECT_EQ(hit.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(hit.payload, kGood);
}

TEST(MemoEngine, WithoutAStoreItIsSingleFlightOnly) {
  memokey::EngineOptions options = Options();
  options.secret.reset();  // never loaded: there is nothing to seal
  options.no_store = true;
  MemoEngine engine(nullptr, options);
  EXPECT_EQ(engine.Lookup(kKey).state, MemoEngine::Found::State::kMiss);
  MemoEngine::Claimed first = engine.Claim(kKey, 1, false);
  ASSERT_EQ(first.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed second = engine.Claim(kKey, 2, false);
  ASSERT_EQ(second.state, MemoEngine::Claimed::State::kWait);
  // The front end keeps the value itself: the waiter learns it is there.
  EXPECT_TRUE(engine.Complete(std::move(first.ticket), MemoEngine::Result{}).ok());
  MemoEngine::Wait::Outcome outcome = second.wait->Get();
  ASSERT_EQ(outcome.state, MemoEngine::Wait::Outcome::State::kValue);
  EXPECT_FALSE(outcome.has_payload);
  EXPECT_TRUE(engine.ClaimRefresh(kKey));  // no lease to take: a ticket
  const memokey::MemoStats stats = engine.Stats();
  EXPECT_EQ(stats.computed, 2u);  // the ticket and the refresh's
  EXPECT_EQ(stats.waited, 1u);
  EXPECT_EQ(stats.store_errors, 0u);
  // Without no_store, a null store is still refused.
  EXPECT_THROW(MemoEngine(nullptr, Options()), std::invalid_argument);
}

TEST(MemoEngine, AResultCarriesItsCodecTtlAndError) {
  auto store = std::shared_ptr<memokey::Store>(Open("memory://"));
  memokey::EngineOptions options = Options();
  options.codecs = {memokey::Codec::kCbor, memokey::Codec::kPickle5};
  MemoEngine engine(store, options);
  // A payload in another codec, for a ttl of its own.
  MemoEngine::Claimed claimed = engine.Claim(kKey, 1, false);
  ASSERT_EQ(claimed.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Result result;
  result.payload = std::string_view("pickled");
  result.codec = memokey::Codec::kPickle5;
  result.ttl = 60s;
  EXPECT_TRUE(engine.Complete(std::move(claimed.ticket), result).ok());
  const MemoEngine::Found found = engine.Lookup(kKey);
  ASSERT_EQ(found.state, MemoEngine::Found::State::kHit);
  EXPECT_EQ(found.codec, memokey::Codec::kPickle5);
  EXPECT_EQ(found.payload, "pickled");
  EXPECT_GT(found.ttl_left.count(), 0);

  // A cached exception: stored, and the waiters get the error itself.
  const std::string failing(32, 'e');
  MemoEngine::Claimed owner = engine.Claim(failing, 1, false);
  ASSERT_EQ(owner.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed waiter = engine.Claim(failing, 2, false);
  ASSERT_EQ(waiter.state, MemoEngine::Claimed::State::kWait);
  MemoEngine::Result raised;
  raised.payload = kGood;
  raised.error = std::make_exception_ptr(std::domain_error("boom"));
  engine.Complete(std::move(owner.ticket), raised);
  MemoEngine::Wait::Outcome failed = waiter.wait->Get();
  ASSERT_EQ(failed.state, MemoEngine::Wait::Outcome::State::kError);
  EXPECT_THROW(std::rethrow_exception(failed.error), std::domain_error);
  EXPECT_EQ(engine.Lookup(failing).payload, kGood);

  // save=false: the waiters get the payload, the store does not.
  const std::string found_elsewhere(32, 'a');
  MemoEngine::Claimed again = engine.Claim(found_elsewhere, 1, false);
  ASSERT_EQ(again.state, MemoEngine::Claimed::State::kGranted);
  MemoEngine::Claimed follower = engine.Claim(found_elsewhere, 2, false);
  ASSERT_EQ(follower.state, MemoEngine::Claimed::State::kWait);
  MemoEngine::Result unsaved;
  unsaved.payload = kOther;
  unsaved.save = false;
  engine.Complete(std::move(again.ticket), unsaved);
  MemoEngine::Wait::Outcome handed = follower.wait->Get();
  ASSERT_EQ(handed.state, MemoEngine::Wait::Outcome::State::kValue);
  EXPECT_TRUE(handed.has_payload);
  EXPECT_EQ(handed.payload, kOther);
  EXPECT_EQ(engine.Lookup(found_elsewhere).state, MemoEngine::Found::State::kMiss);
}

TEST(MemoEngine, ARefreshWhoseLeaseFailsRefreshesWithoutIt) {
  auto store = std::shared_ptr<memokey::Store>(Open("redis://127.0.0.1:1?connect_timeout_ms=100"));
  memokey::EngineOptions options = Options();
  options.ttl = 1s;
  options.stale_while_revalidate = 60s;
  MemoEngine engine(store, options);
  std::unique_ptr<MemoEngine::Ticket> refresh = engine.ClaimRefresh(kKey);
  ASSERT_TRUE(refresh);  // as a failed Claim computes without the lease
  EXPECT_TRUE(refresh->refresh());
  EXPECT_EQ(engine.Stats().store_errors, 1u);
  EXPECT_EQ(engine.Stats().stale_served, 0u);
  engine.Abandon(std::move(refresh), nullptr);
}

TEST(MemoEngine, InspectSaysWhatEachTierHoldsWithoutChangingIt) {
  auto store = TwoTiers();
  ASSERT_TRUE(store->tier(0).Put(kKey, Seal(kOther, "another-secret-of-sufficient-length")).ok());
  ASSERT_TRUE(store->tier(1).Put(kKey, Seal(kGood)).ok());
  MemoEngine engine(store, Options());
  using State = MemoEngine::TierState::State;
  std::vector<MemoEngine::TierState> rows = engine.Inspect(kKey);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].state, State::kRejected);
  EXPECT_FALSE(rows[0].detail.empty());
  EXPECT_TRUE(rows[0].payload.empty());  // never handed out
  EXPECT_EQ(rows[1].state, State::kHit);
  EXPECT_EQ(rows[1].codec, memokey::Codec::kCbor);
  EXPECT_EQ(rows[1].payload, kGood);
  // Nothing backfilled, nothing counted.
  EXPECT_EQ(engine.Inspect(kKey)[0].state, State::kRejected);
  EXPECT_EQ(engine.Stats().rejected, 0u);
  EXPECT_EQ(engine.Stats().hits, 0u);
  EXPECT_EQ(engine.Inspect(std::string(32, 'b'))[1].state, State::kAbsent);
}

}  // namespace
