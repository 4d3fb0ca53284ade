// memokeyd — the memokey cache server. `memokeyd --help` for the options;
// docs/SERVER.md for the API, configuration and operations.
//
// main: configuration (file < environment < flags), the store, the server.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "handler.h"
#include "log.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "namespace_store.h"
#include "server.h"

namespace {

using memokey::Status;
using memokeyd::Config;

// A flag (or its MEMOKEYD_* variable) given as text, applied after the file.
struct Overrides {
  std::string listen, store, data_dir, log_level, anonymous;
  std::string max_body, max_header, max_connections;
  std::string header_timeout, body_timeout, write_timeout, idle_timeout, drain_timeout;
  unsigned threads = 0;
  std::vector<std::string> tokens;
  std::vector<std::string> quotas;
  bool write_once = false;
};

int Fail(const std::string& message) {
  memokeyd::Log(memokeyd::LogLevel::kError, "cannot start", {{"error", message}});
  return 2;
}

Status ApplySize(const CLI::Option* opt, const std::string& text, std::uint64_t max,
                 std::uint64_t* out) {
  if (opt->count() == 0) return Status::Ok();
  std::optional<std::uint64_t> v = memokeyd::ParseSize(text);
  if (!v || *v > max) return Status::Error(opt->get_name() + ": bad size \"" + text + "\"");
  *out = *v;
  return Status::Ok();
}

Status ApplyDuration(const CLI::Option* opt, const std::string& text, memokeyd::Millis* out) {
  if (opt->count() == 0) return Status::Ok();
  std::optional<memokeyd::Millis> v = memokeyd::ParseDuration(text);
  if (!v)
    return Status::Error(opt->get_name() + ": bad duration \"" + text + "\" (e.g. 500ms, 10s, 5m)");
  *out = *v;
  return Status::Ok();
}

std::vector<std::string> SplitSpecs(const char* text) {
  std::vector<std::string> out;
  std::string current;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == ';') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(*p);
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Writes to a closed socket or stdout must fail with EPIPE, not kill us.
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "memokeyd: the memokey cache server. Namespaced keys over HTTP/1.1 for build tools and\n"
      "memokey clients, stored in memory, on disk or in Redis.\n"
      "Precedence: flags > MEMOKEYD_* environment > --config file > defaults. docs/SERVER.md has "
      "it all.",
      "memokeyd"};
  app.set_version_flag("--version", std::string(memokeyd::kVersion));

  std::string config_path;
  Overrides o;
  bool check_config = false;
  app.add_option("-c,--config", config_path, "TOML configuration file")->envname("MEMOKEYD_CONFIG");
  auto* listen =
      app.add_option("-l,--listen", o.listen,
                     "Address to listen on, host:port (default 127.0.0.1:8080; port 0: any)")
          ->envname("MEMOKEYD_LISTEN");
  auto* threads = app.add_option("-t,--threads", o.threads,
                                 "Worker threads (default: cores; 2x cores with Redis)")
                      ->envname("MEMOKEYD_THREADS")
                      ->check(CLI::Range(1u, 1024u));
  auto* store = app.add_option("-s,--store", o.store,
                               "Store URL: memory://?max_bytes=512M (default), redis://host:6379, "
                               "tiered:memory://...|disk:///path, ...")
                    ->envname("MEMOKEYD_STORE");
  auto* data_dir = app.add_option("--data-dir", o.data_dir,
                                  "Persist on disk: a tiered memory + disk store in this directory")
                       ->envname("MEMOKEYD_DATA_DIR");
  auto* log_level =
      app.add_option("--log-level", o.log_level, "debug (logs every request), info, warn, error")
          ->envname("MEMOKEYD_LOG_LEVEL");
  auto* anonymous =
      app.add_option(
             "--anonymous", o.anonymous,
             "Anonymous access to namespaces without their own policy: none, read, read-write")
          ->envname("MEMOKEYD_ANONYMOUS");
  auto* write_once =
      app.add_flag("--write-once", o.write_once,
                   "Namespaces without their own write_once refuse to overwrite an entry (409)")
          ->envname("MEMOKEYD_WRITE_ONCE");
  auto* tokens =
      app.add_option("--token", o.tokens,
                     "ACCESS:NS[,NS...]:SECRET, repeatable (visible in ps: prefer the config file "
                     "or MEMOKEYD_TOKENS)");
  auto* quotas =
      app.add_option("--quota", o.quotas,
                     "NS=SIZE, repeatable: namespace NS gets a store of its own bounded by SIZE "
                     "bytes, least recently used evicted (MEMOKEYD_QUOTAS: space-separated)");
  auto* max_body =
      app.add_option("--max-body", o.max_body, "Largest request body (default 64MiB): 413 above")
          ->envname("MEMOKEYD_MAX_BODY");
  auto* max_header = app.add_option("--max-header", o.max_header,
                                    "Largest request header (default 16KiB): 431 above")
                         ->envname("MEMOKEYD_MAX_HEADER");
  auto* max_connections =
      app.add_option("--max-connections", o.max_connections, "Open connections (default 4096)")
          ->envname("MEMOKEYD_MAX_CONNECTIONS");
  auto* header_timeout = app.add_option("--header-timeout", o.header_timeout,
                                        "Request header deadline (default 10s): 408")
                             ->envname("MEMOKEYD_HEADER_TIMEOUT");
  auto* body_timeout =
      app.add_option("--body-timeout", o.body_timeout, "Request body deadline (default 60s): 408")
          ->envname("MEMOKEYD_BODY_TIMEOUT");
  auto* write_timeout =
      app.add_option("--write-timeout", o.write_timeout, "Response write deadline (default 60s)")
          ->envname("MEMOKEYD_WRITE_TIMEOUT");
  auto* idle_timeout =
      app.add_option("--idle-timeout", o.idle_timeout, "Idle keep-alive connections (default 60s)")
          ->envname("MEMOKEYD_IDLE_TIMEOUT");
  auto* drain_timeout =
      app.add_option("--drain-timeout", o.drain_timeout, "Graceful shutdown bound (default 10s)")
          ->envname("MEMOKEYD_DRAIN_TIMEOUT");
  app.add_flag("--check-config", check_config,
               "Validate the configuration, print it (no secrets) and exit");
  CLI11_PARSE(app, argc, argv);

  // 1. The file.
  Config config;
  if (!config_path.empty()) {
    if (Status s = memokeyd::LoadConfigFile(config_path, &config); !s.ok())
      return Fail(s.ToString());
  }
  // 2. Environment and flags (CLI11 already gave flags precedence over variables).
  if (listen->count()) config.listen = o.listen;
  if (threads->count()) config.threads = o.threads;
  if (store->count()) {
    config.store = o.store;
    config.data_dir.clear();
  }
  if (data_dir->count()) {
    config.data_dir = o.data_dir;
    if (!store->count()) config.store.clear();
  }
  if (log_level->count()) {
    std::optional<memokeyd::LogLevel> level = memokeyd::ParseLogLevel(o.log_level);
    if (!level) return Fail("--log-level: expected debug, info, warn or error");
    config.log_level = *level;
  }
  if (anonymous->count()) {
    std::optional<memokeyd::Access> access = memokeyd::ParseAccess(o.anonymous);
    if (!access) return Fail("--anonymous: expected none, read or read-write");
    config.anonymous = access;
  }
  if (write_once->count()) config.write_once = o.write_once;
  std::uint64_t value = config.limits.max_header;
  Status s = ApplySize(max_body, o.max_body, UINT64_MAX, &config.limits.max_body);
  if (s.ok()) s = ApplySize(max_header, o.max_header, 1u << 20, &value);
  if (s.ok()) config.limits.max_header = static_cast<std::uint32_t>(value);
  value = config.limits.max_connections;
  if (s.ok()) s = ApplySize(max_connections, o.max_connections, 1'000'000, &value);
  if (s.ok()) config.limits.max_connections = static_cast<std::uint32_t>(value);
  if (s.ok()) s = ApplyDuration(header_timeout, o.header_timeout, &config.limits.header_timeout);
  if (s.ok()) s = ApplyDuration(body_timeout, o.body_timeout, &config.limits.body_timeout);
  if (s.ok()) s = ApplyDuration(write_timeout, o.write_timeout, &config.limits.write_timeout);
  if (s.ok()) s = ApplyDuration(idle_timeout, o.idle_timeout, &config.limits.idle_timeout);
  if (s.ok()) s = ApplyDuration(drain_timeout, o.drain_timeout, &config.limits.drain_timeout);
  if (!s.ok()) return Fail(s.ToString());

  // Tokens: a list, so the highest source that has any replaces the others.
  std::vector<std::string> specs;
  std::string source;
  if (tokens->count()) {
    specs = o.tokens;
    source = "flag";
  } else if (const char* env = std::getenv("MEMOKEYD_TOKENS"); env != nullptr && *env != '\0') {
    specs = SplitSpecs(env);
    source = "env";
  }
  if (!source.empty()) {
    config.tokens.clear();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      memokeyd::Token token;
      if (Status t = memokeyd::ParseTokenSpec(specs[i], source + "-" + std::to_string(i), &token);
          !t.ok()) {
        return Fail(t.ToString());
      }
      config.tokens.push_back(std::move(token));
    }
  }

  // Quotas: flags, else the environment; each adds to the file's.
  std::vector<std::string> quota_specs = o.quotas;
  if (quotas->count() == 0) {
    if (const char* env = std::getenv("MEMOKEYD_QUOTAS"); env != nullptr)
      quota_specs = SplitSpecs(env);
  }
  for (const std::string& spec : quota_specs) {
    if (Status q = memokeyd::ApplyQuotaSpec(spec, &config); !q.ok()) return Fail(q.ToString());
  }

  if (Status f = memokeyd::Finalize(&config); !f.ok()) return Fail(f.ToString());
  memokeyd::SetLogLevel(config.log_level);

  const unsigned thread_count = memokeyd::EffectiveThreads(config);
  const std::string store_url = memokeyd::EffectiveStoreUrl(config, thread_count);

  if (check_config) {
    std::string out = "{\"listen\":";
    memokeyd::AppendJsonString(&out, config.listen);
    out += ",\"threads\":" + std::to_string(thread_count) + ",\"store\":";
    memokeyd::AppendJsonString(&out, store_url);
    out += ",\"open_mode\":" + std::string(config.open_mode ? "true" : "false");
    out += ",\"anonymous\":\"" +
           std::string(memokeyd::AccessName(config.default_policy.anonymous)) + "\"";
    out += ",\"write_once\":" + std::string(config.write_once ? "true" : "false");
    out += ",\"max_body\":" + std::to_string(config.limits.max_body);
    out += ",\"max_header\":" + std::to_string(config.limits.max_header);
    out += ",\"max_connections\":" + std::to_string(config.limits.max_connections);
    out += ",\"header_timeout_ms\":" + std::to_string(config.limits.header_timeout.count());
    out += ",\"body_timeout_ms\":" + std::to_string(config.limits.body_timeout.count());
    out += ",\"namespaces\":{";
    bool first = true;
    for (const auto& [name, policy] : config.namespaces) {
      if (!first) out += ",";
      first = false;
      memokeyd::AppendJsonString(&out, name);
      out += ":{\"anonymous\":\"" + std::string(memokeyd::AccessName(policy.anonymous)) +
             "\",\"default_ttl_ms\":" + std::to_string(policy.default_ttl.count()) +
             ",\"max_ttl_ms\":" + std::to_string(policy.max_ttl.count()) +
             ",\"max_bytes\":" + std::to_string(policy.max_bytes) +
             ",\"write_once\":" + (memokeyd::IsWriteOnce(config, policy) ? "true" : "false") + "}";
    }
    out += "},\"tokens\":[";
    first = true;
    for (const memokeyd::Token& token : config.tokens) {
      if (!first) out += ",";
      first = false;
      out += "{\"name\":";
      memokeyd::AppendJsonString(&out, token.name);
      out += ",\"access\":\"" + std::string(memokeyd::AccessName(token.access)) +
             "\",\"namespaces\":[";
      for (std::size_t i = 0; i < token.namespaces.size(); ++i) {
        if (i) out += ",";
        memokeyd::AppendJsonString(&out, token.namespaces[i]);
      }
      out += "]}";
    }
    out += "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }

  std::unique_ptr<memokey::Store> cache;
  if (Status o_s = memokey::OpenStore(store_url, &cache); !o_s.ok()) {
    return Fail("store: " + o_s.ToString());
  }
  // Namespaces with a quota: a store of their own each, behind one store
  // that routes by namespace (namespace_store.h, docs/SERVER.md#quotas).
  std::vector<memokeyd::NamespacedStore::Namespace> own;
  for (const auto& [name, policy] : config.namespaces) {
    if (policy.max_bytes == 0) continue;
    std::string url;
    if (Status u = memokeyd::NamespaceStoreUrl(config, name, policy.max_bytes, &url); !u.ok()) {
      return Fail(u.ToString());
    }
    memokeyd::NamespacedStore::Namespace ns{name, policy.max_bytes, nullptr};
    if (Status n = memokey::OpenStore(url, &ns.store); !n.ok()) {
      return Fail("store of namespace " + name + ": " + n.ToString());
    }
    own.push_back(std::move(ns));
  }
  if (!own.empty()) {
    cache = std::make_unique<memokeyd::NamespacedStore>(std::move(cache), std::move(own));
  }

  memokeyd::Server server(config, *cache, thread_count);
  if (Status l = server.Listen(); !l.ok()) return Fail(l.ToString());

  const std::string url = "http://" + server.address();
  memokeyd::Log(
      memokeyd::LogLevel::kInfo, "listening",
      {{"addr", server.address()},
       {"url", url},
       {"store", cache->Describe()},
       {"threads", thread_count},
       {"auth", config.open_mode
                    ? std::string("open: no tokens, anyone on this host may read and write")
                    : std::to_string(config.tokens.size()) + " token(s), anonymous " +
                          std::string(memokeyd::AccessName(config.default_policy.anonymous)) +
                          " by default"},
       {"version", memokeyd::kVersion},
       {"hint",
        "curl -X PUT --data-binary hi " + url + "/v1/demo/k && curl " + url + "/v1/demo/k"}});
  server.Run();
  return 0;
}
