// memokey/store_spec.h — store URLs: parsed once into a StoreSpec, formatted
// back, and opened.
//
// Grammar (each scheme's behaviour is in store_backends.h / tiered_store.h):
//   memory://?max_bytes=64M&shards=16&strict=0
//   disk:///absolute/path?max_bytes=1G&sync=none|meta|full&strict=0   (map_size= accepted, unused)
//   redis://[[user]:password@]host[:port][/db]?prefix=memokey:&timeout_ms=1000
//       &connect_timeout_ms=1000&pool=4&strict=0&backoff_ms=100&max_backoff_ms=1000
//       (db= as a parameter when the path names none)
//   redis+unix://[[user]:password@]/path/to/redis.sock?db=0&...  (the redis:// parameters)
//   redis+cluster://[[user]:password@]host[:port][,host[:port]...][/]?...  (the same, but
//       db only as db=0: a cluster has only database 0)
//   http://[[user:]token@]host[:port]/namespace?timeout_ms=5000&connect_timeout_ms=1000
//       &pool=8&retries=1&strict=0
//   tiered:URL1|URL2|...   tiers fastest first; a '|' inside a tier URL is written %7C;
//       tiers cannot themselves be tiered.
// Hosts may be IPv6 addresses in brackets ([::1]:6379; not for http://). Sizes take
// the suffixes K/M/G/T and KiB/MiB/GiB/TiB (powers of 1024) or KB/MB/GB/TB
// (powers of 1000), case-insensitive. Query names and values, user, password,
// token and the disk and socket paths are percent-decoded; the http namespace is
// taken as written. strict takes 1/true/yes/on or 0/false/no/off.
//
// Contract
//   * ParseStoreSpec checks everything that can be checked without opening the
//     store: the scheme, the authority, the path, every parameter's name (known
//     to the scheme, given once) and value. A bad URL is Status::Error
//     (InvalidArgument) whose message names the URL kind, the offending part
//     quoted, and for a tiered URL the tier's index ("tiered: URL, tier 1: ...").
//   * A StoreSpec keeps the parameters as given (decoded, in order, values as
//     written: "64M" stays "64M"), so FormatStoreSpec(ParseStoreSpec(url)) is
//     the URL in canonical form: same meaning, percent-encoding normalised.
//   * OpenStore(spec) checks the spec again (a caller may have changed it with
//     set_param) with the same messages, then opens: a disk directory that
//     cannot be created or opened gives Status::IOError; Redis and memokeyd
//     connect lazily, so opening never fails because a server is down.
//   * OpenStore(url) is ParseStoreSpec then OpenStore(spec).

#ifndef MEMOKEY_STORE_SPEC_H_
#define MEMOKEY_STORE_SPEC_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey {

struct StoreSpec {
  enum class Scheme : std::uint8_t {
    kMemory,        // memory://
    kDisk,          // disk://
    kRedis,         // redis://
    kRedisUnix,     // redis+unix://
    kRedisCluster,  // redis+cluster://
    kHttp,          // http:// (memokeyd)
    kTiered,        // tiered:
  };
  struct Host {
    std::string name;         // without IPv6 brackets
    std::optional<int> port;  // nullopt: the scheme's default
  };

  Scheme scheme = Scheme::kMemory;
  // Redis: the ACL user (may be empty) and password of user:password@;
  // http: password is the token. nullopt: none given.
  std::string user;
  std::optional<std::string> password;
  // redis, http: one; redis+cluster: the seeds; others: none.
  std::vector<Host> hosts;
  // disk: the directory (absolute, no trailing '/'); redis+unix: the socket;
  // http: the namespace. Empty for the others.
  std::string path;
  std::optional<int> db;  // redis://host/db
  // The query parameters, decoded, in the order given.
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<StoreSpec> tiers;  // kTiered: fastest first

  // The value of parameter `name`, if given.
  std::optional<std::string_view> param(std::string_view name) const;
  // Replaces parameter `name`'s value, or appends it when not given (not
  // checked here: OpenStore and FormatStoreSpec take it as it is).
  void set_param(std::string_view name, std::string_view value);
  // strict=1 (or true/yes/on) on this spec or, for a tiered one, on any tier.
  bool strict() const;
  // The scheme as written in URLs: "memory://", ..., "tiered:".
  static std::string_view SchemePrefix(Scheme scheme);
};

// Parses a store URL (grammar above). On error *out is unspecified.
Status ParseStoreSpec(std::string_view url, StoreSpec* out);

// The URL of `spec`, canonical (see the contract). hide_secrets: the password
// or token is written "***", for logs and messages.
std::string FormatStoreSpec(const StoreSpec& spec, bool hide_secrets = false);

// Opens the store `spec` describes (see the contract).
Status OpenStore(const StoreSpec& spec, std::unique_ptr<Store>* out);
// ParseStoreSpec(url), then OpenStore(spec).
Status OpenStore(std::string_view url, std::unique_ptr<Store>* out);

}  // namespace memokey

#endif  // MEMOKEY_STORE_SPEC_H_
