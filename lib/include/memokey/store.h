// memokey/store.h — byte-string key/value stores: memory, disk (SQLite), Redis, tiered.
//
// Contract (every implementation)
//   * Keys are arbitrary byte strings of 1 to kMaxStoreKeyBytes bytes; an
//     empty or longer key is Status::Error (InvalidArgument).
//     Values are arbitrary byte strings. Stores never look inside either: the
//     value envelope (envelope.h) is the layer that signs and checks values.
//   * Get: OK and *value filled on a hit; Status::NotFound on a miss. A store
//     that cannot answer (Redis down) counts an error and reports a miss, unless
//     it was opened "strict", in which case it returns Status::Unavailable.
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
// URLs (OpenStore). Sizes take the suffixes K/M/G/T and KiB/MiB/GiB/TiB (powers
// of 1024) or KB/MB/GB/TB (powers of 1000), case-insensitive; query values are
// percent-decoded.
//   memory://?max_bytes=64M&shards=16
//       In-process, sharded (shards default: max_bytes / 4 MiB, clamped to
//       1..16), S3-FIFO eviction by bytes, TTL. An entry larger than one shard's
//       share of max_bytes is not admitted. Default max_bytes 64 MiB.
//   disk:///absolute/path?max_bytes=1G&sync=none
//       One SQLite database in WAL mode in that directory (created 0700,
//       parents too; an existing one must belong to this user and not be
//       group/other-writable): <dir>/store.db, with <dir>/leases/ for leases.
//       Shared safely by many threads and processes; a crash (kill -9) never
//       leaves a torn value. No file content can crash the store or make it
//       serve other bytes than were put: every row carries a checksum checked
//       on read (a damaged row is dropped, a miss, counted in stats.damaged),
//       and a database SQLite reports malformed is moved to <dir>/damaged/ and
//       replaced by an empty one at once (counted too; the newest three are
//       kept for inspection). A directory removed under a running process
//       (rm -rf of the cache) is re-created at the next write. Eviction is
//       least recently used first (expired entries first); a hit does not
//       write: access times are batched into this process's next write.
//       sync=none|meta|full (default none: no fsync at all — a cache needs no
//       durability, only never a torn or wrong value. A process killed at any
//       moment loses nothing; a machine crash may lose recent writes or damage
//       the file, which is then detected and replaced as above. meta: SQLite's
//       synchronous=NORMAL, an fsync at each WAL checkpoint: a machine crash
//       loses at most the last writes, never the file. full: an fsync per
//       write). Relative paths are refused (they would depend on the working
//       directory). Default max_bytes 1 GiB.
//       Not for network filesystems (WAL needs shared memory between the
//       processes): share a cache between machines through memokeyd.
//   redis://[user:password@]host[:port][/db]?prefix=memokey:&timeout_ms=1000
//       &connect_timeout_ms=1000&pool=4&strict=0&backoff_ms=100&max_backoff_ms=1000
//   redis+unix://[user:password@]/path/to/redis.sock?db=0&...
//   redis+cluster://[user:password@]host[:port][,host[:port]...][/]?prefix=...&...
//       hiredis, a pool of `pool` connections opened lazily; AUTH (with user
//       when given) and SELECT on connect. A failed connect starts exponential
//       backoff (backoff_ms doubling to max_backoff_ms, with jitter) during
//       which calls fail fast instead of waiting for timeouts. The Redis key of
//       store key K is  prefix + "{" + K + "}" : one prefix per namespace, and
//       the braces make K the Redis Cluster hash tag (Cluster hashes only the
//       text between the first '{' and the next '}'), so that the companions
//       of an entry, the lease prefix{K}:lease and its wake-up channel
//       prefix{K}:done, land in the same slot. A prefix must not contain '{'
//       or '}'. TTL via SET ... PX. Stats bytes/entries are 0 (Redis keeps
//       those, not the client). rediss:// (TLS) is not supported.
//       Each value is stored framed: "mk1", an XXH3-64 checksum of the store
//       key and the value, then the value (11 bytes more per entry). Every
//       read (Get, GetMany, a lease's value lookup; both deployments)
//       verifies it: a value that fails — damaged in Redis, moved from
//       another key, not framed — is a miss, counted in stats.damaged, and
//       deleted (only if still the bytes read; best effort). Values written
//       by versions without the frame are therefore misses (a cold cache
//       after the upgrade); an older version reading framed values would
//       return the frame with them, so old and new versions must not share
//       a prefix. Contains (EXISTS) does not read the value.
//       Leases: SET prefix{K}:lease <token> NX PX <ttl>; released by a script
//       that deletes it only for its token and PUBLISHes on prefix{K}:done,
//       where waiters are subscribed (polling at most every 250 ms, and at
//       the lease's expiry, only as a fallback). Backend failures give
//       Status::Unavailable, strict or not.
//       redis+cluster:// takes the same parameters except db (a cluster has
//       only database 0). The seeds (default port 6379) are tried in turn for
//       CLUSTER SLOTS; each node gets its own pool of `pool` connections and
//       its own backoff. Commands go to the master of their key's slot,
//       following MOVED (which re-reads the slot map) and ASK; TRYAGAIN,
//       CLUSTERDOWN and unreachable masters are retried a few times within
//       timeout_ms, re-reading the map. During a failover (until a replica is
//       promoted) calls on the lost master's slots fail like calls on a down
//       server: counted misses, or Unavailable. GetMany pipelines one GET per
//       key on each node, writing to all nodes before reading.
//   http://[token@]host[:port]/namespace?timeout_ms=5000&connect_timeout_ms=1000
//       &pool=8&retries=1&strict=0
//       memokeyd (docs/SERVER.md): GET/PUT/DELETE/HEAD /v1/namespace/key with
//       keep-alive connections (a pool of `pool` idle ones), a deadline per
//       request, and `retries` more attempts on connection failures. The token
//       (also accepted as the password of user:token@) is sent as a Bearer
//       token. Keys made of [A-Za-z0-9._-] (not starting with '.') are sent as
//       they are, others as '~' + hex. Failures behave as Redis's do: Get is a
//       counted miss unless strict=1, Put/Delete return Unavailable.
//   tiered:URL1|URL2|...
//       Tiers fastest first, e.g. tiered:memory://?max_bytes=64M|disk:///var/cache/x|redis://h:6379
//       Read-through (a hit in tier i is copied into tiers 0..i-1 with its
//       remaining TTL), write-through to every tier. A '|' inside a tier URL
//       must be written %7C. Tiers cannot themselves be tiered.

