// Store URLs (store_spec.h): ParseStoreSpec, FormatStoreSpec and OpenStore.
//
// A URL is split once into a StoreSpec (scheme, authority, path, parameters,
// tiers). Each scheme's backend options are then made from the spec by one
// function (MemoryOptions, DiskOptions, RedisOptions, HttpOptions), which both
// ParseStoreSpec (to check the parameters) and OpenStore (to open) call.

#include "memokey/store_spec.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memokey/store_backends.h"
#include "memokey/tiered_store.h"
#include "store_internal.h"

namespace memokey {

using store_internal::ParseBool;
using store_internal::ParseSize;
using store_internal::ParseUint;
using store_internal::PercentDecode;
using store_internal::PercentEncode;
using store_internal::QueryParams;
using Scheme = StoreSpec::Scheme;

std::optional<std::string_view> StoreSpec::param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

void StoreSpec::set_param(std::string_view name, std::string_view value) {
  for (auto& [key, old] : params) {
    if (key == name) {
      old = std::string(value);
      return;
    }
  }
  params.emplace_back(std::string(name), std::string(value));
}

bool StoreSpec::strict() const {
  if (scheme == Scheme::kTiered) {
    for (const StoreSpec& tier : tiers) {
      if (tier.strict()) return true;
    }
    return false;
  }
  const std::optional<std::string_view> text = param("strict");
  return text && ParseBool(*text).value_or(false);
}

std::string_view StoreSpec::SchemePrefix(Scheme scheme) {
  switch (scheme) {
    case Scheme::kMemory:
      return "memory://";
    case Scheme::kDisk:
      return "disk://";
    case Scheme::kRedis:
      return "redis://";
    case Scheme::kRedisUnix:
      return "redis+unix://";
    case Scheme::kRedisCluster:
      return "redis+cluster://";
    case Scheme::kHttp:
      return "http://";
    case Scheme::kTiered:
      break;
  }
  return "tiered:";
}

namespace {

// "redis:// URL": how messages name the URL kind.
std::string What(Scheme scheme) { return std::string(StoreSpec::SchemePrefix(scheme)) + " URL"; }

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

// --- From a spec's parameters to backend options ---------------------------------

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

Status TakeStrict(QueryParams& params, bool* out) {
  if (std::optional<std::string> strict = params.Take("strict")) {
    std::optional<bool> flag = ParseBool(*strict);
    if (!flag) return Status::Error(params.what() + ": strict=" + *strict + " is not 0 or 1");
    *out = *flag;
  }
  return Status::Ok();
}

QueryParams ParamsOf(const StoreSpec& spec) { return QueryParams(spec.params, What(spec.scheme)); }

Status MemoryOptions(const StoreSpec& spec, MemoryStoreOptions* options) {
  QueryParams params = ParamsOf(spec);
  std::uint64_t shards = 0;
  if (Status s = TakeSize(params, "max_bytes", &options->max_bytes); !s.ok()) return s;
  if (Status s = TakeUint(params, "shards", 1, 1024, &shards); !s.ok()) return s;
  if (Status s = TakeStrict(params, &options->strict); !s.ok()) return s;
  if (Status s = params.Finish("max_bytes, shards, strict"); !s.ok()) return s;
  options->shards = static_cast<unsigned>(shards);
  return Status::Ok();
}

Status DiskOptions(const StoreSpec& spec, DiskStoreOptions* options) {
  QueryParams params = ParamsOf(spec);
  options->path = spec.path;
  if (Status s = TakeSize(params, "max_bytes", &options->max_bytes); !s.ok()) return s;
  // map_size sized the LMDB map of the engine this store replaced: accepted
  // (and checked) so that existing URLs keep working, otherwise unused.
  std::uint64_t unused_map_size = 0;
  if (Status s = TakeSize(params, "map_size", &unused_map_size); !s.ok()) return s;
  if (std::optional<std::string> sync = params.Take("sync")) {
    if (*sync == "full") {
      options->sync = DiskStoreOptions::Sync::kFull;
    } else if (*sync == "meta") {
      options->sync = DiskStoreOptions::Sync::kMeta;
    } else if (*sync == "none") {
      options->sync = DiskStoreOptions::Sync::kNone;
    } else {
      return Status::Error("disk:// URL: sync=" + *sync + " is not one of full, meta, none");
    }
  }
  if (Status s = TakeStrict(params, &options->strict); !s.ok()) return s;
  return params.Finish("max_bytes, map_size, sync, strict");
}

Status RedisOptions(const StoreSpec& spec, RedisStoreOptions* options) {
  options->user = spec.user;
  options->password = spec.password.value_or(std::string());
  if (spec.scheme == Scheme::kRedisUnix) {
    options->unix_socket = spec.path;
    options->host.clear();
    options->port = 0;
  } else if (spec.scheme == Scheme::kRedisCluster) {
    for (const StoreSpec::Host& host : spec.hosts) {
      options->cluster_seeds.push_back({host.name, host.port.value_or(6379)});
    }
  } else if (!spec.hosts.empty()) {
    options->host = spec.hosts.front().name;
    options->port = spec.hosts.front().port.value_or(options->port);
  }
  if (spec.db) options->db = *spec.db;
  QueryParams params = ParamsOf(spec);
  bool allow_db = spec.scheme != Scheme::kRedisCluster && !spec.db;
  if (spec.scheme == Scheme::kRedisCluster) {
    if (std::optional<std::string> db = params.Take("db"); db && *db != "0") {
      return Status::Error("redis+cluster:// URL: db=" + *db +
                           " is not possible: Redis Cluster has only database 0");
    }
  }
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
  if (Status s = TakeStrict(params, &options->strict); !s.ok()) return s;
  return params.Finish(allow_db ? "prefix, pool, db, timeout_ms, connect_timeout_ms, backoff_ms, "
                                  "max_backoff_ms, strict"
                                : "prefix, pool, timeout_ms, connect_timeout_ms, backoff_ms, "
                                  "max_backoff_ms, strict");
}

Status HttpOptions(const StoreSpec& spec, HttpStoreOptions* options) {
  if (!spec.hosts.empty()) {
    options->host = spec.hosts.front().name;
    options->port = spec.hosts.front().port.value_or(options->port);
  }
  options->token = spec.password.value_or(std::string());
  options->key_namespace = spec.path;
  QueryParams params = ParamsOf(spec);
  if (Status s = TakeMillis(params, "timeout_ms", &options->timeout); !s.ok()) return s;
  if (Status s = TakeMillis(params, "connect_timeout_ms", &options->connect_timeout); !s.ok()) {
    return s;
  }
  std::uint64_t number = options->pool;
  if (Status s = TakeUint(params, "pool", 0, 1024, &number); !s.ok()) return s;
  options->pool = static_cast<unsigned>(number);
  number = options->retries;
  if (Status s = TakeUint(params, "retries", 0, 10, &number); !s.ok()) return s;
  options->retries = static_cast<unsigned>(number);
  if (Status s = TakeStrict(params, &options->strict); !s.ok()) return s;
  return params.Finish("timeout_ms, connect_timeout_ms, pool, retries, strict");
}

// Makes a backend's options from the spec, then opens the store unless out is null.
template <class Options>
Status CheckOrOpenWith(const StoreSpec& spec, Status (*make)(const StoreSpec&, Options*),
                       Status (*open)(const Options&, std::unique_ptr<Store>*),
                       std::unique_ptr<Store>* out) {
  Options options;
  if (Status s = make(spec, &options); !s.ok() || out == nullptr) return s;
  return open(options, out);
}

// Checks a spec's options (or opens it when out is given): one switch for both.
Status CheckOrOpen(const StoreSpec& spec, std::unique_ptr<Store>* out) {
  switch (spec.scheme) {
    case Scheme::kMemory:
      return CheckOrOpenWith(spec, MemoryOptions, OpenMemoryStore, out);
    case Scheme::kDisk:
      return CheckOrOpenWith(spec, DiskOptions, OpenDiskStore, out);
    case Scheme::kRedis:
    case Scheme::kRedisUnix:
    case Scheme::kRedisCluster:
      return CheckOrOpenWith(spec, RedisOptions, OpenRedisStore, out);
    case Scheme::kHttp:
      return CheckOrOpenWith(spec, HttpOptions, OpenHttpStore, out);
    case Scheme::kTiered:
      break;
  }
  if (spec.tiers.empty()) {
    return Status::Error(
        "tiered: URL has no tiers (write tiered:memory://?max_bytes=64M|disk:///path)");
  }
  std::vector<std::unique_ptr<Store>> tiers;
  for (std::size_t i = 0; i < spec.tiers.size(); ++i) {
    const StoreSpec& tier = spec.tiers[i];
    if (tier.scheme == Scheme::kTiered) {
      return Status::Error("tiered: URL, tier " + std::to_string(i) +
                           ": a tier cannot itself be tiered");
    }
    std::unique_ptr<Store> opened;
    if (Status s = CheckOrOpen(tier, out == nullptr ? nullptr : &opened); !s.ok()) {
      if (s.code() != Status::Code::kInvalidArgument) return s;
      return Status::Error("tiered: URL, tier " + std::to_string(i) + ": " + s.message());
    }
    tiers.push_back(std::move(opened));
  }
  if (out != nullptr) *out = std::make_unique<TieredStore>(std::move(tiers));
  return Status::Ok();
}

// --- Parsing ------------------------------------------------------------------------

Status ParseParams(std::string_view query, StoreSpec* spec) {
  QueryParams params;
  if (Status s = QueryParams::Parse(query, What(spec->scheme), &params); !s.ok()) return s;
  spec->params = params.items();
  return Status::Ok();
}

// "user:password" -> spec. Both parts percent-decoded.
Status ParseUserInfo(std::string_view userinfo, StoreSpec* spec) {
  const std::string what = What(spec->scheme);
  const std::size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return Status::Error(what + ": user " + Quoted(userinfo) +
                         " has no password (write user:password@ or :password@)");
  }
  std::optional<std::string> user = PercentDecode(userinfo.substr(0, colon));
  std::optional<std::string> password = PercentDecode(userinfo.substr(colon + 1));
  if (!user || !password) return Status::Error(what + ": bad percent-escape in user:password");
  if (password->empty()) return Status::Error(what + ": empty password");
  spec->user = std::move(*user);
  spec->password = std::move(*password);
  return Status::Ok();
}

// "host", "host:port", "[v6]" or "[v6]:port".
Status ParseHostPort(std::string_view authority, const std::string& what, StoreSpec::Host* host) {
  std::string_view name = authority;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::Error(what + ": unterminated IPv6 address in " + Quoted(authority));
    }
    name = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Status::Error(what + ": unexpected " + Quoted(after) + " after the host");
      }
      port_text = after.substr(1);
      has_port = true;
    }
  } else if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
    name = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
    has_port = true;
  }
  if (name.empty()) return Status::Error(what + " has no host");
  host->name = std::string(name);
  if (has_port) {
    std::optional<std::uint64_t> number = ParseUint(port_text);
    if (!number || *number == 0 || *number > 65535) {
      return Status::Error(what + ": port " + Quoted(port_text) + " is not in 1..65535");
    }
    host->port = static_cast<int>(*number);
  }
  return Status::Ok();
}

