// server/handler.h — what memokeyd answers to one HTTP request.
//
// This is the whole HTTP API in one place, and it knows nothing about sockets:
// a Request (http_types.h) goes in, a Response comes out, and the only other
// things it touches are the configuration, the store and this worker's
// metrics shard. That keeps it testable and fuzzable in process:
//
//   memokeyd::Handler handler(config, *store, metrics, metrics.shard(0), info);
//   handler.Handle(request, &response);
//
// Routes (docs/SERVER.md has the full reference):
//   GET|HEAD|PUT|DELETE /v1/{namespace}/{key...}   the cache
//   GET|HEAD|PUT|DELETE /{namespace}/{key...}      the same, for ccache/Gradle/Bazel URLs
//   GET|HEAD|PUT /v8/artifacts/{hash}?teamId=|slug=  Turborepo (buildcache.h), also
//   GET /v8/artifacts/status, POST /v8/artifacts/events
//   (Nx: /v1/cache/{hash} is the plain route in namespace "cache", write-once)
//   PROPFIND|MKCOL /{namespace}[/{prefix...}][/]   sccache's WebDAV (webdav.h)
//   POST /v1/{namespace}/{key...}/lease            take the key's lease, or wait for its value
//   POST /v1/{namespace}/{key...}/release          end a lease (X-Memokey-Lease: token)
//   GET /healthz   200 while the process runs
//   GET /readyz    200 when the store answers (and not shutting down), else 503
//   GET /metrics   Prometheus text
//   GET /          the live dashboard (dashboard.h), for browsers
//   GET /dashboard.json  what the dashboard shows (no secrets: token names only)
//   GET /status    a small status page (plain HTML, no script)
//
// The store key of /v1/N/P and of /N/P is "N/P": namespace names cannot
// contain '/', so no two namespaces ever share a key. Targets are never
// percent-decoded: a key is exactly the bytes of the path, from a small
// alphabet, so there is one spelling per key and nothing to traverse.

#ifndef MEMOKEY_SERVER_HANDLER_H_
#define MEMOKEY_SERVER_HANDLER_H_

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "auth.h"
#include "config.h"
#include "http_types.h"
#include "memokey/store.h"
#include "metrics.h"

namespace memokeyd {

inline constexpr std::string_view kVersion = "0.1.0";
// Longest request-target accepted (414 above). The store key (target minus
// "/" or "/v1/") must also fit memokey::kMaxStoreKeyBytes.
inline constexpr std::size_t kMaxTargetBytes = 1024;
// Store key used by /readyz; '!' cannot appear in a namespace name, so no
// client key can collide with it.
inline constexpr std::string_view kReadyProbeKey = "!memokeyd-readyz";
// Bounds on what a lease request may ask. A client that wants to wait longer
// asks again (the http:// store does): a short server-side wait keeps a
// shutdown from being held up by sleeping requests.
inline constexpr std::chrono::milliseconds kMaxLeaseWait{5000};
inline constexpr std::chrono::milliseconds kMaxLeaseTtl{3600 * 1000};
inline constexpr std::chrono::milliseconds kDefaultLeaseTtl{60000};

// Facts about the running server that the status page and /readyz show.
struct ServerInfo {
  std::string listen;             // actual address:port
  std::string store_description;  // Store::Describe() (passwords redacted)
  unsigned threads = 1;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  const std::atomic<bool>* draining = nullptr;  // /readyz says 503 while draining
};

// What the per-namespace and per-protocol counters file a request under:
// the namespace (empty: not an object request) and the protocol, told by the
// route and the key's shape (Bazel's ac/ and cas/, ccache's two-character
// directories, Gradle's hex keys, Nx's v1/cache/, Turborepo's /v8/artifacts).
struct RequestClass {
  std::string_view ns;
  Protocol protocol = Protocol::kHttp;
};
RequestClass ClassifyRequest(std::string_view target);

// A parsed request-target.
struct Target {
  Route route = Route::kInvalid;
  int error_status = 0;    // for kInvalid: 400, 404 or 414
  std::string_view error;  // ... and why
  std::string_view ns;     // kObject: the namespace
  std::string_view key;    // kObject: the store key "ns/path"
};
Target ParseTarget(std::string_view target);

class Handler {
 public:
  Handler(const Config& config, memokey::Store& store, Metrics& metrics, MetricsShard& shard,
          const ServerInfo& info);

  // Called with the header only, before any body is read: false (with *out
  // filled, to be sent with Connection: close) when the request would be
  // refused whatever its body — so a client without write rights cannot make
  // us read 64 MiB, and an Expect: 100-continue client never sends it.
  bool Admit(const Request& header, Response* out);