#ifndef MEMOKEY_STORE_H_
#define MEMOKEY_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

// --- Leases: single flight across processes and machines ----------------------
//
// A lease is a claim on one key: "I am computing this value, wait for it".
// The memoizers take one after a miss, so that N callers of a cold key in N
// processes (or machines) compute it once:
//
//   LeaseResult lease;
//   store.AcquireLease(key, {}, &lease);
//   kValue    -> use lease.value (it was there, or landed while we waited)
//   kGranted  -> compute, Put(key, value), ReleaseLease(key, lease.token);
//                on failure: ReleaseLease at once, so the next caller starts
//   kTimedOut / kUnsupported / an error status -> compute anyway
//
// Guarantees: at most one holder per key at a time while the lease lives;
// only the holder (its token) releases it; a lease whose holder dies ends by
// itself — when its ttl passes (Redis, memokeyd, memory), or at once when the
// OS releases the holder's lock (disk: flock). A lease is advisory: a holder
// slower than the ttl loses it and a second caller may compute too — a
// duplicate computation, never a wrong value. Waiters wake when the holder
// releases (pub/sub on Redis, a condition variable in process, polling of the
// lock file on disk) and re-check the value; polling is only a fallback
// bounded by the lease's remaining time.
struct LeaseOptions {
  std::chrono::milliseconds ttl{60000};   // the lease ends by itself after this
  std::chrono::milliseconds wait{60000};  // the longest AcquireLease waits for another holder
  // Look the value up before granting (and return kValue if it is there).
  // false: only the lease is tried — for refreshing a stale value.
  bool check_value = true;
};

