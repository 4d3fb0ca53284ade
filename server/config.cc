// server/config.cc — parsing and validation of memokeyd's configuration.

#include "config.h"

#include <openssl/sha.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <thread>
#include <utility>

#include "memokey/store_spec.h"

namespace memokeyd {

using memokey::Status;

namespace {

using memokey::AsciiLower;
using memokey::ParseUint;

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

// Multiplies without overflow.
std::optional<std::uint64_t> Scale(std::uint64_t value, std::uint64_t factor) {
  if (factor != 0 && value > UINT64_MAX / factor) return std::nullopt;
  return value * factor;
}

bool AllowedNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

}  // namespace

std::string_view AccessName(Access access) {
  switch (access) {
    case Access::kNone:
      return "none";
    case Access::kRead:
      return "read";
    case Access::kReadWrite:
      return "read-write";
  }
  return "none";
}

std::optional<Access> ParseAccess(std::string_view text) {
  const std::string t = AsciiLower(Trim(text));
  if (t == "none") return Access::kNone;
  if (t == "read" || t == "r" || t == "ro" || t == "read-only") return Access::kRead;
  if (t == "read-write" || t == "rw" || t == "write") return Access::kReadWrite;
  return std::nullopt;
}

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  const std::string t = AsciiLower(Trim(text));
  if (t == "debug") return LogLevel::kDebug;
  if (t == "info") return LogLevel::kInfo;
  if (t == "warn" || t == "warning") return LogLevel::kWarn;
  if (t == "error") return LogLevel::kError;
  return std::nullopt;
}

std::optional<Millis> ParseDuration(std::string_view text) {
  text = Trim(text);
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::optional<std::uint64_t> number = ParseUint(text.substr(0, digits));
  if (!number) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "s") {
    factor = 1000;
  } else if (unit == "ms") {
    factor = 1;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else if (unit == "d") {
    factor = 86'400'000;
  } else {
    return std::nullopt;
  }
  // Cap at ~292 years' worth of milliseconds in an int64.
  std::optional<std::uint64_t> ms = Scale(*number, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return Millis{static_cast<std::int64_t>(*ms)};
}

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

bool ValidNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  if (name == "v1" || name == "healthz" || name == "readyz" || name == "metrics") return false;
  return std::all_of(name.begin(), name.end(), AllowedNameChar);
}

