// memokey/store_backends.h — the store backends, their options and their
// direct constructors (what OpenStore in store_spec.h calls after parsing a
// URL). Every backend keeps the contract of store.h. What each one does, under
// the URL that selects it (store_spec.h has the URL grammar):
//
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
//
// strict (every backend; default false): see Store::strict(). memory:// and
// disk:// stores cannot be unavailable; for them strict only tells memoizers
// to raise the store's failures instead of computing without it.

#ifndef MEMOKEY_STORE_BACKENDS_H_
#define MEMOKEY_STORE_BACKENDS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey {

struct MemoryStoreOptions {
  std::uint64_t max_bytes = std::uint64_t{64} << 20;
  unsigned shards = 0;  // 0: max_bytes / 4 MiB clamped to 1..16
  bool strict = false;
};
Status OpenMemoryStore(const MemoryStoreOptions& options, std::unique_ptr<Store>* out);

struct DiskStoreOptions {
  enum class Sync : std::uint8_t { kFull, kMeta, kNone };
  std::string path;  // absolute
  std::uint64_t max_bytes = std::uint64_t{1} << 30;
  Sync sync = Sync::kNone;  // see disk:// above
  bool strict = false;
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
  std::chrono::milliseconds timeout{1000};      // per command
  std::chrono::milliseconds backoff{100};       // first reconnect delay
  std::chrono::milliseconds max_backoff{1000};  // keeps recovery within ~1 s of Redis returning
  unsigned pool = 4;                            // per server (per node in a cluster)
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

}  // namespace memokey

#endif  // MEMOKEY_STORE_BACKENDS_H_
