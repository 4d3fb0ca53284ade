// memokey/memo_engine.h — the memoization engine: what to do with one key,
// on store keys and payload bytes, for every front end (C++ memoize, Python).
//
// A front end computes the key and the payload bytes (canonical CBOR) itself,
// and asks the engine only the store side of a call:
//
//   MemoEngine::Found found = engine.Lookup(key, accept);
//   kHit   -> found.payload
//   kStale -> found.payload, unless ClaimRefresh(key) grants a ticket: then
//             compute, Complete(ticket, payload) and return the new value
//   kMiss  -> MemoEngine::Claimed c = engine.Claim(key, owner, found.rejected, accept);
//             kValue     -> c.payload (another process's, verified)
//             kGranted   -> compute; Complete(std::move(c.ticket), payload),
//                           or Abandon(std::move(c.ticket), error) if it fails
//             kReentrant -> the caller's own flight (recursion): compute, return
//             kWait      -> c.wait->Get(): a value, the computer's error, or a
//                           ticket (the caller computes after all)
//
// Contract
//   * No call blocks on another computation except Wait::Get: Lookup, Claim,
//     ClaimRefresh, Complete and Abandon only talk to the store (a read, a
//     lease without waiting, a write and a release; a tiered store's tiers
//     one after the other). A front end
//     with an event loop runs Wait::Get off its loop (asyncio: in a thread).
//   * Lookup walks a TieredStore's tiers itself, fastest first, checking the
//     value envelope (envelope.h: MAC, key, codec CBOR) and `accept` in EACH
//     tier. A value that fails is counted in MemoStats::rejected and the walk
//     goes on to the next tier; a verified value found in tier i is copied
//     into the faster tiers 0..i-1 with the ttl it has left (so a tampered or
//     foreign value in a fast tier is overwritten by the good one). Any other
//     store is one tier. Found also says what the walk met, for a front end
//     that reports it itself (Python's cache_info and log): the tier that
//     answered, the value's codec and ttl left, the last rejection and the
//     first store failure (a failed backfill write included) with their tiers.
//   * Payload kinds: a value is accepted only in a codec of
//     EngineOptions::codecs (default CBOR; Python also reads pickle and raw,
//     and decodes -- or refuses -- them itself after Lookup, with its GIL).
//   * Single flight in this process: one flight per key. The first Claim of a
//     cold key takes the store's lease without waiting (LeaseOptions::wait 0):
//     granted -> kGranted; the value is there -> kValue (verified as in
//     Lookup; a rejected one is counted and the caller computes: kGranted);
//     another holder (process or machine) -> kWait, and its Get waits for
//     that holder's lease (lease_wait at most), then returns its value or a
//     ticket. Later Claims of the key while a flight is open get kWait on the
//     same flight (kReentrant when `owner` is the flight's owner), and their
//     Get returns what the flight ends with: the value, the function's error
//     (an exception_ptr, not cached), or -- when the flight ends without a
//     value because its computer gave up its ticket without an error -- a
//     ticket of their own.
//   * Stale-while-revalidate: Lookup says kStale within the last
//     stale_while_revalidate of an entry's stored life (entries are stored
//     for ttl + stale_while_revalidate). ClaimRefresh takes the lease without
//     waiting and without a value check: a ticket (refresh and Complete) or
//     none (another holder refreshes: serve the stale value,
//     MemoStats::stale_served); with no store, lease=false or a lease that
//     failed, a ticket without a lease.
//   * No store (EngineOptions::no_store): single flight only, for a front
//     end that keeps values itself; Complete(ticket, Result) then hands the
//     waiters either a payload or none (Wait::Outcome::has_payload false:
//     the front end finds the value in its own memory tier).
//   * Failure policy, one for every front end: no store failure reaches the
//     caller. A lookup that cannot be answered is a miss (and the claim
//     still tries the lease: the store may answer again), a failed lease
//     computes (or refreshes) without it, a failed write or release is
//     ignored, a failed backfill is counted and never thrown; a value too
//     large for the store (kInvalidArgument) is the value's failure, not the
//     store's: counted and reported, never thrown even when strict. Each failure
//     counts in MemoStats::store_errors -- an unreachable store (a lookup the
//     store answered as a miss with a reason, e.g. Redis down) included --
//     and the first one is reported once through EngineOptions::on_store_error
//     (default: one line on stderr). EngineOptions::strict (or a store whose
//     Describe() says strict=1) throws StoreError from Lookup, Claim,
//     ClaimRefresh, Wait::Get and Complete instead (the flight's waiters get
//     the same error); Abandon never throws (the caller's own error must
//     reach it as it is).
//   * A Ticket is move-only; one that is destroyed without Complete or
//     Abandon abandons (releases the lease, wakes the waiters with no value).
//   * Thread-safe. The engine must outlive its tickets and wait handles'
//     Get calls.