Status ParseMemory(std::string_view rest, StoreSpec* spec) {
  auto [where, query] = SplitQuery(rest);
  if (!where.empty() && where != "/") {
    return Status::Error("memory:// URL takes no host or path, got " + Quoted(where) +
                         " (write memory://?max_bytes=64M)");
  }
  return ParseParams(query, spec);
}

Status ParseDisk(std::string_view rest, StoreSpec* spec) {
  auto [where, query] = SplitQuery(rest);
  if (where.empty() || where.front() != '/') {
    return Status::Error(
        "disk:// URL needs an absolute path, as in disk:///var/cache/memokey (got " +
        Quoted(where) + ": relative paths and hosts are not supported)");
  }
  std::optional<std::string> path = PercentDecode(where);
  if (!path) return Status::Error("disk:// URL: bad percent-escape in path " + Quoted(where));
  if (path->find('\0') != std::string::npos) return Status::Error("disk:// URL: NUL in path");
  while (path->size() > 1 && path->back() == '/') path->pop_back();
  spec->path = std::move(*path);
  return ParseParams(query, spec);
}

// A redis:// or redis+cluster:// URL's parts after the scheme.
struct RedisUrlParts {
  std::string_view nodes;      // [user:password@]host[:port][,...] as written
  std::string_view authority;  // the same without user:password@
  std::string_view path;       // "/..." or empty
  std::string_view query;
};