struct LeaseResult {
  enum class State : std::uint8_t { kUnsupported, kGranted, kValue, kTimedOut };
  State state = State::kUnsupported;
  std::string token;                      // kGranted: what ReleaseLease needs
  std::string value;                      // kValue
  std::chrono::milliseconds ttl_left{0};  // kValue: as GetWithTtl reports it
  bool waited = false;                    // another holder was seen
};

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

  // See "Leases" above. Default: kUnsupported (single flight stays per
  // process). An unreachable backend gives Status::Unavailable: compute anyway.
  virtual Status AcquireLease(std::string_view key, const LeaseOptions& options,
                              LeaseResult* out);
  // Ends the lease on `key` if `token` still holds it (OK either way: an
  // expired or taken-over lease is left alone) and wakes its waiters.
  virtual Status ReleaseLease(std::string_view key, std::string_view token);

  // The store's URL in canonical form, with any password replaced by "***".
  virtual std::string Describe() const = 0;

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

// What PruneStore did.
struct PruneResult {
  std::uint64_t expired = 0;       // expired entries removed
  std::uint64_t evicted = 0;       // live entries removed to meet max_bytes
  std::uint64_t entries_left = 0;  // entries seen and kept
  std::uint64_t bytes_left = 0;    // their key + value bytes
};

// Removes the expired entries Scan reports, then, when max_bytes is given,
// live entries -- least recently used first (the largest idle first; where
// the store does not know, in scan order) -- until the key + value bytes of
// the rest are at most max_bytes. One implementation over Scan and Delete
// for every store that can Scan: an entry written again between the scan
// and its deletion is deleted too (a recomputation, never a wrong value).
// progress: called every few hundred deletions with the number done.
Status PruneStore(Store& store, std::optional<std::uint64_t> max_bytes, PruneResult* out,
                  const StoreProgress& progress = {});

// What ClearLabelled did.
struct ClearLabelledResult {
  std::uint64_t removed = 0;  // entries deleted (from every tier they were in)
  // Describe() of the tiers of a tiered store that cannot list their
  // entries (http://, redis+cluster://): entries of the label that only
  // they hold stay there.
  std::vector<std::string> unlisted;
};

// Deletes the entries whose value is an envelope (envelope.h) with a label
// `match` accepts: what `f.cache_clear()` and `memokey cache clear
// --function` run to find one function's entries in a shared store. One
// implementation over Scan (with heads: PeekEnvelopeLabel, which does not
// check MACs -- a forged label can at worst get an entry deleted) and Delete
// for every store that can Scan; unlabelled values (envelope version 1, not
// envelopes) never match. A tiered store is scanned tier by tier, tiers that
// cannot list are skipped (out->unlisted), and a matching key is deleted
// from the whole store, so from the unlisted tiers too where they hold it.
// Status::Error when the store (or every tier) cannot list. Entries written
// meanwhile may survive. progress: as for PruneStore.
Status ClearLabelled(Store& store, const std::function<bool(std::string_view label)>& match,
                     ClearLabelledResult* out, const StoreProgress& progress = {});

// Opens a store from a URL (see the top of this file). Bad URLs give
// Status::Error naming the offending part; a disk directory that cannot be
// created or opened gives Status::IOError. Redis connects lazily: opening
// never fails because the server is down.
Status OpenStore(std::string_view url, std::unique_ptr<Store>* out);

// --- Direct construction (what OpenStore does after parsing) -----------------