namespace {

Status CheckNamespaceList(const std::vector<std::string>& namespaces, std::string_view where) {
  if (namespaces.empty()) return Status::Error(std::string(where) + ": no namespaces");
  for (const std::string& ns : namespaces) {
    if (ns != "*" && !ValidNamespaceName(ns)) {
      return Status::Error(std::string(where) + ": invalid namespace name \"" + ns +
                           "\" (1-64 of A-Z a-z 0-9 . _ ~ -, not v1/healthz/readyz/metrics)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ParseTokenSpec(std::string_view spec, std::string name, Token* out) {
  // ACCESS:NAMESPACES:SECRET — the secret is last so that it may contain ':'.
  const std::size_t first = spec.find(':');
  const std::size_t second = first == std::string_view::npos ? first : spec.find(':', first + 1);
  if (second == std::string_view::npos) {
    return Status::Error("token " + name + ": expected ACCESS:NAMESPACE[,NAMESPACE...]:SECRET");
  }
  std::optional<Access> access = ParseAccess(spec.substr(0, first));
  if (!access || *access == Access::kNone) {
    return Status::Error("token " + name + ": access must be read or read-write");
  }
  Token token;
  token.name = std::move(name);
  token.access = *access;
  std::string_view list = spec.substr(first + 1, second - first - 1);
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    token.namespaces.emplace_back(Trim(list.substr(0, comma)));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  if (Status s = CheckNamespaceList(token.namespaces, "token " + token.name); !s.ok()) return s;
  const std::string_view secret = spec.substr(second + 1);
  if (secret.size() < 8)
    return Status::Error("token " + token.name + ": secret shorter than 8 characters");
  token.sha256 = Sha256(secret);
  *out = std::move(token);
  return Status::Ok();
}

namespace {

// --- TOML helpers: every accessor reports "key: expected ..." on a wrong type.

Status TypeError(std::string_view key, std::string_view expected) {
  return Status::Error("config: " + std::string(key) + ": expected " + std::string(expected));
}

Status CheckKeys(const toml::table& table, std::string_view where,
                 std::initializer_list<std::string_view> known) {
  for (const auto& [key, node] : table) {
    (void)node;
    if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
      return Status::Error("config: unknown key " + std::string(where) + std::string(key.str()));
    }
  }
  return Status::Ok();
}

Status GetString(const toml::table& table, std::string_view key, std::string_view where,
                 std::string* out) {
  const toml::node* node = table.get(key);
  if (!node) return Status::Ok();
  if (!node->is_string()) return TypeError(std::string(where) + std::string(key), "a string");
  *out = node->as_string()->get();
  return Status::Ok();
}

Status GetSize(const toml::table& table, std::string_view key, std::string_view where,
               std::uint64_t* out) {
  const toml::node* node = table.get(key);
  if (!node) return Status::Ok();
  const std::string full = std::string(where) + std::string(key);
  if (node->is_integer()) {
    const std::int64_t v = node->as_integer()->get();
    if (v < 0) return TypeError(full, "a size >= 0");
    *out = static_cast<std::uint64_t>(v);
    return Status::Ok();
  }
  if (node->is_string()) {
    if (std::optional<std::uint64_t> v = ParseSize(node->as_string()->get())) {
      *out = *v;
      return Status::Ok();
    }
  }
  return TypeError(full, "a size (bytes, or a string such as \"64MiB\")");
}

Status GetDuration(const toml::table& table, std::string_view key, std::string_view where,
                   Millis* out) {
  const toml::node* node = table.get(key);
  if (!node) return Status::Ok();
  const std::string full = std::string(where) + std::string(key);
  if (node->is_integer()) {
    const std::int64_t v = node->as_integer()->get();
    if (v < 0 || v > INT64_MAX / 1000) return TypeError(full, "a duration >= 0");
    *out = Millis{v * 1000};
    return Status::Ok();
  }
  if (node->is_string()) {
    if (std::optional<Millis> v = ParseDuration(node->as_string()->get())) {
      *out = *v;
      return Status::Ok();
    }
  }
  return TypeError(full, "a duration (seconds, or a string such as \"250ms\", \"10s\", \"7d\")");
}

Status GetAccess(const toml::table& table, std::string_view key, std::string_view where,
                 std::optional<Access>* out) {
  std::string text;
  if (!table.get(key)) return Status::Ok();
  if (Status s = GetString(table, key, where, &text); !s.ok()) return s;
  std::optional<Access> access = ParseAccess(text);
  if (!access) return TypeError(std::string(where) + std::string(key), "none, read or read-write");
  *out = access;
  return Status::Ok();
}

Status GetBool(const toml::table& table, std::string_view key, std::string_view where,
               std::optional<bool>* out) {
  const toml::node* node = table.get(key);
  if (!node) return Status::Ok();
  if (!node->is_boolean()) return TypeError(std::string(where) + std::string(key), "true or false");
  *out = node->as_boolean()->get();
  return Status::Ok();
}

Status ReadSecretFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read token_file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  *out = std::string(Trim(text.str()));
  return Status::Ok();
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status LoadToken(const toml::table& table, std::size_t index, Token* out) {
  const std::string where = "tokens[" + std::to_string(index) + "].";
  if (Status s = CheckKeys(table, where,
                           {"name", "token", "token_sha256", "token_file", "access", "namespaces"});
      !s.ok()) {
    return s;
  }
  Token token;
  token.name = "token-" + std::to_string(index);
  if (Status s = GetString(table, "name", where, &token.name); !s.ok()) return s;
  std::optional<Access> access;
  if (Status s = GetAccess(table, "access", where, &access); !s.ok()) return s;
  if (!access || *access == Access::kNone) {
    return TypeError(where + "access", "read or read-write");
  }
  token.access = *access;

  const toml::node* namespaces = table.get("namespaces");
  if (!namespaces || !namespaces->is_array())
    return TypeError(where + "namespaces", "an array of names");
  for (const toml::node& ns : *namespaces->as_array()) {
    if (!ns.is_string()) return TypeError(where + "namespaces", "an array of names");
    token.namespaces.push_back(ns.as_string()->get());
  }
  if (Status s = CheckNamespaceList(token.namespaces, "config: " + where + "namespaces"); !s.ok()) {
    return s;
  }

  const int given = (table.get("token") ? 1 : 0) + (table.get("token_sha256") ? 1 : 0) +
                    (table.get("token_file") ? 1 : 0);
  if (given != 1) {
    return Status::Error("config: " + where +
                         " needs exactly one of token, token_sha256, token_file");
  }
  std::string secret;
  if (Status s = GetString(table, "token", where, &secret); !s.ok()) return s;
  std::string file;
  if (Status s = GetString(table, "token_file", where, &file); !s.ok()) return s;
  if (!file.empty()) {
    if (Status s = ReadSecretFile(file, &secret); !s.ok()) return s;
  }
  std::string hex;
  if (Status s = GetString(table, "token_sha256", where, &hex); !s.ok()) return s;
  if (table.get("token_sha256")) {
    if (hex.size() != 64) return TypeError(where + "token_sha256", "64 hexadecimal digits");
    for (std::size_t i = 0; i < 32; ++i) {
      const int hi = HexValue(hex[2 * i]);
      const int lo = HexValue(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return TypeError(where + "token_sha256", "64 hexadecimal digits");
      token.sha256[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
  } else {
    if (secret.size() < 8) {
      return Status::Error("config: " + where + "token: shorter than 8 characters");
    }
    token.sha256 = Sha256(secret);
  }
  *out = std::move(token);
  return Status::Ok();
}

Status LoadTable(const toml::table& root, Config* config) {
  if (Status s = CheckKeys(root, "",
                           {"listen", "threads", "store", "data_dir", "log_level", "anonymous",
                            "write_once", "limits", "namespaces", "tokens"});
      !s.ok()) {
    return s;
  }
  if (Status s = GetString(root, "listen", "", &config->listen); !s.ok()) return s;
  if (const toml::node* threads = root.get("threads")) {
    if (!threads->is_integer() || threads->as_integer()->get() < 0 ||
        threads->as_integer()->get() > 1024) {
      return TypeError("threads", "an integer 0..1024");
    }
    config->threads = static_cast<unsigned>(threads->as_integer()->get());
  }
  if (Status s = GetString(root, "store", "", &config->store); !s.ok()) return s;
  if (Status s = GetString(root, "data_dir", "", &config->data_dir); !s.ok()) return s;
  if (root.get("log_level")) {
    std::string level;
    if (Status s = GetString(root, "log_level", "", &level); !s.ok()) return s;
    std::optional<LogLevel> parsed = ParseLogLevel(level);
    if (!parsed) return TypeError("log_level", "debug, info, warn or error");
    config->log_level = *parsed;
  }
  if (Status s = GetAccess(root, "anonymous", "", &config->anonymous); !s.ok()) return s;
  std::optional<bool> write_once;
  if (Status s = GetBool(root, "write_once", "", &write_once); !s.ok()) return s;
  config->write_once = write_once.value_or(config->write_once);

  if (const toml::node* node = root.get("limits")) {
    if (!node->is_table()) return TypeError("limits", "a table");
    const toml::table& limits = *node->as_table();
    if (Status s = CheckKeys(limits, "limits.",
                             {"max_body", "max_header", "max_connections", "header_timeout",
                              "body_timeout", "write_timeout", "idle_timeout", "drain_timeout"});
        !s.ok()) {
      return s;
    }
    Limits& l = config->limits;
    std::uint64_t header = l.max_header;
    std::uint64_t connections = l.max_connections;
    if (Status s = GetSize(limits, "max_body", "limits.", &l.max_body); !s.ok()) return s;
    if (Status s = GetSize(limits, "max_header", "limits.", &header); !s.ok()) return s;
    if (Status s = GetSize(limits, "max_connections", "limits.", &connections); !s.ok()) return s;
    if (header > (1u << 20)) return TypeError("limits.max_header", "at most 1MiB");
    if (connections > 1'000'000) return TypeError("limits.max_connections", "at most 1000000");
    l.max_header = static_cast<std::uint32_t>(header);
    l.max_connections = static_cast<std::uint32_t>(connections);
    if (Status s = GetDuration(limits, "header_timeout", "limits.", &l.header_timeout); !s.ok())
      return s;
    if (Status s = GetDuration(limits, "body_timeout", "limits.", &l.body_timeout); !s.ok())
      return s;
    if (Status s = GetDuration(limits, "write_timeout", "limits.", &l.write_timeout); !s.ok())
      return s;
    if (Status s = GetDuration(limits, "idle_timeout", "limits.", &l.idle_timeout); !s.ok())
      return s;
    if (Status s = GetDuration(limits, "drain_timeout", "limits.", &l.drain_timeout); !s.ok())
      return s;
  }

  if (const toml::node* node = root.get("namespaces")) {
    if (!node->is_table()) return TypeError("namespaces", "a table of [namespaces.NAME] tables");
    for (const auto& [key, value] : *node->as_table()) {
      const std::string name(key.str());
      const std::string where = "namespaces." + name + ".";
      if (!ValidNamespaceName(name)) {
        return Status::Error("config: namespaces." + name +
                             ": invalid namespace name (1-64 of A-Z a-z 0-9 . _ ~ -, "
                             "not v1/healthz/readyz/metrics)");
      }
      if (!value.is_table()) return TypeError("namespaces." + name, "a table");
      const toml::table& ns = *value.as_table();
      if (Status s = CheckKeys(ns, where,
                               {"anonymous", "default_ttl", "max_ttl", "write_once", "max_bytes"});
          !s.ok())
        return s;
      NamespacePolicy policy;
      std::optional<Access> anonymous;
      if (Status s = GetAccess(ns, "anonymous", where, &anonymous); !s.ok()) return s;
      policy.anonymous = anonymous.value_or(Access::kNone);
      if (Status s = GetDuration(ns, "default_ttl", where, &policy.default_ttl); !s.ok()) return s;
      if (Status s = GetDuration(ns, "max_ttl", where, &policy.max_ttl); !s.ok()) return s;
      if (Status s = GetBool(ns, "write_once", where, &policy.write_once); !s.ok()) return s;
      if (Status s = GetSize(ns, "max_bytes", where, &policy.max_bytes); !s.ok()) return s;
      config->namespaces[name] = policy;
    }
  }

  if (const toml::node* node = root.get("tokens")) {
    if (!node->is_array()) return TypeError("tokens", "an array of [[tokens]] tables");
    std::size_t index = 0;
    for (const toml::node& entry : *node->as_array()) {
      if (!entry.is_table()) return TypeError("tokens", "an array of [[tokens]] tables");
      Token token;
      if (Status s = LoadToken(*entry.as_table(), index, &token); !s.ok()) return s;
      config->tokens.push_back(std::move(token));
      ++index;
    }
  }
  return Status::Ok();
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

}  // namespace

Status ApplyQuotaSpec(std::string_view spec, Config* config) {
  const std::size_t eq = spec.find('=');
  const std::string ns(Trim(spec.substr(0, eq)));
  if (eq == std::string_view::npos || !ValidNamespaceName(ns)) {
    return Status::Error("quota \"" + std::string(spec) +
                         "\": expected NAMESPACE=SIZE, e.g. ccache=10G");
  }
  std::optional<std::uint64_t> bytes = ParseSize(spec.substr(eq + 1));
  if (!bytes) return Status::Error("quota \"" + std::string(spec) + "\": bad size");
  // A namespace the file does not list gets a policy with anonymous none
  // (Finalize opens it in open mode like every other).
  config->namespaces[ns].max_bytes = *bytes;
  return Status::Ok();
}

Status LoadConfigFile(const std::string& path, Config* config) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    std::ostringstream message;
    message << "config " << path << ": " << error.description() << " (line "
            << error.source().begin.line << ", column " << error.source().begin.column << ")";
    return Status::Error(message.str());
  }
  if (Status s = LoadTable(root, config); !s.ok()) {
    return Status::Error(path + ": " + s.message());
  }
  return Status::Ok();
}

Status ParseListen(std::string_view listen, std::string* host, std::uint16_t* port) {
  std::string_view h;
  std::string_view p;
  if (listen.starts_with('[')) {
    const std::size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return Status::Error("listen: expected [address]:port, got \"" + std::string(listen) + "\"");
    }
    h = listen.substr(1, close - 1);
    p = listen.substr(close + 2);
  } else {
    const std::size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos || listen.find(':') != colon) {
      return Status::Error("listen: expected host:port or [v6-address]:port, got \"" +
                           std::string(listen) + "\"");
    }
    h = listen.substr(0, colon);
    p = listen.substr(colon + 1);
  }
  std::optional<std::uint64_t> number = ParseUint(p);
  if (!number || *number > 65535) {
    return Status::Error("listen: bad port in \"" + std::string(listen) + "\"");
  }
  *host = h.empty() ? "0.0.0.0" : std::string(h);
  *port = static_cast<std::uint16_t>(*number);
  return Status::Ok();
}

Status Finalize(Config* config) {
  std::string host;
  std::uint16_t port = 0;
  if (Status s = ParseListen(config->listen, &host, &port); !s.ok()) return s;
  if (!config->store.empty() && !config->data_dir.empty()) {
    return Status::Error(
        "store and data_dir are exclusive (data_dir is a shortcut for a tiered store)");
  }
  if (!config->data_dir.empty() && !config->data_dir.starts_with('/')) {
    return Status::Error("data_dir must be an absolute path, got \"" + config->data_dir + "\"");
  }
  if (config->limits.max_header < 1024) return Status::Error("limits.max_header below 1KiB");
  if (config->limits.max_connections < 1) return Status::Error("limits.max_connections below 1");
  for (Millis* t : {&config->limits.header_timeout, &config->limits.body_timeout,
                    &config->limits.write_timeout, &config->limits.idle_timeout}) {
    if (t->count() < 100) return Status::Error("limits: timeouts must be at least 100ms");
  }
  for (const auto& [name, policy] : config->namespaces) {
    std::string url;
    if (policy.max_bytes == 0) continue;
    if (Status s = NamespaceStoreUrl(*config, name, policy.max_bytes, &url); !s.ok()) return s;
  }
  std::set<std::array<unsigned char, 32>> seen;
  for (const Token& token : config->tokens) {
    if (!seen.insert(token.sha256).second) {
      return Status::Error("token " + token.name + ": the same secret is configured twice");
    }
  }

  // No tokens and nobody said anything about anonymous access: the server is
  // "open" (anonymous read-write), the right thing for `memokeyd` run by hand
  // on a laptop — and the wrong thing on a network, hence loopback only.
  config->open_mode =
      config->tokens.empty() && !config->anonymous.has_value() &&
      std::all_of(config->namespaces.begin(), config->namespaces.end(),
                  [](const auto& entry) { return entry.second.anonymous == Access::kNone; });
  if (config->open_mode) {
    if (!IsLoopbackHost(host)) {
      return Status::Error(
          "refusing to serve every namespace read-write to anyone on " + config->listen +
          ": configure tokens, or say so explicitly with anonymous = \"read-write\" "
          "(--anonymous read-write, MEMOKEYD_ANONYMOUS=read-write)");
    }
    config->default_policy.anonymous = Access::kReadWrite;
    // "Every namespace": a listed one (for its TTLs or quota) too, rather
    // than none at all for lack of an anonymous key (open mode means none
    // of them set one).
    for (auto& entry : config->namespaces) entry.second.anonymous = Access::kReadWrite;
  } else {
    config->default_policy.anonymous = config->anonymous.value_or(Access::kNone);
  }
  return Status::Ok();
}

namespace {

using memokey::StoreSpec;
using Scheme = memokey::StoreSpec::Scheme;

bool IsRedis(Scheme scheme) {
  return scheme == Scheme::kRedis || scheme == Scheme::kRedisUnix ||
         scheme == Scheme::kRedisCluster;
}

// The server's store as configured: `store`, data_dir's tiered store, or the default.
Status ConfiguredStoreSpec(const Config& config, StoreSpec* spec) {
  if (!config.store.empty()) return memokey::ParseStoreSpec(config.store, spec);
  if (config.data_dir.empty()) return memokey::ParseStoreSpec(kDefaultStore, spec);
  StoreSpec memory;
  memory.scheme = Scheme::kMemory;
  memory.set_param("max_bytes", "256M");
  StoreSpec disk;
  disk.scheme = Scheme::kDisk;
  disk.path = config.data_dir;
  while (disk.path.size() > 1 && disk.path.back() == '/') disk.path.pop_back();
  disk.set_param("max_bytes", kDefaultDiskTierSize);
  *spec = StoreSpec();
  spec->scheme = Scheme::kTiered;
  spec->tiers = {std::move(memory), std::move(disk)};
  return Status::Ok();
}

// The tiers of a spec (itself when it is not tiered).
std::span<const StoreSpec> TiersOf(const StoreSpec& spec) {
  if (spec.scheme == Scheme::kTiered) return spec.tiers;
  return std::span<const StoreSpec>(&spec, 1);
}

// A Redis tier, unless its URL says otherwise: strict (a request the server
// cannot answer fails rather than reporting a miss), one connection per
// worker thread, and keys under memokeyd's own prefix.
void AdjustTier(StoreSpec* tier, unsigned threads) {
  if (!IsRedis(tier->scheme)) return;
  auto add = [tier](std::string_view name, const std::string& value) {
    if (!tier->param(name)) tier->set_param(name, value);
  };
  add("strict", "1");
  add("pool", std::to_string(std::clamp(threads, 1u, 256u)));
  add("prefix", "memokeyd:");
}

}  // namespace

std::string EffectiveStoreUrl(const Config& config, unsigned threads) {
  StoreSpec spec;
  // A store URL that does not parse is left as written: opening it reports why.
  if (!ConfiguredStoreSpec(config, &spec).ok()) return config.store;
  if (spec.scheme == Scheme::kTiered) {
    for (StoreSpec& tier : spec.tiers) AdjustTier(&tier, threads);
  } else {
    AdjustTier(&spec, threads);
  }
  return memokey::FormatStoreSpec(spec);
}

Status NamespaceStoreUrl(const Config& config, std::string_view ns, std::uint64_t max_bytes,
                         std::string* url) {
  StoreSpec server;
  if (Status s = ConfiguredStoreSpec(config, &server); !s.ok()) {
    return Status::Error("store: " + s.message());
  }
  // The server's disk tier (the first), whose directory and sync setting a
  // namespace's own store shares.
  const StoreSpec* disk = nullptr;
  for (const StoreSpec& tier : TiersOf(server)) {
    if (IsRedis(tier.scheme) || tier.scheme == Scheme::kHttp) {
      std::string_view scheme = StoreSpec::SchemePrefix(tier.scheme);
      scheme.remove_suffix(3);  // "://"
      return Status::Error(
          "namespaces." + std::string(ns) +
          ".max_bytes: quotas need the server's own storage (memory or disk); this store (" +
          std::string(scheme) +
          ") keeps its bytes elsewhere and cannot be bounded per namespace from here: bound it "
          "there (e.g. Redis maxmemory with allkeys-lru), see docs/SERVER.md#quotas");
    }
    if (tier.scheme == Scheme::kDisk && disk == nullptr) disk = &tier;
  }
  StoreSpec own;
  if (disk == nullptr) {
    // Memory only: a memory store of its own (S3-FIFO, scan-resistant).
    own.scheme = Scheme::kMemory;
    own.set_param("max_bytes", std::to_string(max_bytes));
  } else {
    own.scheme = Scheme::kDisk;
    own.path = (disk->path == "/" ? std::string() : disk->path) + "/namespaces/" + std::string(ns);
    own.set_param("max_bytes", std::to_string(max_bytes));
    if (std::optional<std::string_view> sync = disk->param("sync")) own.set_param("sync", *sync);
  }
  *url = memokey::FormatStoreSpec(own);
  return Status::Ok();
}

bool StoreIsRemote(const Config& config) {
  StoreSpec spec;
  if (!memokey::ParseStoreSpec(config.store, &spec).ok()) return false;
  for (const StoreSpec& tier : TiersOf(spec)) {
    if (IsRedis(tier.scheme)) return true;
  }
  return false;
}

unsigned EffectiveThreads(const Config& config) {
  if (config.threads > 0) return config.threads;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  return StoreIsRemote(config) ? std::min(2 * cores, 64u) : cores;
}

}  // namespace memokeyd