// Splits "[user:password@]hosts[/path][?query]"; the user and password go to spec.
Status SplitRedisUrl(std::string_view rest, StoreSpec* spec, RedisUrlParts* parts) {
  auto [where, query] = SplitQuery(rest);
  const std::size_t slash = where.find('/');
  parts->nodes = where.substr(0, slash);
  parts->authority = parts->nodes;
  parts->path = slash == std::string_view::npos ? std::string_view() : where.substr(slash);
  parts->query = query;
  const std::size_t at = parts->authority.rfind('@');
  if (at == std::string_view::npos) return Status::Ok();
  parts->authority = parts->authority.substr(at + 1);
  return ParseUserInfo(parts->nodes.substr(0, at), spec);
}

Status ParseRedisTcp(std::string_view rest, StoreSpec* spec) {
  const std::string what = What(spec->scheme);
  RedisUrlParts parts;
  if (Status s = SplitRedisUrl(rest, spec, &parts); !s.ok()) return s;
  const std::string_view authority = parts.authority;
  const std::string_view path = parts.path;
  if (authority.empty() || authority.front() == ':') {
    return Status::Error("redis:// URL has no host (write redis://host:6379/0)");
  }
  if (authority.find(',') != std::string_view::npos) {
    return Status::Error("redis:// URL: " + Quoted(authority) +
                         " lists several servers: for a Redis Cluster write "
                         "redis+cluster://host:port,host:port");
  }
  StoreSpec::Host host;
  if (Status s = ParseHostPort(authority, what, &host); !s.ok()) return s;
  spec->hosts.push_back(std::move(host));
  if (path.size() > 1) {
    std::optional<std::uint64_t> db = ParseUint(path.substr(1));
    if (!db || *db > (1u << 20)) {
      return Status::Error("redis:// URL: path " + Quoted(path) +
                           " is not a database number (write /0, /1, ...)");
    }
    spec->db = static_cast<int>(*db);
  }
  return ParseParams(parts.query, spec);
}