#ifndef MEMOKEY_MEMO_ENGINE_H_
#define MEMOKEY_MEMO_ENGINE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/cbor_reader.h"
#include "memokey/envelope.h"
#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/tiered_store.h"

namespace memokey {

// The engine's counters: one definition for every front end.
struct MemoStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t computed = 0;        // calls of the function (tickets granted, re-entries)
  std::uint64_t waited = 0;          // claims that waited for another caller in this process
  std::uint64_t rejected = 0;        // stored values that failed verification or decoding
  std::uint64_t store_errors = 0;    // store failures: lookups, writes, leases, releases
  std::uint64_t lease_waits = 0;     // found another caller's lease and waited
  std::uint64_t lease_hits = 0;      // got the value another caller computed under its lease
  std::uint64_t lease_timeouts = 0;  // waited lease_wait in vain, then computed
  std::uint64_t stale_served = 0;    // stale hits answered with the old value
  std::uint64_t revalidated = 0;     // stale hits that recomputed (held the lease)
};

// What a strict engine (EngineOptions::strict) throws when its store fails:
// status() is the store's answer.
class StoreError : public std::runtime_error {
 public:
  StoreError(const std::string& what, Status status)
      : std::runtime_error(what), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

struct EngineOptions {
  std::string name;                   // the memoized function's name, for reports
  std::string label;                  // sealed into every value (FunctionLabel)
  std::chrono::milliseconds ttl{0};   // 0: no expiry
  std::optional<std::string> secret;  // default: LoadSecret (MEMOKEY_SECRET or key file)
  // Load the secret at the first Lookup/Save that needs it, not in the
  // constructor (Python: a memoized function that is never called needs no
  // secret). A failure to load it is that call's store failure, counted in
  // store_errors and not thrown even when strict: Lookup misses (Found::failure
  // "no secret: ..."), Save does not write. Later calls try again.
  bool lazy_secret = false;
  // The payload codecs the front end reads; a value in another codec is
  // rejected like a tampered one.
  std::vector<Codec> codecs{Codec::kCbor};
  std::size_t compress_threshold = kDefaultCompressThreshold;  // zstd from this many payload bytes
  bool lease = true;  // single flight across processes (store leases)
  std::chrono::milliseconds lease_ttl{60000};
  std::chrono::milliseconds lease_wait{60000};
  std::chrono::milliseconds stale_while_revalidate{0};  // needs ttl > 0
  bool strict = false;
  // The first store failure, once (a sentence naming the store, the failure
  // and what to do); empty: stderr. Must not throw.
  std::function<void(const std::string&)> on_store_error;
  // No store at all (MemoEngine's store may then be null): single flight
  // only, for a front end that keeps values itself (Python's memory tier
  // with store=False). Lookup misses, claims take no lease, Complete lands
  // the flight without writing, and no secret is ever loaded.
  bool no_store = false;
  // The rest of the report's sentence: where the count is and how to be strict.
  std::string report_hint =
      "counted in MemoStats::store_errors; reported once. Check that the store is reachable and "
      "writable (a disk:// directory: exists, belongs to this user, not on a full disk), or "
      "give memoize another store; MemoOptions::strict raises instead.";
};

class MemoEngine {
 public:
  // Does a payload decode as the caller's result type? Empty: any CBOR does.
  using Accept = std::function<bool(ByteSpan)>;

  // Throws std::invalid_argument (null store, a bad stale_while_revalidate)
  // or std::runtime_error (no secret).
  MemoEngine(std::shared_ptr<Store> store, EngineOptions options);
  ~MemoEngine();
  MemoEngine(const MemoEngine&) = delete;
  MemoEngine& operator=(const MemoEngine&) = delete;