  // Answers the complete request into *out (which the caller has cleared).
  // Returns the route, for the request metrics the caller records.
  Route Handle(const Request& request, Response* out);

  // The same for an object GET/HEAD, in two halves around the store call, so
  // that the server can collect the reads of many connections into one
  // Store::GetMany (one Redis round trip for a whole batch):
  //   PrepareRead  kNotARead: use Handle. kAnswered: *out is the answer (bad
  //                key, 401/403). kFetch: look up *key (a view into
  //                request.target), then call FinishRead with the outcome.
  //   FinishRead   status of the lookup and the value (nullopt: a miss).
  // Handle itself goes through these two, so both paths answer alike.
  enum class ReadPlan : std::uint8_t { kNotARead, kAnswered, kFetch };
  ReadPlan PrepareRead(const Request& request, std::string_view* key, Response* out);
  void FinishRead(const Request& request, const memokey::Status& status,
                  std::optional<std::string>* value, Response* out);

  // Leases, in two halves as well, because acquiring may wait (up to
  // kMaxLeaseWait) for another holder and the server must not sleep on its
  // event loop:
  //   PrepareLease  kNotALease: not a POST. kAnswered: *out is the answer
  //                 (bad target, 401/403, bad header). kAcquire/kRelease:
  //                 make the store call described by the plan (off the event
  //                 loop for kAcquire), then FinishLease.
  struct LeasePlan {
    enum class Kind : std::uint8_t { kNotALease, kAnswered, kAcquire, kRelease };
    Kind kind = Kind::kNotALease;
    std::string_view key;           // store key (view into request.target)
    std::string_view token;         // kRelease (view into request.lease_token)
    memokey::LeaseOptions options;  // kAcquire
  };
  LeasePlan PrepareLease(const Request& request, Response* out);
  void FinishLease(const LeasePlan& plan, const memokey::Status& status,
                   memokey::LeaseResult* result, Response* out);

 private:
  ReadPlan PrepareObjectRead(const Request& request, const Target& target, std::string_view* key,
                             Response* out);
  void HandleObject(const Request& request, const Target& target, Response* out);
  // Stores key = value unless the key exists (*existed: true, nothing
  // written): write-once namespaces and Nx's API (buildcache.h).
  memokey::Status PutIfAbsent(std::string_view key, std::string_view value, Millis ttl,
                              bool* existed);
  // sccache's PROPFIND and MKCOL (webdav.h; defined in webdav.cc).
  bool AdmitWebDav(const Request& header, Response* out);
  void HandleWebDav(const Request& request, Response* out);
  // True when the store holds exactly `value` under `key` (a write-once
  // re-upload of the same bytes is not an overwrite).
  bool SameValue(std::string_view key, std::string_view value);
  // Turborepo's /v8/artifacts API (buildcache.h).
  bool AdmitTurbo(const Request& header, Response* out);
  void HandleTurbo(const Request& request, Response* out);
  // Authorize, with turbo's JSON error body; an empty ns (status, events)
  // needs any valid token.
  bool TurboAuthorize(const Request& request, std::string_view ns, Access needed, Response* out,
                      bool count = true);
  // false (and *out filled with 401/403) when the request lacks `needed`.
  // count: file an allowed request under its token (false from Admit, which
  // Handle follows).
  bool Authorize(const Request& request, std::string_view ns, Access needed, Response* out,
                 bool count = true);
  // Counts an object request's outcome under its namespace and protocol
  // (ClassifyRequest of its target), and takes a history sample when due.
  void Account(const Request& request, Outcome outcome);
  // true (and *out filled with 413, counted as a refused write) when `bytes`
  // cannot fit the namespace's quota at all.
  bool OverQuota(const Request& request, std::string_view ns, std::uint64_t bytes, Response* out);
  void DashboardJson(Response* out);
  void BackendError(const memokey::Status& status, std::string_view op, Response* out);
  // A warning, rate-limited to one line a second per worker.
  void LogStoreProblem(std::string_view event, std::string_view op, const memokey::Status& status);
  void StatusPage(Response* out);

  const Config& config_;
  memokey::Store& store_;
  Metrics& metrics_;
  MetricsShard& shard_;
  const ServerInfo& info_;
  Authenticator auth_;
  // Namespace -> counter slot, this worker's copy of Metrics::NamespaceSlot
  // (which takes a lock); at most kNamespaceSlots entries.
  std::map<std::string, int, std::less<>> ns_slots_;
  std::chrono::steady_clock::time_point last_backend_log_{};
  std::uint64_t suppressed_backend_logs_ = 0;
};

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_HANDLER_H_
