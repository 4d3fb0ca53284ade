// memokey/store.h — the byte-string key/value Store interface.
//
// The backends (memory, disk, Redis, memokeyd) and their options are in
// store_backends.h, TieredStore in tiered_store.h, opening a store from a URL
// in store_spec.h, leases in lease.h, the management algorithms over this
// interface (PruneStore, ClearLabelled) in store_manage.h.
//
// Contract (every implementation)
//   * Keys are arbitrary byte strings of 1 to kMaxStoreKeyBytes bytes; an
//     empty or longer key is Status::Error (InvalidArgument).
//     Values are arbitrary byte strings. Stores never look inside either: the
//     value envelope (envelope.h) is the layer that signs and checks values.
//   * Get: OK and *value filled on a hit; Status::NotFound on a miss. A store
//     that cannot answer (Redis down) counts an error and reports a miss, unless
//     it was opened strict (strict()), in which case it returns Status::Unavailable.
//   * GetMany: one entry per key, std::nullopt for a miss; the status is OK
//     unless an argument is bad or a strict store is unavailable.
//   * Put: ttl 0 means no expiry; a negative ttl is an error. An expired entry is
//     never returned. A value too large for the store's byte budget is not
//     admitted: Put returns OK, the entry is absent afterwards (any older value
//     of that key is removed too) and stats.evictions counts it — a cache must
//     not fail the caller's computation because a result is big.
//   * Delete: OK whether or not the key was present.
//   * Nothing throws except std::bad_alloc.
//   * A store never returns bytes other than the ones put under that key:
//     persistent stores (disk, Redis) check a checksum per entry on every
//     read; a damaged entry is deleted and answered as a miss, counted in
//     stats.damaged.
//   * Every store is safe to use from many threads at once, and across fork():
//     in a child, disk and Redis stores open their own database connections
//     and sockets on first use instead of sharing the parent's (which SQLite
//     forbids and which would mix up Redis replies); a memory store is copied.
//
#ifndef MEMOKEY_STORE_H_
#define MEMOKEY_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/lease.h"
#include "memokey/status.h"

namespace memokey {

inline constexpr std::size_t kMaxStoreKeyBytes = 511;

// A snapshot of a store's counters. hits..evictions count calls of this store
// object (this process); bytes and entries describe the store's content where
// the store knows it (for disk: the whole shared environment; Redis: 0).
struct StoreStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;     // including misses caused by errors
  std::uint64_t puts = 0;       // successful Put calls (admitted or not)
  std::uint64_t deletes = 0;    // successful Delete calls
  std::uint64_t errors = 0;     // backend failures (unreachable server, I/O)
  std::uint64_t evictions = 0;  // entries dropped for space (and values not admitted)
  std::uint64_t expired = 0;    // entries dropped because their TTL had passed
  std::uint64_t damaged = 0;    // entries (or whole files) found damaged: dropped, never served
  std::uint64_t bytes = 0;      // bytes charged against max_bytes: key + value + overhead
  std::uint64_t entries = 0;
};

// Adds what a backend reports of itself -- failures, drops, space -- to
// *total: the part a store that wraps other stores (tiered, per-namespace)
// sums, while the calls (hits, misses, puts, deletes) it counts itself.
inline void AddBackendStats(StoreStats* total, const StoreStats& part) {
  total->errors += part.errors;
  total->evictions += part.evictions;
  total->expired += part.expired;
  total->damaged += part.damaged;
  total->bytes += part.bytes;
  total->entries += part.entries;
}

// One entry as Store::Scan reports it (the value itself is not read).
struct StoreEntry {
  std::string key;
  std::uint64_t value_bytes = 0;  // the stored value's size (Redis: without its 11-byte frame)
  // Remaining time to live; nullopt: no expiry. Zero or less: expired and not
  // removed yet (disk and memory stores remove expired entries lazily; such
  // an entry is never returned by Get).
  std::optional<std::chrono::milliseconds> ttl_left;
  // Time since the entry was last written or read, where the store keeps it
  // (disk: reads are recorded in batches; Redis: OBJECT IDLETIME, whole
  // seconds); nullopt: unknown (memory, whose S3-FIFO keeps no clock).
  std::optional<std::chrono::milliseconds> idle;
  // The value's first ScanOptions::head_bytes bytes (all of a shorter one) as
  // Get would return them (Redis: after its frame); empty when not asked for.
  // Not verified: the row checksum or Redis frame covers the whole value, and
  // a scan does not read it -- what a head says (e.g. an envelope's label,
  // PeekEnvelopeLabel) is for listing and choosing entries, not for trust.
  std::string head;
};

