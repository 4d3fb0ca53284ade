// server/config.h — memokeyd's configuration: defaults, TOML file, environment
// and flags, merged in that order (flags > environment > file > defaults).
//
// The TOML schema is documented in docs/SERVER.md; LoadConfigFile below is its
// reference implementation. Main parses flags and environment with CLI11 and
// overlays them onto the file's values with the Set* helpers here, so every
// value goes through the same parser and the same validation whatever its
// source.

#ifndef MEMOKEY_SERVER_CONFIG_H_
#define MEMOKEY_SERVER_CONFIG_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/parse.h"
#include "memokey/status.h"

namespace memokeyd {

using Millis = std::chrono::milliseconds;

// What a caller may do in a namespace. Ordered: a higher value includes the
// lower ones.
enum class Access : std::uint8_t { kNone = 0, kRead = 1, kReadWrite = 2 };
std::string_view AccessName(Access access);
std::optional<Access> ParseAccess(std::string_view text);  // none|read|read-write (also rw, r)

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError };
std::optional<LogLevel> ParseLogLevel(std::string_view text);

struct NamespacePolicy {
  Access anonymous = Access::kNone;
  Millis default_ttl{0};  // applied when a PUT carries no TTL header; 0 = none
  Millis max_ttl{0};      // longer (or absent) TTLs are clamped to this; 0 = no limit
  // Byte quota: the namespace gets a store of its own bounded by this many
  // bytes, evicting least recently used entries; a single entry larger than
  // it is refused with 413. 0: no quota (the namespace shares the server's
  // store). See NamespaceStoreUrl and docs/SERVER.md#quotas.
  std::uint64_t max_bytes = 0;
  // Refuse (409) a PUT of a key that exists: what an untrusted writer uploads
  // can never replace a trusted artifact (cache poisoning, CVE-2025-36852).
  // nullopt: the server-wide Config::write_once.
  std::optional<bool> write_once;
};

struct Token {
  std::string name;                        // shows up in logs instead of the secret
  std::array<unsigned char, 32> sha256{};  // SHA-256 of the secret; the secret is not kept
  Access access = Access::kRead;
  std::vector<std::string> namespaces;  // "*" = every namespace
};

struct Limits {
  std::uint64_t max_body = std::uint64_t{64} << 20;  // 413 above
  std::uint32_t max_header = 16 << 10;               // 431 above (request line + fields)
  std::uint32_t max_connections = 4096;              // further connections get 503 + close
  Millis header_timeout{10'000};  // from a request's first byte to its complete header (408)
  Millis body_timeout{60'000};    // for the complete body once the header is in (408)
  Millis write_timeout{60'000};   // for writing one response
  Millis idle_timeout{60'000};    // a keep-alive connection with no request in progress
  Millis drain_timeout{10'000};   // graceful shutdown: in-flight requests get this long
};

struct Config {
  std::string listen = "127.0.0.1:8080";  // host:port, [v6]:port; port 0 = any free port
  unsigned threads = 0;                   // 0: automatic (see EffectiveThreads)
  std::string store;                      // empty: kDefaultStore, or data_dir's tiered store
  std::string data_dir;                   // persist: tiered memory + disk:// in this directory
  LogLevel log_level = LogLevel::kInfo;
  // Policy of namespaces not listed in `namespaces`; nullopt until configured
  // (Finalize then picks "open" or "none", see there).
  std::optional<Access> anonymous;
  // write_once of namespaces that do not set their own (--write-once,
  // MEMOKEYD_WRITE_ONCE, top-level write_once in the file).
  bool write_once = false;
  std::map<std::string, NamespacePolicy, std::less<>> namespaces;
  NamespacePolicy default_policy;  // for namespaces not in the map (after Finalize)
  std::vector<Token> tokens;
  Limits limits;
  // Set by Finalize: no tokens and nothing said about anonymous access, so
  // every namespace is anonymous read-write (only allowed on loopback).
  bool open_mode = false;
};

inline constexpr std::string_view kDefaultStore = "memory://?max_bytes=512M";
inline constexpr std::string_view kDefaultDiskTierSize = "4G";

// --- Value parsers shared by the file, the environment, flags and the TTL header.

// "64MiB", "64M" (= MiB), "64MB" (10^6), "512K", "1G", plain bytes (memokey/parse.h).
using memokey::ParseSize;
// "250ms", "10s", "5m", "2h", "7d", or a plain integer number of seconds.
std::optional<Millis> ParseDuration(std::string_view text);
// A token from flags or MEMOKEYD_TOKENS: ACCESS:NS[,NS...]:SECRET, e.g.
// "rw:ccache,gradle:s3cret" or "read:*:t0ken". The name becomes "flag-N"/"env-N".
memokey::Status ParseTokenSpec(std::string_view spec, std::string name, Token* out);
// Namespace names: 1..64 of [A-Za-z0-9._~-], not "." or "..", and not one
// of the reserved first path segments (v1, healthz, readyz, metrics).
bool ValidNamespaceName(std::string_view name);
std::array<unsigned char, 32> Sha256(std::string_view data);

// A quota from flags or MEMOKEYD_QUOTAS: NS=SIZE, e.g. "ccache=10G". Adds the
// namespace to config->namespaces (anonymous access as configured there, else
// none) with max_bytes = SIZE.
memokey::Status ApplyQuotaSpec(std::string_view spec, Config* config);

// Reads a TOML file into *config (fields the file does not set keep their
// current value). Errors name the offending key.
memokey::Status LoadConfigFile(const std::string& path, Config* config);

// Checks cross-field rules, fills default_policy and decides open mode (no
// tokens and no anonymous setting: everything anonymous read-write, which is
// refused unless the listen address is a loopback address).
memokey::Status Finalize(Config* config);

// Whether PUTs to a namespace with this policy may not overwrite.
inline bool IsWriteOnce(const Config& config, const NamespacePolicy& policy) {
  return policy.write_once.value_or(config.write_once);
}

// The store involves a server (Redis): calls block for a network round trip.
bool StoreIsRemote(const Config& config);

// Worker thread count: `threads` when set, else the number of cores — times 2
// when the store involves Redis: a worker waiting for its batch's round trip
// is a core doing nothing, so a second worker per core keeps it busy
// (measured: 2x beats 1x and 4x on the benchmark, docs/SERVER.md).
unsigned EffectiveThreads(const Config& config);

// The store URL memokeyd opens: the configured one (or the default), with,
// for each Redis tier that does not set them, strict=1 (an unreachable Redis
// must surface as 503 and in /readyz, not as silent misses), pool=<threads>
// (one connection per worker) and prefix=memokeyd: (memokeyd's keys apart
// from the library's).
std::string EffectiveStoreUrl(const Config& config, unsigned threads);

// The URL of the store of its own that a namespace with a quota gets: a
// disk:// store in <disk dir>/namespaces/<ns> when the server's store has a
// disk tier (data_dir, disk://, tiered:...|disk://...), else a memory://
// store. An error for servers whose storage is elsewhere (Redis, http://):
// memokeyd cannot bound a namespace's bytes there (docs/SERVER.md#quotas).
memokey::Status NamespaceStoreUrl(const Config& config, std::string_view ns,
                                  std::uint64_t max_bytes, std::string* url);

// Splits "host:port" / "[v6]:port" / ":port".
memokey::Status ParseListen(std::string_view listen, std::string* host, std::uint16_t* port);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_CONFIG_H_