  struct Found {
    enum class State : std::uint8_t { kHit, kStale, kMiss };
    State state = State::kMiss;
    std::string payload;    // kHit, kStale: the verified payload
    bool rejected = false;  // kMiss: a stored value was there and failed verification
    // What the walk met (see the contract). Tier indexes count a
    // TieredStore's tiers fastest first; any other store is tier 0.
    static constexpr std::size_t kNoTier = static_cast<std::size_t>(-1);
    std::size_t tier = kNoTier;             // kHit, kStale: the tier that answered
    Codec codec = Codec::kCbor;             // kHit, kStale: the payload's codec
    std::chrono::milliseconds ttl_left{0};  // kHit, kStale: 0 = no expiry
    std::size_t rejections = 0;             // values that failed verification
    std::size_t rejected_tier = kNoTier;    // the last of them: its tier
    std::string rejection;                  // and why (OpenEnvelope's status)
    std::size_t failures = 0;               // store failures, backfill writes included
    std::size_t failed_tier = kNoTier;      // the first of them: its tier (kNoTier: the secret)
    std::string failure;                    // and what the store said
  };
  Found Lookup(std::string_view key, const Accept& accept = {});

  class Ticket;
  class Wait;
  struct Claimed {
    enum class State : std::uint8_t { kGranted, kValue, kWait, kReentrant };
    State state = State::kGranted;
    std::string payload;             // kValue
    Codec codec = Codec::kCbor;      // kValue: the payload's codec
    std::unique_ptr<Ticket> ticket;  // kGranted
    std::shared_ptr<Wait> wait;      // kWait
  };
  // After a miss (Lookup's `rejected` passed on: a rejected stored value must
  // not come back as the lease's value). `owner` names the caller's thread of
  // execution for re-entry (C++: its thread).
  Claimed Claim(std::string_view key, std::uint64_t owner, bool rejected,
                const Accept& accept = {});
  // A stale hit: a ticket to refresh it, or none (serve the stale value).
  std::unique_ptr<Ticket> ClaimRefresh(std::string_view key);
  // Seals and stores the payload, releases the lease, hands the payload to
  // the flight's waiters.
  void Complete(std::unique_ptr<Ticket> ticket, std::string_view payload);

  // What a front end that keeps values itself (Python) completes a ticket
  // with. The waiters of the flight get Wait::Outcome kValue with `payload`
  // (has_payload false when there is none: the front end finds the value in
  // its own memory tier), or `error` when it is set.
  struct Result {
    std::optional<std::string_view> payload;  // none: nothing to store (memory only)
    Codec codec = Codec::kCbor;
    // The stored life; none: the engine's ttl (+ stale_while_revalidate).
    std::optional<std::chrono::milliseconds> ttl;
    bool save = true;  // false: not written (the value came from elsewhere)
    // Set: the call failed with this error (a cached exception is still
    // saved as `payload`); the waiters get it instead of a value.
    std::exception_ptr error;
  };
  // Complete with a Result. Strict engines throw StoreError (after landing
  // the flight with it); otherwise a failed write is counted, reported and
  // returned (the caller may log it) -- the flight lands as if it succeeded.
  Status Complete(std::unique_ptr<Ticket> ticket, const Result& result);
  // Releases the lease; the waiters get `error` (null: no value, their Get
  // returns a ticket). Never throws.
  void Abandon(std::unique_ptr<Ticket> ticket, std::exception_ptr error) noexcept;

  // Seals and stores a payload without a claim (Store.put of a value).
  void Save(std::string_view key, std::string_view payload);
  // The same, in `codec` for `ttl` (none: the engine's): the status, after
  // counting and reporting a failure (strict: throws StoreError).
  Status Save(std::string_view key, std::string_view payload, Codec codec,
              std::optional<std::chrono::milliseconds> ttl);

  // What each tier holds for key, fastest first, for a front end's
  // explain(): read and verified (MAC, codec) as Lookup does, but without
  // backfill and without counting anything.
  struct TierState {
    enum class State : std::uint8_t { kHit, kAbsent, kExpired, kRejected, kError };
    State state = State::kAbsent;
    std::string detail;  // kRejected, kError: why
    Codec codec = Codec::kRaw;  // kHit
    std::string payload;        // kHit
  };
  std::vector<TierState> Inspect(std::string_view key);

