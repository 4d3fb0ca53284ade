// The memoization engine (memo_engine.h): lookup with the tier walk, claims,
// single flight, leases, stale-while-revalidate, the failure policy and the
// counters -- once, for the C++ and the Python front ends.

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <map>
#include <utility>

#include "memokey/memo_engine.h"

namespace memokey {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

// One key's computation. Waiters block on Flights::done under Flights::mutex.
struct MemoEngine::Flight {
  std::string key;
  std::uint64_t owner = 0;
  bool done = false;
  std::optional<std::string> payload;  // done with a value
  Codec codec = Codec::kCbor;          // the payload's
  bool has_value = false;  // done with a value the computer did not store (Result without payload)
  std::exception_ptr error;            // done with the computer's error
};

struct MemoEngine::Flights {
  std::mutex mutex;
  std::condition_variable done;
  std::map<std::string, std::shared_ptr<Flight>, std::less<>> in_progress;
};

MemoEngine::MemoEngine(std::shared_ptr<Store> store, EngineOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      flights_(std::make_unique<Flights>()) {
  if (!store_ && !options_.no_store) {
    throw std::invalid_argument("memokey::memoize: store is null");
  }
  if (options_.no_store) {
    store_.reset();
    options_.lease = false;
    options_.lazy_secret = true;  // never needed
  }
  tiered_ = dynamic_cast<TieredStore*>(store_.get());
  strict_ = options_.strict || (store_ && store_->strict());
  if (options_.stale_while_revalidate.count() < 0 ||
      (options_.stale_while_revalidate.count() > 0 && options_.ttl.count() <= 0)) {
    throw std::invalid_argument(
        "memokey::memoize: stale_while_revalidate needs a positive ttl (and is not negative)");
  }
  if (!options_.lazy_secret) {
    const Status status = LoadSecret(options_.secret, &secret_);
    if (!status.ok()) throw std::runtime_error("memokey::memoize: " + status.ToString());
    secret_ready_.store(true, std::memory_order_release);
  }
}

const Secret* MemoEngine::GetSecret(Status* error) {
  if (secret_ready_.load(std::memory_order_acquire)) return &secret_;
  std::lock_guard lock(secret_mutex_);
  if (!secret_ready_.load(std::memory_order_relaxed)) {
    Secret loaded;
    *error = LoadSecret(options_.secret, &loaded);
    if (!error->ok()) return nullptr;
    secret_ = std::move(loaded);
    secret_ready_.store(true, std::memory_order_release);
  }
  return &secret_;
}

MemoEngine::~MemoEngine() = default;

MemoEngine::Found MemoEngine::Lookup(std::string_view key, const Accept& accept) {
  Found found;
  if (!store_) {
    counters_.misses.fetch_add(1, kRelaxed);
    return found;
  }
  auto failed = [&found](std::size_t tier, std::string what) {
    if (found.failures++ == 0) {
      found.failed_tier = tier;
      found.failure = std::move(what);
    }
  };
  Status secret_error;
  if (GetSecret(&secret_error) == nullptr) {
    failed(Found::kNoTier, "no secret: " + secret_error.ToString());
    counters_.store_errors.fetch_add(1, kRelaxed);
    counters_.misses.fetch_add(1, kRelaxed);
    return found;
  }
  const std::size_t tiers = tiered_ != nullptr ? tiered_->tier_count() : 1;
  std::string sealed;
  for (std::size_t i = 0; i < tiers; ++i) {
    Store& tier = tiered_ != nullptr ? tiered_->tier(i) : *store_;
    std::chrono::milliseconds ttl_left{0};
    const Status got = tier.GetWithTtl(key, &sealed, &ttl_left);
    if (!got.ok()) {
      if (!got.IsNotFound()) {
        failed(i, got.ToString());
        StoreFailed("lookup", got, /*may_throw=*/true);
      } else if (got.message() != Status::NotFound().message()) {
        // A store that could not answer (or dropped a damaged entry) and said
        // so in its miss: the store chose the miss, so even strict goes on.
        failed(i, got.message());
        StoreFailed("lookup", got, /*may_throw=*/false);
      }
      continue;
    }
    if (!Verify(key, sealed, accept, &found.payload, &found.codec, &found.rejection)) {
      // Counted; the next tier may hold the good value (which then
      // overwrites this one by the backfill).
      found.rejected = true;
      ++found.rejections;
      found.rejected_tier = i;
      continue;
    }
    // Backfill the faster tiers with the ttl the value has left; their
    // failures are the tiers' to count (and the front end's to report): the
    // caller has its value.
    for (std::size_t j = 0; j < i; ++j) {
      const Status put = tiered_->tier(j).Put(key, sealed, ttl_left);
      if (!put.ok()) {
        // Counted, not reported or thrown: the caller has its value.
        failed(j, "backfill: " + put.ToString());
        counters_.store_errors.fetch_add(1, kRelaxed);
      }
    }
    // Within the last stale_while_revalidate of its stored life, an entry is
    // past the ttl the user asked for (Save adds the window to it).
    const bool stale = options_.stale_while_revalidate.count() > 0 && ttl_left.count() > 0 &&
                       ttl_left <= options_.stale_while_revalidate;
    found.state = stale ? Found::State::kStale : Found::State::kHit;
    found.rejected = false;
    found.tier = i;
    found.ttl_left = ttl_left;
    counters_.hits.fetch_add(1, kRelaxed);
    return found;
  }
  found.payload.clear();
  counters_.misses.fetch_add(1, kRelaxed);
  return found;
}

bool MemoEngine::Verify(std::string_view key, const std::string& sealed, const Accept& accept,
                        std::string* payload, Codec* codec_out, std::string* why) {
  Codec codec;
  Status opened;
  if (const Secret* secret = GetSecret(&opened); secret != nullptr) {
    opened = OpenEnvelope(key, sealed, *secret, &codec, payload);
  }
  if (opened.ok() &&
      std::find(options_.codecs.begin(), options_.codecs.end(), codec) == options_.codecs.end()) {
    opened = Status::Error("a payload of codec " + std::to_string(static_cast<int>(codec)) +
                           " is not a result this caller reads");
  }
  if (opened.ok() && accept &&
      !accept(ByteSpan(reinterpret_cast<const std::uint8_t*>(payload->data()), payload->size()))) {
    opened = Status::Error("the payload does not decode as the result type");
  }
  if (!opened.ok()) {
    // Never trust it, never decode it further: a miss that gets recomputed
    // and overwritten.
    counters_.rejected.fetch_add(1, kRelaxed);
    payload->clear();
    if (why != nullptr) *why = opened.ToString();
    return false;
  }
  if (codec_out != nullptr) *codec_out = codec;
  return true;
}

void MemoEngine::Save(std::string_view key, std::string_view payload) {
  Save(key, payload, Codec::kCbor, std::nullopt);
}

Status MemoEngine::Save(std::string_view key, std::string_view payload, Codec codec,
                        std::optional<std::chrono::milliseconds> ttl) {
  if (!store_) return Status::Ok();
  Status s;
  const Secret* secret = GetSecret(&s);
  if (secret == nullptr) {
    s = Status::IOError("no secret: " + s.ToString());
    StoreFailed("write", s, /*may_throw=*/false);
    return s;
  }
  std::string sealed;
  s = SealEnvelope(key, codec, payload, *secret, &sealed, options_.compress_threshold,
                   options_.label);
  if (s.ok()) {
    s = store_->Put(key, sealed,
                    ttl ? *ttl
                        : options_.ttl.count() > 0
                              ? options_.ttl + options_.stale_while_revalidate
                              : options_.ttl);
  }
  // A value too large for the store (kInvalidArgument) is the value's, not
  // the store's failure: strict does not raise for it.
  if (!s.ok()) StoreFailed("write", s, /*may_throw=*/s.code() != Status::Code::kInvalidArgument);
  return s;
}

void MemoEngine::StoreFailed(const char* operation, const Status& status, bool may_throw) {
  counters_.store_errors.fetch_add(1, kRelaxed);
  auto what = [&] {
    return "memokey::memoize(" + options_.name + "): store " + operation + " failed on " +
           (store_ ? store_->Describe() : std::string("(no store)")) + ": " + status.ToString();
  };
  if (strict_) {
    // Strict callers learn of failures from the exception; one during
    // cleanup is only counted (the exception already on its way says more).
    if (!may_throw) return;
    throw StoreError(what(), status);
  }
  std::call_once(reported_, [&] {
    const std::string message = what() +
                                "; calls compute and return their results without the cache (" +
                                options_.report_hint + ")";
    if (options_.on_store_error) {
      options_.on_store_error(message);
    } else {
      std::cerr << message << '\n';
    }
  });
}

std::unique_ptr<MemoEngine::Ticket> MemoEngine::MakeTicket(std::string_view key,
                                                           std::shared_ptr<Flight> flight,
                                                           std::string token, bool refresh) {
  std::unique_ptr<Ticket> ticket(new Ticket());  // the constructor is private to the engine
  ticket->engine_ = this;
  ticket->key_ = std::string(key);
  ticket->token_ = std::move(token);
  ticket->flight_ = std::move(flight);
  ticket->refresh_ = refresh;
  counters_.computed.fetch_add(1, kRelaxed);
  return ticket;
}

std::shared_ptr<MemoEngine::Wait> MemoEngine::MakeWait(std::string_view key,
                                                       std::shared_ptr<Flight> flight, bool leader,
                                                       std::uint64_t owner, bool rejected,
                                                       const Accept& accept) {
  auto wait = std::make_shared<Wait>();
  wait->engine_ = this;
  wait->key_ = std::string(key);
  wait->flight_ = std::move(flight);
  wait->leader_ = leader;
  wait->owner_ = owner;
  wait->rejected_ = rejected;
  wait->accept_ = accept;
  return wait;
}

MemoEngine::Claimed MemoEngine::Claim(std::string_view key, std::uint64_t owner, bool rejected,
                                      const Accept& accept) {
  Claimed claimed;
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(flights_->mutex);
    if (auto it = flights_->in_progress.find(key); it != flights_->in_progress.end()) {
      if (it->second->owner == owner) {
        // Re-entry on the computing thread: waiting would wait for ourselves.
        counters_.computed.fetch_add(1, kRelaxed);
        claimed.state = Claimed::State::kReentrant;
        return claimed;
      }
      counters_.waited.fetch_add(1, kRelaxed);
      claimed.state = Claimed::State::kWait;
      claimed.wait = MakeWait(key, it->second, false, owner, rejected, accept);
      return claimed;
    }
    flight = std::make_shared<Flight>();
    flight->key = std::string(key);
    flight->owner = owner;
    flights_->in_progress.emplace(std::string(key), flight);
  }
  if (!options_.lease) {
    claimed.ticket = MakeTicket(key, std::move(flight), {}, false);
    return claimed;
  }
  LeaseResult lease;
  // A stored value we rejected (tampered, another secret) is still there: the
  // lease must not hand it back to us as "the value".
  const Status leased = store_->AcquireLease(
      key, LeaseOptions{options_.lease_ttl, std::chrono::milliseconds{0}, !rejected}, &lease);
  if (!leased.ok()) {
    try {
      StoreFailed("lease", leased, /*may_throw=*/true);  // not strict: compute without it
    } catch (...) {
      Land(flight, std::nullopt, std::current_exception());
      throw;
    }
    claimed.ticket = MakeTicket(key, std::move(flight), {}, false);
    return claimed;
  }
  switch (lease.state) {
    case LeaseResult::State::kGranted:
      claimed.ticket = MakeTicket(key, std::move(flight), std::move(lease.token), false);
      return claimed;
    case LeaseResult::State::kValue:
      if (Verify(key, lease.value, accept, &claimed.payload, &claimed.codec)) {
        counters_.lease_hits.fetch_add(1, kRelaxed);
        Land(flight, claimed.payload, nullptr, claimed.codec);
        claimed.state = Claimed::State::kValue;
        return claimed;
      }
      break;  // rejected (counted): compute it ourselves
    case LeaseResult::State::kTimedOut: {
      // Another holder: the caller waits for it in Wait::Get, and every
      // other caller of the key in this process waits for this flight.
      counters_.lease_waits.fetch_add(1, kRelaxed);
      claimed.state = Claimed::State::kWait;
      claimed.wait = MakeWait(key, std::move(flight), true, owner, rejected, accept);
      return claimed;
    }
    case LeaseResult::State::kUnsupported:
      break;
  }
  claimed.ticket = MakeTicket(key, std::move(flight), {}, false);
  return claimed;
}

MemoEngine::Wait::~Wait() {
  // An opener that never waited leaves its flight: the others claim afresh.
  if (leader_ && !got_) engine_->Land(flight_, std::nullopt, nullptr);
}

MemoEngine::Wait::Outcome MemoEngine::Wait::Get() {
  Outcome outcome;
  if (got_) throw std::logic_error("memokey: MemoEngine::Wait::Get called twice");
  got_ = true;
  MemoEngine& engine = *engine_;
  if (!leader_) {
    {
      std::unique_lock lock(engine.flights_->mutex);
      engine.flights_->done.wait(lock, [&] { return flight_->done; });
    }
    if (flight_->payload || flight_->has_value) {
      outcome.state = Outcome::State::kValue;
      outcome.has_payload = flight_->payload.has_value();
      if (flight_->payload) outcome.payload = *flight_->payload;
      outcome.codec = flight_->codec;
      return outcome;
    }
    if (flight_->error) {
      outcome.state = Outcome::State::kError;
      outcome.error = flight_->error;
      return outcome;
    }
    // Abandoned without a value: claim the key afresh.
    Claimed again = engine.Claim(key_, owner_, rejected_, accept_);
    switch (again.state) {
      case Claimed::State::kValue:
        outcome.payload = std::move(again.payload);
        outcome.codec = again.codec;
        return outcome;
      case Claimed::State::kWait:
        return again.wait->Get();
      case Claimed::State::kGranted:
        outcome.state = Outcome::State::kGranted;
        outcome.ticket = std::move(again.ticket);
        return outcome;
      case Claimed::State::kReentrant:
        outcome.state = Outcome::State::kGranted;
        return outcome;
    }
  }
  // The flight's opener: wait for the other holder's lease.
  LeaseResult lease;
  const Status leased = engine.store_->AcquireLease(
      key_, LeaseOptions{engine.options_.lease_ttl, engine.options_.lease_wait, !rejected_},
      &lease);
  outcome.state = Outcome::State::kGranted;
  if (!leased.ok()) {
    try {
      engine.StoreFailed("lease", leased, /*may_throw=*/true);
    } catch (...) {
      engine.Land(flight_, std::nullopt, std::current_exception());
      throw;
    }
    outcome.ticket = engine.MakeTicket(key_, flight_, {}, false);
    return outcome;
  }
  switch (lease.state) {
    case LeaseResult::State::kGranted:
      outcome.ticket = engine.MakeTicket(key_, flight_, std::move(lease.token), false);
      return outcome;
    case LeaseResult::State::kValue:
      if (engine.Verify(key_, lease.value, accept_, &outcome.payload, &outcome.codec)) {
        engine.counters_.lease_hits.fetch_add(1, kRelaxed);
        engine.Land(flight_, outcome.payload, nullptr, outcome.codec);
        outcome.state = Outcome::State::kValue;
        return outcome;
      }
      break;
    case LeaseResult::State::kTimedOut:
      engine.counters_.lease_timeouts.fetch_add(1, kRelaxed);
      break;
    case LeaseResult::State::kUnsupported:
      break;
  }
  outcome.ticket = engine.MakeTicket(key_, flight_, {}, false);
  return outcome;
}

std::unique_ptr<MemoEngine::Ticket> MemoEngine::ClaimRefresh(std::string_view key) {
  // No store, or no leases (lease=false): every stale hit refreshes.
  if (!store_ || !options_.lease) return MakeTicket(key, nullptr, {}, /*refresh=*/true);
  LeaseResult lease;
  const Status leased = store_->AcquireLease(
      key, LeaseOptions{options_.lease_ttl, std::chrono::milliseconds{0}, /*check_value=*/false},
      &lease);
  // A failed lease (not strict) refreshes without it, as a failed Claim
  // computes without it: the failure policy is one for both.
  if (!leased.ok()) {
    StoreFailed("lease", leased, /*may_throw=*/true);
    return MakeTicket(key, nullptr, {}, /*refresh=*/true);
  }
  const bool refresh = lease.state == LeaseResult::State::kGranted ||
                       lease.state == LeaseResult::State::kUnsupported;
  if (!refresh) {
    counters_.stale_served.fetch_add(1, kRelaxed);
    return nullptr;
  }
  return MakeTicket(
      key, nullptr,
      lease.state == LeaseResult::State::kGranted ? std::move(lease.token) : std::string(),
      /*refresh=*/true);
}

void MemoEngine::Release(Ticket& ticket, bool may_throw) {
  const std::string token = std::exchange(ticket.token_, std::string());
  if (token.empty() || !store_) return;
  const Status released = store_->ReleaseLease(ticket.key_, token);
  if (!released.ok()) StoreFailed("lease release", released, may_throw);
}

void MemoEngine::Land(const std::shared_ptr<Flight>& flight, std::optional<std::string> payload,
                      std::exception_ptr error, Codec codec, bool has_value) {
  if (!flight) return;
  std::lock_guard lock(flights_->mutex);
  flight->payload = std::move(payload);
  flight->codec = codec;
  flight->has_value = has_value;
  flight->error = std::move(error);
  flight->done = true;
  if (auto it = flights_->in_progress.find(flight->key);
      it != flights_->in_progress.end() && it->second == flight) {
    flights_->in_progress.erase(it);
  }
  flights_->done.notify_all();
}

void MemoEngine::Complete(std::unique_ptr<Ticket> ticket, std::string_view payload) {
  Result result;
  result.payload = payload;
  Complete(std::move(ticket), result);
}

Status MemoEngine::Complete(std::unique_ptr<Ticket> ticket, const Result& result) {
  ticket->open_ = false;
  Status saved;
  try {
    if (result.payload && result.save) {
      saved = Save(ticket->key_, *result.payload, result.codec, result.ttl);
    }
    Release(*ticket, /*may_throw=*/true);  // after Save: a woken waiter finds the value
  } catch (...) {  // a strict store failed: its error goes to every caller
    Release(*ticket, /*may_throw=*/false);
    Land(ticket->flight_, std::nullopt, std::current_exception());
    throw;
  }
  if (ticket->refresh_) counters_.revalidated.fetch_add(1, kRelaxed);
  if (result.error) {
    Land(ticket->flight_, std::nullopt, result.error);
  } else if (result.payload) {
    Land(ticket->flight_, std::string(*result.payload), nullptr, result.codec, true);
  } else {
    Land(ticket->flight_, std::nullopt, nullptr, result.codec, true);
  }
  return saved;
}

void MemoEngine::Abandon(std::unique_ptr<Ticket> ticket, std::exception_ptr error) noexcept {
  ticket->open_ = false;
  Release(*ticket, /*may_throw=*/false);  // the next caller computes at once
  Land(ticket->flight_, std::nullopt, std::move(error));
}

MemoEngine::Ticket::~Ticket() {
  if (!open_ || engine_ == nullptr) return;
  open_ = false;
  engine_->Release(*this, /*may_throw=*/false);
  engine_->Land(flight_, std::nullopt, nullptr);
}

std::vector<MemoEngine::TierState> MemoEngine::Inspect(std::string_view key) {
  std::vector<TierState> rows;
  if (!store_) return rows;
  const std::size_t tiers = tiered_ != nullptr ? tiered_->tier_count() : 1;
  rows.resize(tiers);
  Status secret_error;
  const Secret* secret = GetSecret(&secret_error);
  for (std::size_t i = 0; i < tiers; ++i) {
    Store& tier = tiered_ != nullptr ? tiered_->tier(i) : *store_;
    TierState& row = rows[i];
    // A store says "expired" only by counting it: compare its counter.
    const std::uint64_t expired_before = tier.Stats().expired;
    std::string sealed;
    const Status got = tier.Get(key, &sealed);
    if (got.IsNotFound()) {
      if (got.message() != Status::NotFound().message()) {
        row.state = TierState::State::kError;
        row.detail = got.message();
      } else if (tier.Stats().expired > expired_before) {
        row.state = TierState::State::kExpired;
      }
      continue;
    }
    if (!got.ok()) {
      row.state = TierState::State::kError;
      row.detail = got.ToString();
      continue;
    }
    if (secret == nullptr) {
      row.state = TierState::State::kError;
      row.detail = "no secret: " + secret_error.ToString();
      continue;
    }
    const Status opened = OpenEnvelope(key, sealed, *secret, &row.codec, &row.payload);
    if (!opened.ok()) {
      row.state = TierState::State::kRejected;
      row.detail = opened.ToString();
      row.payload.clear();
      continue;
    }
    row.state = TierState::State::kHit;
  }
  return rows;
}

MemoStats MemoEngine::Stats() const {
  MemoStats s;
  s.hits = counters_.hits.load();
  s.misses = counters_.misses.load();
  s.computed = counters_.computed.load();
  s.waited = counters_.waited.load();
  s.rejected = counters_.rejected.load();
  s.store_errors = counters_.store_errors.load();
  s.lease_waits = counters_.lease_waits.load();
  s.lease_hits = counters_.lease_hits.load();
  s.lease_timeouts = counters_.lease_timeouts.load();
  s.stale_served = counters_.stale_served.load();
  s.revalidated = counters_.revalidated.load();
  return s;
}

}  // namespace memokey