struct MemoryStoreOptions {
  std::uint64_t max_bytes = std::uint64_t{64} << 20;
  unsigned shards = 0;  // 0: max_bytes / 4 MiB clamped to 1..16
};
Status OpenMemoryStore(const MemoryStoreOptions& options, std::unique_ptr<Store>* out);

struct DiskStoreOptions {
  enum class Sync : std::uint8_t { kFull, kMeta, kNone };
  std::string path;  // absolute
  std::uint64_t max_bytes = std::uint64_t{1} << 30;
  Sync sync = Sync::kNone;  // see the disk:// URL above
};
Status OpenDiskStore(const DiskStoreOptions& options, std::unique_ptr<Store>* out);

struct RedisStoreOptions {
  std::string host = "127.0.0.1";  // TCP, unless unix_socket is set
  int port = 6379;
  std::string unix_socket;
  std::string user;      // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;  // empty: no AUTH
  int db = 0;
  std::string prefix = "memokey:";
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds timeout{1000};  // per command
  std::chrono::milliseconds backoff{100};   // first reconnect delay
  std::chrono::milliseconds max_backoff{1000};  // keeps recovery within ~1 s of Redis returning
  unsigned pool = 4;  // per server (per node in a cluster)
  bool strict = false;
  // Redis Cluster: the seed nodes, tried in turn for the slot map. Non-empty
  // selects cluster mode, in which host, port and unix_socket are unused and
  // db must be 0 (a cluster has no other database).
  struct Seed {
    std::string host;
    int port = 6379;
  };
  std::vector<Seed> cluster_seeds;
};
Status OpenRedisStore(const RedisStoreOptions& options, std::unique_ptr<Store>* out);

struct HttpStoreOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string key_namespace;
  std::string token;  // empty: no Authorization header
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds timeout{5000};  // per request
  unsigned pool = 8;                        // idle connections kept
  unsigned retries = 1;
  std::uint64_t max_value_bytes = std::uint64_t{1} << 30;
  bool strict = false;
};
Status OpenHttpStore(const HttpStoreOptions& options, std::unique_ptr<Store>* out);

// Tiers fastest first. Get reports which tier answered.
class TieredStore final : public Store {
 public:
  explicit TieredStore(std::vector<std::unique_ptr<Store>> tiers);
  ~TieredStore() override;

  // *tier_index: the tier that answered, or -1 on a miss.
  Status Get(std::string_view key, std::string* value, int* tier_index);
  Status Get(std::string_view key, std::string* value) override;
  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override;
  Status GetMany(std::span<const std::string_view> keys,
                 std::vector<std::optional<std::string>>* values) override;
  Status GetManyWithTtl(std::span<const std::string_view> keys,
                        std::vector<std::optional<std::string>>* values,
                        std::vector<std::chrono::milliseconds>* ttls_left) override;
  Status Put(std::string_view key, std::string_view value,
             std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) override;
  Status Delete(std::string_view key) override;
  Status Contains(std::string_view key, bool* present) override;
  // On the slowest tier that has leases; a value found there is backfilled.
  Status AcquireLease(std::string_view key, const LeaseOptions& options,
                      LeaseResult* out) override;
  Status ReleaseLease(std::string_view key, std::string_view token) override;
  // hits/misses/puts/deletes: calls of the tiered store; errors, evictions,
  // expired, bytes and entries: sums over the tiers.
  StoreStats Stats() const override;
  std::string Describe() const override;
  // Every tier's entries, each key once (the fastest tier's view of it).
  using Store::Scan;
  Status Scan(const ScanOptions& options,
              const std::function<bool(const StoreEntry&)>& visit) override;
  // Clears every tier; *removed: the sum over the tiers.
  Status Clear(std::uint64_t* removed, const StoreProgress& progress = {}) override;

  std::size_t tier_count() const;
  Store& tier(std::size_t index);
  std::vector<StoreStats> TierStats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memokey

#endif  // MEMOKEY_STORE_H_