// What Store::Scan reads besides each entry's key, size, ttl and idle time.
struct ScanOptions {
  // Leading bytes of each value to put in StoreEntry::head; 0: none.
  // kEnvelopePeekBytes (envelope.h) is enough for an envelope's label. Redis
  // reads them with GETRANGE (pipelined with the rest); the disk store reads
  // each value whole to cut it (SQLite has no partial reads of a WITHOUT
  // ROWID row's value), so a scan with heads reads the database once.
  std::size_t head_bytes = 0;
};

// Called by long operations (Clear, PruneStore) between batches with the
// number of entries done so far; returning false stops the operation there
// (which then returns OK: what was done stays done).
using StoreProgress = std::function<bool(std::uint64_t done)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual Status Get(std::string_view key, std::string* value) = 0;
  // Like Get, and *ttl_left is the remaining time to live (0 when the entry
  // has none, or when the store cannot tell). Used to backfill faster tiers.
  virtual Status GetWithTtl(std::string_view key, std::string* value,
                            std::chrono::milliseconds* ttl_left);
  // Default: one Get per key.
  virtual Status GetMany(std::span<const std::string_view> keys,
                         std::vector<std::optional<std::string>>* values);
  // GetMany plus each hit's remaining time to live (as in GetWithTtl).
  // Default: one GetWithTtl per key.
  virtual Status GetManyWithTtl(std::span<const std::string_view> keys,
                                std::vector<std::optional<std::string>>* values,
                                std::vector<std::chrono::milliseconds>* ttls_left);
  virtual Status Put(std::string_view key, std::string_view value,
                     std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) = 0;
  virtual Status Delete(std::string_view key) = 0;
  virtual Status Contains(std::string_view key, bool* present) = 0;
  virtual StoreStats Stats() const = 0;

  // See lease.h. Default: kUnsupported (single flight stays per process).
  // An unreachable backend gives Status::Unavailable: compute anyway.
  virtual Status AcquireLease(std::string_view key, const LeaseOptions& options, LeaseResult* out);
  // Ends the lease on `key` if `token` still holds it (OK either way: an
  // expired or taken-over lease is left alone) and wakes its waiters.
  virtual Status ReleaseLease(std::string_view key, std::string_view token);

  // The store's URL in canonical form, with any password replaced by "***".
  virtual std::string Describe() const = 0;

  // True when the store was opened strict (strict=1 in its URL, or the
  // backend options' strict): Redis and memokeyd stores then answer Get with
  // Status::Unavailable instead of a counted miss, and memoizers raise the
  // store's failures instead of computing without it. A tiered store is
  // strict when any tier is. Default: false.
  virtual bool strict() const { return false; }

  // --- Management (the `memokey cache` command; not on the hot path) ---------
  //
  // Scan calls visit(entry) for every entry of the store -- on Redis, every
  // key under this store's prefix (leases excluded) -- until visit returns
  // false. Entries put or deleted meanwhile may or may not be seen; none is
  // reported twice. The store is not locked for the duration: disk reads in
  // batches of short transactions, Redis uses SCAN (never KEYS). Stores
  // that cannot enumerate (memokeyd over http://, redis+cluster://) answer
  // Status::Error saying so, without calling visit. Default: that answer.
  // options: see ScanOptions (heads of values).
  virtual Status Scan(const ScanOptions& options,
                      const std::function<bool(const StoreEntry&)>& visit);
  // Scan without heads.
  Status Scan(const std::function<bool(const StoreEntry&)>& visit) {
    return Scan(ScanOptions(), visit);
  }
  // Removes every entry (Redis: every key under the prefix, by SCAN and
  // UNLINK, never FLUSHDB; a lease in flight is left to its ttl) and sets
  // *removed to how many. Entries put meanwhile may survive. Default: Scan,
  // then Delete of each key; progress is called between batches.
  virtual Status Clear(std::uint64_t* removed, const StoreProgress& progress = {});

 protected:
  Store() = default;
  Store(const Store&) = default;
  Store& operator=(const Store&) = default;
};

}  // namespace memokey

#endif  // MEMOKEY_STORE_H_