// redis+cluster://[user:password@]host[:port][,host[:port]...][/]?query — the
// hosts are seeds for CLUSTER SLOTS; there is no database to choose.
Status ParseRedisCluster(std::string_view rest, StoreSpec* spec) {
  const std::string what = What(spec->scheme);
  RedisUrlParts parts;
  const Status split = SplitRedisUrl(rest, spec, &parts);
  const std::string_view path = parts.path;
  if (path.size() > 1) {
    return Status::Error("redis+cluster:// URL: path " + Quoted(path) +
                         " is not allowed: Redis Cluster has only database 0 (write "
                         "redis+cluster://host:7000,host:7001?prefix=...)");
  }
  if (!split.ok()) return split;
  std::string_view authority = parts.authority;
  if (authority.empty()) {
    return Status::Error(
        "redis+cluster:// URL has no nodes (write redis+cluster://host:7000,host:7001)");
  }
  while (true) {
    const std::size_t comma = authority.find(',');
    const std::string_view one = authority.substr(0, comma);
    if (one.empty() || one.front() == ':') {
      return Status::Error("redis+cluster:// URL: empty host in node list " + Quoted(parts.nodes));
    }
    StoreSpec::Host seed;
    if (Status s = ParseHostPort(one, what, &seed); !s.ok()) return s;
    spec->hosts.push_back(std::move(seed));
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
  }
  return ParseParams(parts.query, spec);
}

