// Store defaults and OpenStore: URL parsing for every store kind.

#include "memokey/store.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/hex.h"
#include "store_internal.h"

namespace memokey {

using store_internal::ParseBool;
using store_internal::ParseSize;
using store_internal::ParseUint;
using store_internal::PercentDecode;
using store_internal::QueryParams;

Status Store::GetWithTtl(std::string_view key, std::string* value,
                         std::chrono::milliseconds* ttl_left) {
  *ttl_left = std::chrono::milliseconds{0};
  return Get(key, value);
}

Status Store::GetMany(std::span<const std::string_view> keys,
                      std::vector<std::optional<std::string>>* values) {
  values->clear();
  values->resize(keys.size());
  std::string value;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Status s = Get(keys[i], &value);
    if (s.ok()) {
      (*values)[i] = std::move(value);
      value = std::string();
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Store::GetManyWithTtl(std::span<const std::string_view> keys,
                             std::vector<std::optional<std::string>>* values,
                             std::vector<std::chrono::milliseconds>* ttls_left) {
  values->clear();
  values->resize(keys.size());
  ttls_left->assign(keys.size(), std::chrono::milliseconds{0});
  std::string value;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Status s = GetWithTtl(keys[i], &value, &(*ttls_left)[i]);
    if (s.ok()) {
      (*values)[i] = std::move(value);
      value = std::string();
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Store::AcquireLease(std::string_view key, const LeaseOptions& /*options*/,
                           LeaseResult* out) {
  *out = LeaseResult{};
  return store_internal::CheckKey(key);
}

Status Store::ReleaseLease(std::string_view key, std::string_view /*token*/) {
  return store_internal::CheckKey(key);
}

Status Store::Scan(const ScanOptions& /*options*/,
                   const std::function<bool(const StoreEntry&)>& /*visit*/) {
  return Status::Error(Describe() + ": this store cannot list its entries");
}

// How many deletions a generic Clear or PruneStore does between progress calls.
constexpr std::uint64_t kProgressEvery = 256;

namespace {

// Deletes `keys` one by one, calling progress every kProgressEvery; *done
// counts the deletions. False when progress asked to stop.
Status DeleteAll(Store& store, const std::vector<std::string>& keys, std::uint64_t* done,
                 const StoreProgress& progress, bool* stopped) {
  *stopped = false;
  for (const std::string& key : keys) {
    if (Status s = store.Delete(key); !s.ok()) return s;
    ++*done;
    if (progress && *done % kProgressEvery == 0 && !progress(*done)) {
      *stopped = true;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Status Store::Clear(std::uint64_t* removed, const StoreProgress& progress) {
  *removed = 0;
  // Collected first: deleting while scanning would disturb the scan.
  std::vector<std::string> keys;
  if (Status s = Scan([&](const StoreEntry& e) {
        keys.push_back(e.key);
        return true;
      });
      !s.ok()) {
    return s;
  }
  bool stopped = false;
  return DeleteAll(*this, keys, removed, progress, &stopped);
}

Status PruneStore(Store& store, std::optional<std::uint64_t> max_bytes, PruneResult* out,
                  const StoreProgress& progress) {
  *out = PruneResult{};
  std::vector<std::string> expired;
  std::vector<StoreEntry> live;
  std::uint64_t live_bytes = 0;
  if (Status s = store.Scan([&](const StoreEntry& e) {
        if (e.ttl_left && e.ttl_left->count() <= 0) {
          expired.push_back(e.key);
        } else {
          live_bytes += e.key.size() + e.value_bytes;
          // Only what eviction needs: the value size and the idle time.
          StoreEntry kept;
          kept.key = e.key;
          kept.value_bytes = e.value_bytes;
          kept.idle = e.idle;
          live.push_back(std::move(kept));
        }
        return true;
      });
      !s.ok()) {
    return s;
  }
  std::uint64_t done = 0;
  bool stopped = false;
  if (Status s = DeleteAll(store, expired, &done, progress, &stopped); !s.ok() || stopped) {
    out->expired = done;
    return s;
  }
  out->expired = done;
  std::vector<std::string> evict;
  if (max_bytes && live_bytes > *max_bytes) {
    // Least recently used first; entries of unknown age keep their scan order.
    std::stable_sort(live.begin(), live.end(), [](const StoreEntry& a, const StoreEntry& b) {
      return a.idle.value_or(std::chrono::milliseconds{-1}) >
             b.idle.value_or(std::chrono::milliseconds{-1});
    });
    std::size_t i = 0;
    for (; i < live.size() && live_bytes > *max_bytes; ++i) {
      live_bytes -= live[i].key.size() + live[i].value_bytes;
      evict.push_back(std::move(live[i].key));
    }
  }
  const Status s = DeleteAll(store, evict, &done, progress, &stopped);
  out->evicted = done - out->expired;
  out->entries_left = live.size() - out->evicted;
  out->bytes_left = live_bytes;
  return s;
}

Status ClearLabelled(Store& store, const std::function<bool(std::string_view label)>& match,
                     ClearLabelledResult* out, const StoreProgress& progress) {
  *out = ClearLabelledResult{};
  ScanOptions options;
  options.head_bytes = kEnvelopePeekBytes;
  // Collected first (deleting while scanning would disturb the scan), each
  // key once however many tiers hold it.
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  auto collect = [&](const StoreEntry& e) {
    std::string label;
    if (PeekEnvelopeLabel(e.head, &label) && !label.empty() && match(label) &&
        seen.insert(e.key).second) {
      keys.push_back(e.key);
    }
    return true;
  };
  if (auto* tiered = dynamic_cast<TieredStore*>(&store); tiered != nullptr) {
    Status cannot;
    for (std::size_t i = 0; i < tiered->tier_count(); ++i) {
      Store& tier = tiered->tier(i);
      Status s = tier.Scan(options, collect);
      if (s.code() == Status::Code::kInvalidArgument) {  // this tier cannot list
        out->unlisted.push_back(tier.Describe());
        if (cannot.ok()) cannot = s;
      } else if (!s.ok()) {
        return s;
      }
    }
    if (out->unlisted.size() == tiered->tier_count()) return cannot;
  } else if (Status s = store.Scan(options, collect); !s.ok()) {
    return s;
  }
  bool stopped = false;
  return DeleteAll(store, keys, &out->removed, progress, &stopped);
}

namespace store_internal {

namespace {
// Process-wide by nature: fork() is. Incremented only in the child.
std::atomic<std::uint64_t> g_fork_generation{0};
void OnForkInChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

std::uint64_t ForkGeneration() {
  [[maybe_unused]] static const int registered = pthread_atfork(nullptr, nullptr, OnForkInChild);
  return g_fork_generation.load(std::memory_order_relaxed);
}

namespace {
// "'text'", shortened so that a long or binary parameter cannot flood a message.
std::string Quote(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  for (char c : text.substr(0, kMax)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (text.size() > kMax) out += "...";
  return out + "'";
}
}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || std::string_view("-._~:/@!$'()*,;").find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Status QueryParams::Parse(std::string_view query, std::string what, QueryParams* out) {
  out->params_.clear();
  out->what_ = std::move(what);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::Error(out->what_ + ": parameter " + Quote(item) + " has no '=value'");
    }
    std::optional<std::string> name = PercentDecode(item.substr(0, eq));
    std::optional<std::string> value = PercentDecode(item.substr(eq + 1));
    if (!name || !value) {
      return Status::Error(out->what_ + ": bad percent-escape in parameter " + Quote(item));
    }
    for (const auto& [seen, unused] : out->params_) {
      if (seen == *name) {
        return Status::Error(out->what_ + ": parameter " + Quote(*name) + " given twice");
      }
    }
    out->params_.emplace_back(std::move(*name), std::move(*value));
  }
  return Status::Ok();
}

std::optional<std::string> QueryParams::Take(std::string_view name) {
  for (auto it = params_.begin(); it != params_.end(); ++it) {
    if (it->first == name) {
      std::string value = std::move(it->second);
      params_.erase(it);
      return value;
    }
  }
  return std::nullopt;
}

Status QueryParams::Finish(std::string_view known) const {
  if (params_.empty()) return Status::Ok();
  return Status::Error(what_ + ": unknown parameter " + Quote(params_.front().first) +
                       " (known: " + std::string(known) + ")");
}

}  // namespace store_internal

namespace {

// Splits "rest" into the part before '?' and the query after it.
std::pair<std::string_view, std::string_view> SplitQuery(std::string_view rest) {
  const std::size_t q = rest.find('?');
  if (q == std::string_view::npos) return {rest, {}};
  return {rest.substr(0, q), rest.substr(q + 1)};
}

std::string Quoted(std::string_view text) {
  // Appends rather than operator+: GCC 12 -O3 reports a false -Wrestrict for
  // "'" + std::string(...) + "'".
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

Status TakeSize(QueryParams& params, std::string_view name, std::uint64_t* out) {
  std::optional<std::string> text = params.Take(name);
  if (!text) return Status::Ok();
  std::optional<std::uint64_t> size = ParseSize(*text);
  if (!size || *size == 0) {
    return Status::Error(params.what() + ": " + std::string(name) + "=" + *text +
                         " is not a positive size (examples: 1048576, 64M, 1GiB, 500MB)");
  }
  *out = *size;
  return Status::Ok();
}

Status TakeUint(QueryParams& params, std::string_view name, std::uint64_t min, std::uint64_t max,
                std::uint64_t* out) {
  std::optional<std::string> text = params.Take(name);
  if (!text) return Status::Ok();
  std::optional<std::uint64_t> value = ParseUint(*text);
  if (!value || *value < min || *value > max) {
    return Status::Error(params.what() + ": " + std::string(name) + "=" + *text +
                         " is not an integer in " + std::to_string(min) + ".." +
                         std::to_string(max));
  }
  *out = *value;
  return Status::Ok();
}

Status TakeMillis(QueryParams& params, std::string_view name, std::chrono::milliseconds* out) {
  std::uint64_t value = static_cast<std::uint64_t>(out->count());
  constexpr std::uint64_t kDay = 24ull * 3600 * 1000;
  if (Status s = TakeUint(params, name, 1, kDay, &value); !s.ok()) return s;
  *out = std::chrono::milliseconds(static_cast<std::int64_t>(value));
  return Status::Ok();
}

Status ParseMemory(std::string_view rest, std::unique_ptr<Store>* out) {
  auto [where, query] = SplitQuery(rest);
  if (!where.empty() && where != "/") {
    return Status::Error("memory:// URL takes no host or path, got " + Quoted(where) +
                         " (write memory://?max_bytes=64M)");
  }
  QueryParams params;
  if (Status s = QueryParams::Parse(query, "memory:// URL", &params); !s.ok()) return s;
  MemoryStoreOptions options;
  std::uint64_t shards = 0;
  if (Status s = TakeSize(params, "max_bytes", &options.max_bytes); !s.ok()) return s;
  if (Status s = TakeUint(params, "shards", 1, 1024, &shards); !s.ok()) return s;
  if (Status s = params.Finish("max_bytes, shards"); !s.ok()) return s;
  options.shards = static_cast<unsigned>(shards);
  return OpenMemoryStore(options, out);
}

Status ParseDisk(std::string_view rest, std::unique_ptr<Store>* out) {
  auto [where, query] = SplitQuery(rest);
  if (where.empty() || where.front() != '/') {
    return Status::Error(
        "disk:// URL needs an absolute path, as in disk:///var/cache/memokey (got " +
        Quoted(where) + ": relative paths and hosts are not supported)");
  }
  std::optional<std::string> path = store_internal::PercentDecode(where);
  if (!path) return Status::Error("disk:// URL: bad percent-escape in path " + Quoted(where));
  if (path->find('\0') != std::string::npos) return Status::Error("disk:// URL: NUL in path");
  while (path->size() > 1 && path->back() == '/') path->pop_back();
  QueryParams params;
  if (Status s = QueryParams::Parse(query, "disk:// URL", &params); !s.ok()) return s;
  DiskStoreOptions options;
  options.path = std::move(*path);
  if (Status s = TakeSize(params, "max_bytes", &options.max_bytes); !s.ok()) return s;
  // map_size sized the LMDB map of the engine this store replaced: accepted
  // (and checked) so that existing URLs keep working, otherwise unused.
  std::uint64_t unused_map_size = 0;
  if (Status s = TakeSize(params, "map_size", &unused_map_size); !s.ok()) return s;
  if (std::optional<std::string> sync = params.Take("sync")) {
    if (*sync == "full") {
      options.sync = DiskStoreOptions::Sync::kFull;
    } else if (*sync == "meta") {
      options.sync = DiskStoreOptions::Sync::kMeta;
    } else if (*sync == "none") {
      options.sync = DiskStoreOptions::Sync::kNone;
    } else {
      return Status::Error("disk:// URL: sync=" + *sync + " is not one of full, meta, none");
    }
  }
  if (Status s = params.Finish("max_bytes, map_size, sync"); !s.ok()) return s;
  return OpenDiskStore(options, out);
}

// "user:password" -> options. Both parts percent-decoded.
Status ParseUserInfo(std::string_view userinfo, std::string_view what, RedisStoreOptions* options) {
  const std::size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return Status::Error(std::string(what) + ": user " + Quoted(userinfo) +
                         " has no password (write user:password@ or :password@)");
  }
  std::optional<std::string> user = PercentDecode(userinfo.substr(0, colon));
  std::optional<std::string> password = PercentDecode(userinfo.substr(colon + 1));
  if (!user || !password) {
    return Status::Error(std::string(what) + ": bad percent-escape in user:password");
  }
  if (password->empty()) return Status::Error(std::string(what) + ": empty password");
  options->user = std::move(*user);
  options->password = std::move(*password);
  return Status::Ok();
}

Status TakeRedisParams(QueryParams& params, bool allow_db, RedisStoreOptions* options) {
  if (std::optional<std::string> prefix = params.Take("prefix")) {
    if (prefix->find_first_of("{}") != std::string::npos) {
      return Status::Error(params.what() + ": prefix " + Quoted(*prefix) +
                           " must not contain '{' or '}' (they delimit the hash tag)");
    }
    options->prefix = std::move(*prefix);
  }
  std::uint64_t value = options->pool;
  if (Status s = TakeUint(params, "pool", 1, 256, &value); !s.ok()) return s;
  options->pool = static_cast<unsigned>(value);
  if (allow_db) {
    value = static_cast<std::uint64_t>(options->db);
    if (Status s = TakeUint(params, "db", 0, 1u << 20, &value); !s.ok()) return s;
    options->db = static_cast<int>(value);
  }
  if (Status s = TakeMillis(params, "timeout_ms", &options->timeout); !s.ok()) return s;
  if (Status s = TakeMillis(params, "connect_timeout_ms", &options->connect_timeout); !s.ok()) {
    return s;
  }
  if (Status s = TakeMillis(params, "backoff_ms", &options->backoff); !s.ok()) return s;
  if (Status s = TakeMillis(params, "max_backoff_ms", &options->max_backoff); !s.ok()) return s;
  if (options->max_backoff < options->backoff) options->max_backoff = options->backoff;
  if (std::optional<std::string> strict = params.Take("strict")) {
    std::optional<bool> flag = ParseBool(*strict);
    if (!flag) return Status::Error(params.what() + ": strict=" + *strict + " is not 0 or 1");
    options->strict = *flag;
  }
  return params.Finish(allow_db ? "prefix, pool, db, timeout_ms, connect_timeout_ms, backoff_ms, "
                                  "max_backoff_ms, strict"
                                : "prefix, pool, timeout_ms, connect_timeout_ms, backoff_ms, "
                                  "max_backoff_ms, strict");
}

// "host", "host:port", "[v6]" or "[v6]:port"; *port is left alone when the
// text names none. `what` is the URL kind for messages.
Status ParseHostPort(std::string_view authority, std::string_view what, std::string* host,
                     int* port) {
  std::string_view name = authority;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::Error(std::string(what) + ": unterminated IPv6 address in " +
                           Quoted(authority));
    }
    name = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Status::Error(std::string(what) + ": unexpected " + Quoted(after) +
                             " after the host");
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    name = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
    has_port = true;
  }
  if (name.empty()) return Status::Error(std::string(what) + " has no host");
  *host = std::string(name);
  if (has_port) {
    std::optional<std::uint64_t> number = ParseUint(port_text);
    if (!number || *number == 0 || *number > 65535) {
      return Status::Error(std::string(what) + ": port " + Quoted(port_text) +
                           " is not in 1..65535");
    }
    *port = static_cast<int>(*number);
  }
  return Status::Ok();
}

Status ParseRedisTcp(std::string_view rest, std::unique_ptr<Store>* out) {
  constexpr std::string_view kWhat = "redis:// URL";
  auto [where, query] = SplitQuery(rest);
  const std::size_t slash = where.find('/');
  std::string_view authority = where.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : where.substr(slash);
  RedisStoreOptions options;
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (Status s = ParseUserInfo(authority.substr(0, at), kWhat, &options); !s.ok()) return s;
    authority = authority.substr(at + 1);
  }
  if (authority.empty() || authority.front() == ':') {
    return Status::Error("redis:// URL has no host (write redis://host:6379/0)");
  }
  if (authority.find(',') != std::string_view::npos) {
    return Status::Error("redis:// URL: " + Quoted(authority) +
                         " lists several servers: for a Redis Cluster write "
                         "redis+cluster://host:port,host:port");
  }
  if (Status s = ParseHostPort(authority, kWhat, &options.host, &options.port); !s.ok()) {
    return s;
  }
  bool db_in_path = false;
  if (path.size() > 1) {
    std::optional<std::uint64_t> db = ParseUint(path.substr(1));
    if (!db || *db > (1u << 20)) {
      return Status::Error("redis:// URL: path " + Quoted(path) +
                           " is not a database number (write /0, /1, ...)");
    }
    options.db = static_cast<int>(*db);
    db_in_path = true;
  }
  QueryParams params;
  if (Status s = QueryParams::Parse(query, std::string(kWhat), &params); !s.ok()) return s;
  if (Status s = TakeRedisParams(params, !db_in_path, &options); !s.ok()) return s;
  return OpenRedisStore(options, out);
}

// redis+cluster://[user:password@]host[:port][,host[:port]...][/]?query — the
// hosts are seeds for CLUSTER SLOTS; there is no database to choose.
Status ParseRedisCluster(std::string_view rest, std::unique_ptr<Store>* out) {
  constexpr std::string_view kWhat = "redis+cluster:// URL";
  auto [where, query] = SplitQuery(rest);
  const std::size_t slash = where.find('/');
  std::string_view authority = where.substr(0, slash);
  const std::string_view path =
      slash == std::string_view::npos ? std::string_view() : where.substr(slash);
  if (path.size() > 1) {
    return Status::Error("redis+cluster:// URL: path " + Quoted(path) +
                         " is not allowed: Redis Cluster has only database 0 (write "
                         "redis+cluster://host:7000,host:7001?prefix=...)");
  }
  RedisStoreOptions options;
  const std::size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (Status s = ParseUserInfo(authority.substr(0, at), kWhat, &options); !s.ok()) return s;
    authority = authority.substr(at + 1);
  }
  if (authority.empty()) {
    return Status::Error(
        "redis+cluster:// URL has no nodes (write redis+cluster://host:7000,host:7001)");
  }
  while (true) {
    const std::size_t comma = authority.find(',');
    const std::string_view one = authority.substr(0, comma);
    if (one.empty() || one.front() == ':') {
      return Status::Error("redis+cluster:// URL: empty host in node list " +
                           Quoted(where.substr(0, slash)));
    }
    RedisStoreOptions::Seed seed;
    if (Status s = ParseHostPort(one, kWhat, &seed.host, &seed.port); !s.ok()) return s;
    options.cluster_seeds.push_back(std::move(seed));
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
  }
  QueryParams params;
  if (Status s = QueryParams::Parse(query, std::string(kWhat), &params); !s.ok()) return s;
  if (std::optional<std::string> db = params.Take("db"); db && *db != "0") {
    return Status::Error("redis+cluster:// URL: db=" + *db +
                         " is not possible: Redis Cluster has only database 0");
  }
  if (Status s = TakeRedisParams(params, false, &options); !s.ok()) return s;
  return OpenRedisStore(options, out);
}

Status ParseRedisUnix(std::string_view rest, std::unique_ptr<Store>* out) {
  constexpr std::string_view kWhat = "redis+unix:// URL";
  auto [where, query] = SplitQuery(rest);
  RedisStoreOptions options;
  const std::size_t slash = where.find('/');
  const std::string_view authority = where.substr(0, slash);
  if (!authority.empty()) {
    if (!authority.ends_with("@")) {
      return Status::Error(
          "redis+unix:// URL needs an absolute socket path, as in "
          "redis+unix:///run/redis.sock (got " +
          Quoted(where) + ")");
    }
    if (Status s = ParseUserInfo(authority.substr(0, authority.size() - 1), kWhat, &options);
        !s.ok()) {
      return s;
    }
  }
  if (slash == std::string_view::npos || where.size() == slash + 1) {
    return Status::Error(
        "redis+unix:// URL has no socket path (write redis+unix:///run/redis.sock)");
  }
  std::optional<std::string> path = PercentDecode(where.substr(slash));
  if (!path) return Status::Error("redis+unix:// URL: bad percent-escape in the path");
  options.unix_socket = std::move(*path);
  options.host.clear();
  options.port = 0;
  QueryParams params;
  if (Status s = QueryParams::Parse(query, std::string(kWhat), &params); !s.ok()) return s;
  if (Status s = TakeRedisParams(params, true, &options); !s.ok()) return s;
  return OpenRedisStore(options, out);
}

Status ParseHttp(std::string_view rest, std::unique_ptr<Store>* out) {
  constexpr std::string_view kWhat = "http:// URL";
  auto [where, query] = SplitQuery(rest);
  HttpStoreOptions options;
  const std::size_t slash = where.find('/');
  std::string_view authority = where.substr(0, slash);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    // user:token (what ccache writes) or just token.
    if (const std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      userinfo = userinfo.substr(colon + 1);
    }
    std::optional<std::string> token = PercentDecode(userinfo);
    if (!token) return Status::Error("http:// URL: bad percent-escape in the token");
    options.token = std::move(*token);
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    std::optional<std::uint64_t> number = ParseUint(port);
    if (!number || *number == 0 || *number > 65535) {
      return Status::Error("http:// URL: port " + Quoted(port) + " is not in 1..65535");
    }
    options.port = static_cast<int>(*number);
  }
  if (host.empty()) return Status::Error("http:// URL has no host (write http://host:8080/ns)");
  options.host = std::string(host);
  if (slash == std::string_view::npos || where.size() == slash + 1) {
    return Status::Error("http:// URL has no namespace (write http://host:8080/namespace)");
  }
  options.key_namespace = std::string(where.substr(slash + 1));
  QueryParams params;
  if (Status s = QueryParams::Parse(query, std::string(kWhat), &params); !s.ok()) return s;
  if (Status s = TakeMillis(params, "timeout_ms", &options.timeout); !s.ok()) return s;
  if (Status s = TakeMillis(params, "connect_timeout_ms", &options.connect_timeout); !s.ok()) {
    return s;
  }
  std::uint64_t number = options.pool;
  if (Status s = TakeUint(params, "pool", 0, 1024, &number); !s.ok()) return s;
  options.pool = static_cast<unsigned>(number);
  number = options.retries;
  if (Status s = TakeUint(params, "retries", 0, 10, &number); !s.ok()) return s;
  options.retries = static_cast<unsigned>(number);
  if (std::optional<std::string> strict = params.Take("strict")) {
    std::optional<bool> flag = ParseBool(*strict);
    if (!flag) return Status::Error("http:// URL: strict=" + Quoted(*strict) + " is not 0 or 1");
    options.strict = *flag;
  }
  if (Status s = params.Finish("timeout_ms, connect_timeout_ms, pool, retries, strict"); !s.ok()) {
    return s;
  }
  return OpenHttpStore(options, out);
}

Status OpenOne(std::string_view url, bool allow_tiered, std::unique_ptr<Store>* out);

Status ParseTiered(std::string_view rest, std::unique_ptr<Store>* out) {
  if (rest.empty()) {
    return Status::Error(
        "tiered: URL has no tiers (write tiered:memory://?max_bytes=64M|disk:///path)");
  }
  std::vector<std::unique_ptr<Store>> tiers;
  std::size_t index = 0;
  while (true) {
    const std::size_t bar = rest.find('|');
    const std::string_view one = rest.substr(0, bar);
    if (one.empty()) {
      return Status::Error("tiered: URL: tier " + std::to_string(index) + " is empty");
    }
    std::unique_ptr<Store> tier;
    if (Status s = OpenOne(one, false, &tier); !s.ok()) {
      if (s.code() != Status::Code::kInvalidArgument) return s;
      return Status::Error("tiered: URL, tier " + std::to_string(index) + ": " + s.message());
    }
    tiers.push_back(std::move(tier));
    if (bar == std::string_view::npos) break;
    rest = rest.substr(bar + 1);
    ++index;
  }
  *out = std::make_unique<TieredStore>(std::move(tiers));
  return Status::Ok();
}

Status OpenOne(std::string_view url, bool allow_tiered, std::unique_ptr<Store>* out) {
  struct Scheme {
    std::string_view prefix;
    Status (*parse)(std::string_view, std::unique_ptr<Store>*);
  };
  static constexpr Scheme kSchemes[] = {
      {"memory://", ParseMemory},
      {"disk://", ParseDisk},
      {"redis://", ParseRedisTcp},
      {"redis+unix://", ParseRedisUnix},
      {"redis+cluster://", ParseRedisCluster},
      {"tiered:", ParseTiered},
      {"http://", ParseHttp},
  };
  for (const Scheme& scheme : kSchemes) {
    if (!url.starts_with(scheme.prefix)) continue;
    if (scheme.parse == ParseTiered && !allow_tiered) {
      return Status::Error("a tier cannot itself be tiered: (got " + Quoted(url) + ")");
    }
    return scheme.parse(url.substr(scheme.prefix.size()), out);
  }
  if (url.starts_with("rediss://")) {
    return Status::Error(
        "rediss:// (TLS) is not supported: use redis:// over a trusted network "
        "or redis+unix://");
  }
  const std::size_t colon = url.find(':');
  return Status::Error(
      "unknown store URL scheme " +
      Quoted(colon == std::string_view::npos ? url : url.substr(0, colon)) +
      " (expected memory://, disk:///path, redis://host:port, redis+unix:///path, "
      "redis+cluster://host:port,host:port, http://host:port/namespace or tiered:A|B)");
}

}  // namespace

Status OpenStore(std::string_view url, std::unique_ptr<Store>* out) {
  out->reset();
  return OpenOne(url, true, out);
}

}  // namespace memokey