  MemoStats Stats() const;
  const std::string& name() const { return options_.name; }
  const Store& store() const { return *store_; }

  // Counted by front ends for what they decide themselves (a memory tier).
  void CountHit() { counters_.hits.fetch_add(1, std::memory_order_relaxed); }

  struct Flight;

 private:
  friend class Ticket;
  friend class Wait;
  // Opens and checks a stored value; a rejection is counted and, when
  // `why` is given, explained there.
  bool Verify(std::string_view key, const std::string& sealed, const Accept& accept,
              std::string* payload, Codec* codec = nullptr, std::string* why = nullptr);
  // The secret (loaded now if lazy_secret); null with *error when it cannot be.
  const Secret* GetSecret(Status* error);
  void StoreFailed(const char* operation, const Status& status, bool may_throw);
  // Ends a flight: removes it from the table and wakes its waiters.
  void Land(const std::shared_ptr<Flight>& flight, std::optional<std::string> payload,
            std::exception_ptr error, Codec codec = Codec::kCbor, bool has_value = false);
  void Release(Ticket& ticket, bool may_throw);
  std::shared_ptr<Wait> MakeWait(std::string_view key, std::shared_ptr<Flight> flight, bool leader,
                                 std::uint64_t owner, bool rejected, const Accept& accept);
  std::unique_ptr<Ticket> MakeTicket(std::string_view key, std::shared_ptr<Flight> flight,
                                     std::string token, bool refresh);

  std::shared_ptr<Store> store_;
  TieredStore* tiered_ = nullptr;  // store_ itself when it is tiered
  EngineOptions options_;
  bool strict_ = false;
  std::once_flag reported_;
  std::mutex secret_mutex_;
  std::atomic<bool> secret_ready_{false};
  Secret secret_;
  struct Flights;
  std::unique_ptr<Flights> flights_;
  struct Counters {
    std::atomic<std::uint64_t> hits{0}, misses{0}, computed{0}, waited{0}, rejected{0},
        store_errors{0}, lease_waits{0}, lease_hits{0}, lease_timeouts{0}, stale_served{0},
        revalidated{0};
  };
  Counters counters_;
};

// The right and the duty to Complete or Abandon one key's computation.
class MemoEngine::Ticket {
 public:
  ~Ticket();
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  const std::string& key() const { return key_; }
  bool refresh() const { return refresh_; }

 private:
  friend class MemoEngine;
  Ticket() = default;
  MemoEngine* engine_ = nullptr;
  std::string key_;
  std::string token_;               // the store's lease; empty: none
  std::shared_ptr<Flight> flight_;  // null for a refresh
  bool refresh_ = false;
  bool open_ = true;
};

// Another caller is computing the key: Get blocks until it is done.
class MemoEngine::Wait {
 public:
  struct Outcome {
    enum class State : std::uint8_t { kValue, kError, kGranted };
    State state = State::kValue;
    std::string payload;       // kValue
    Codec codec = Codec::kCbor;  // kValue: the payload's codec
    bool has_payload = true;     // kValue: false when the computer stored nothing (Result)
    std::exception_ptr error;  // kError: the computer's exception
    // kGranted: compute after all, then Complete/Abandon it. Null when the
    // flight was abandoned and the caller's own flight is open above it
    // (re-entry): compute only.
    std::unique_ptr<Ticket> ticket;
  };
  // Blocks: for the computer in this process, or (the caller that opened the
  // flight) for another process's lease, up to lease_wait. Once per handle.
  Outcome Get();
  ~Wait();

 private:
  friend class MemoEngine;
  MemoEngine* engine_ = nullptr;
  std::string key_;
  std::shared_ptr<Flight> flight_;
  bool leader_ = false;  // opened the flight: waits for the store's lease
  bool got_ = false;
  std::uint64_t owner_ = 0;
  bool rejected_ = false;  // the caller's lookup rejected a stored value
  Accept accept_;
};

}  // namespace memokey

#endif  // MEMOKEY_MEMO_ENGINE_H_