Status ParseRedisUnix(std::string_view rest, StoreSpec* spec) {
  auto [where, query] = SplitQuery(rest);
  const std::size_t slash = where.find('/');
  const std::string_view authority = where.substr(0, slash);
  if (!authority.empty()) {
    if (!authority.ends_with("@")) {
      return Status::Error(
          "redis+unix:// URL needs an absolute socket path, as in "
          "redis+unix:///run/redis.sock (got " +
          Quoted(where) + ")");
    }
    if (Status s = ParseUserInfo(authority.substr(0, authority.size() - 1), spec); !s.ok()) {
      return s;
    }
  }
  if (slash == std::string_view::npos || where.size() == slash + 1) {
    return Status::Error(
        "redis+unix:// URL has no socket path (write redis+unix:///run/redis.sock)");
  }
  std::optional<std::string> path = PercentDecode(where.substr(slash));
  if (!path) return Status::Error("redis+unix:// URL: bad percent-escape in the path");
  spec->path = std::move(*path);
  return ParseParams(query, spec);
}

Status ParseHttp(std::string_view rest, StoreSpec* spec) {
  auto [where, query] = SplitQuery(rest);
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
    spec->password = std::move(*token);
    authority = authority.substr(at + 1);
  }
  StoreSpec::Host host{std::string(authority), std::nullopt};
  if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host.name = std::string(authority.substr(0, colon));
    const std::string_view port = authority.substr(colon + 1);
    std::optional<std::uint64_t> number = ParseUint(port);
    if (!number || *number == 0 || *number > 65535) {
      return Status::Error("http:// URL: port " + Quoted(port) + " is not in 1..65535");
    }
    host.port = static_cast<int>(*number);
  }
  if (host.name.empty()) {
    return Status::Error("http:// URL has no host (write http://host:8080/ns)");
  }
  spec->hosts.push_back(std::move(host));
  if (slash == std::string_view::npos || where.size() == slash + 1) {
    return Status::Error("http:// URL has no namespace (write http://host:8080/namespace)");
  }
  spec->path = std::string(where.substr(slash + 1));
  return ParseParams(query, spec);
}

Status ParseOne(std::string_view url, bool allow_tiered, StoreSpec* spec);

Status ParseTiered(std::string_view rest, StoreSpec* spec) {
  if (rest.empty()) {
    return Status::Error(
        "tiered: URL has no tiers (write tiered:memory://?max_bytes=64M|disk:///path)");
  }
  std::size_t index = 0;
  while (true) {
    const std::size_t bar = rest.find('|');
    const std::string_view one = rest.substr(0, bar);
    if (one.empty()) {
      return Status::Error("tiered: URL: tier " + std::to_string(index) + " is empty");
    }
    StoreSpec tier;
    if (Status s = ParseOne(one, false, &tier); !s.ok()) {
      return Status::Error("tiered: URL, tier " + std::to_string(index) + ": " + s.message());
    }
    spec->tiers.push_back(std::move(tier));
    if (bar == std::string_view::npos) break;
    rest = rest.substr(bar + 1);
    ++index;
  }
  return Status::Ok();
}

Status ParseOne(std::string_view url, bool allow_tiered, StoreSpec* spec) {
  struct Kind {
    Scheme scheme;
    Status (*parse)(std::string_view, StoreSpec*);
  };
  static constexpr Kind kKinds[] = {
      {Scheme::kMemory, ParseMemory},
      {Scheme::kDisk, ParseDisk},
      {Scheme::kRedis, ParseRedisTcp},
      {Scheme::kRedisUnix, ParseRedisUnix},
      {Scheme::kRedisCluster, ParseRedisCluster},
      {Scheme::kTiered, ParseTiered},
      {Scheme::kHttp, ParseHttp},
  };
  *spec = StoreSpec();
  for (const Kind& kind : kKinds) {
    const std::string_view prefix = StoreSpec::SchemePrefix(kind.scheme);
    if (!url.starts_with(prefix)) continue;
    if (kind.scheme == Scheme::kTiered && !allow_tiered) {
      return Status::Error("a tier cannot itself be tiered: (got " + Quoted(url) + ")");
    }
    spec->scheme = kind.scheme;
    if (Status s = kind.parse(url.substr(prefix.size()), spec); !s.ok()) return s;
    // The parameters' values: checked here, once, as OpenStore will read them.
    return kind.scheme == Scheme::kTiered ? Status::Ok() : CheckOrOpen(*spec, nullptr);
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

// --- Formatting ---------------------------------------------------------------------

// Percent-encodes all but unreserved characters: for user, password and token,
// where ':' and '@' delimit.
std::string EncodeUserInfo(std::string_view text) { return PercentEncode(text, "-._~"); }

std::string FormatHost(const StoreSpec::Host& host) {
  std::string out;
  if (host.name.find(':') != std::string::npos) {  // IPv6 (appends: see Quoted)
    out.append(1, '[').append(host.name).append(1, ']');
  } else {
    out = host.name;
  }
  if (host.port) out.append(1, ':').append(std::to_string(*host.port));
  return out;
}

}  // namespace

std::string FormatStoreSpec(const StoreSpec& spec, bool hide_secrets) {
  std::string out(StoreSpec::SchemePrefix(spec.scheme));
  if (spec.scheme == Scheme::kTiered) {
    for (std::size_t i = 0; i < spec.tiers.size(); ++i) {
      if (i > 0) out += '|';
      out += FormatStoreSpec(spec.tiers[i], hide_secrets);  // PercentEncode writes '|' as %7C
    }
    return out;
  }
  if (spec.password) {
    const std::string secret = hide_secrets ? "***" : EncodeUserInfo(*spec.password);
    if (spec.scheme == Scheme::kHttp) {
      out += secret + "@";
    } else {
      out += EncodeUserInfo(spec.user) + ":" + secret + "@";
    }
  }
  switch (spec.scheme) {
    case Scheme::kDisk:
    case Scheme::kRedisUnix:
      out += PercentEncode(spec.path);
      break;
    case Scheme::kRedis:
    case Scheme::kRedisCluster:
      for (std::size_t i = 0; i < spec.hosts.size(); ++i) {
        if (i > 0) out += ',';
        out += FormatHost(spec.hosts[i]);
      }
      if (spec.db) out.append(1, '/').append(std::to_string(*spec.db));
      break;
    case Scheme::kHttp:
      if (!spec.hosts.empty()) out += FormatHost(spec.hosts.front());
      out += "/" + spec.path;
      break;
    case Scheme::kMemory:
    case Scheme::kTiered:
      break;
  }
  for (std::size_t i = 0; i < spec.params.size(); ++i) {
    out += i == 0 ? '?' : '&';
    out += PercentEncode(spec.params[i].first);
    out += '=';
    out += PercentEncode(spec.params[i].second);
  }
  return out;
}

Status ParseStoreSpec(std::string_view url, StoreSpec* out) { return ParseOne(url, true, out); }

Status OpenStore(const StoreSpec& spec, std::unique_ptr<Store>* out) {
  out->reset();
  return CheckOrOpen(spec, out);
}

Status OpenStore(std::string_view url, std::unique_ptr<Store>* out) {
  out->reset();
  StoreSpec spec;
  if (Status s = ParseStoreSpec(url, &spec); !s.ok()) return s;
  return CheckOrOpen(spec, out);
}

}  // namespace memokey
