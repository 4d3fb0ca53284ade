// server/metrics.h — counters for /metrics (Prometheus text format) and the
// status page.
//
// One shard per worker thread, each written only by its own thread: a
// counter bump is a plain load and store on a cache line no other core
// writes, so the hot path pays no locked instruction and no cache-line
// ping-pong. /metrics sums the shards (relaxed loads; a scrape may see one
// request's counters half-updated, which Prometheus tolerates).
//
// Labels are bounded by construction: routes, methods, status codes and
// protocols come from fixed lists; token names from the configuration; and
// namespaces (client-chosen strings) get a label of their own only up to
// kNamespaceSlots - 1 of them (configured ones first, then first come), the
// rest sharing namespace="(other)" — so no client can create unbounded time
// series.

#ifndef MEMOKEY_SERVER_METRICS_H_
#define MEMOKEY_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "http_types.h"
#include "memokey/store.h"

namespace memokeyd {

enum class Route : std::uint8_t {
  kObject,  // /v1/{ns}/{key...} and /{ns}/{key...}
  kHealthz,
  kReadyz,
  kMetrics,
  kStatus,      // GET /: the dashboard (HTML)
  kInvalid,     // refused before routing: malformed, over a limit, timed out
  kDashboard,   // GET /dashboard.json: what the dashboard shows
  kStatusPage,  // GET /status: the plain status page
};
inline constexpr int kRouteCount = 8;
std::string_view RouteName(Route route);

// Status codes memokeyd sends; anything else is counted as "other".
inline constexpr std::array<int, 16> kTrackedStatuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                                         408, 411, 413, 414, 431, 500, 501, 503};
inline constexpr int kStatusSlots = static_cast<int>(kTrackedStatuses.size()) + 1;

// Request latency buckets (upper bounds), in microseconds.
inline constexpr std::array<std::uint64_t, 14> kLatencyBucketsUs = {
    50,     100,    250,    500,     1000,    2500,      5000,
    10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000, 5'000'000};

// The cache protocol a request speaks, for the per-protocol counters (see
// ClassifyRequest in handler.h).
enum class Protocol : std::uint8_t { kMemokey, kCcache, kGradle, kBazel, kTurborepo, kNx, kHttp };
inline constexpr int kProtocolCount = 7;
std::string_view ProtocolName(Protocol protocol);

// What an object request did, for the per-namespace and per-protocol counters.
enum class Outcome : std::uint8_t { kHit, kMiss, kPut, kDelete, kRefused };

// Namespaces with counters of their own; the last slot is "(other)".
inline constexpr int kNamespaceSlots = 64;
inline constexpr int kOtherNamespaceSlot = kNamespaceSlots - 1;
inline constexpr std::string_view kOtherNamespaceLabel = "(other)";
// Per-token request counters: slot i is config.tokens[i] (tokens past the
// last but one share it), slot kTokenSlots is anonymous requests.
inline constexpr int kTokenSlots = 64;
inline constexpr int kAnonymousSlot = kTokenSlots;

class Counter {
 public:
  // Single writer (the shard's thread): no read-modify-write instruction needed.
  void Add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

struct alignas(64) MetricsShard {
  Counter requests[kRouteCount][kMethodCount][kStatusSlots];
  Counter hits;    // GET/HEAD of an object that was there
  Counter misses;  // ... that was not
  Counter puts;
  Counter deletes;
  Counter bytes_in;        // request bodies accepted
  Counter bytes_out;       // response bodies sent (HEAD: none)
  Counter backend_errors;  // store calls that failed (503/500 answers)
  Counter auth_missing;    // 401: no credentials where some were needed
  Counter auth_invalid;    // 401: credentials that match no token
  Counter auth_forbidden;  // 403: a valid token without the right
  Counter timeouts;        // connections cut by a header/body/write/idle timeout
  Counter leases_granted;  // POST .../lease answered 201
  Counter lease_values;    // ... answered 200: the value was there or landed while waiting
  Counter lease_busy;      // ... answered 409: another holder for the whole wait
  Counter latency_buckets[kLatencyBucketsUs.size() + 1];
  Counter latency_sum_us;

  // Object requests by namespace and by protocol (hits/misses also above,
  // summed), and authorized object requests by token.
  struct Usage {
    Counter requests, hits, misses, puts, deletes, refused;
    void Count(Outcome outcome);
  };
  Usage by_namespace[kNamespaceSlots];
  Usage by_protocol[kProtocolCount];
  Counter by_token[kTokenSlots + 1];

  void CountRequest(Route route, Method method, int status);
  void ObserveLatency(std::chrono::nanoseconds latency);
};

class Metrics {
 public:
  explicit Metrics(unsigned shards);

  MetricsShard& shard(unsigned index) { return *shards_[index]; }

  // Connection gauges and counters, updated by the acceptor and sessions.
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_rejected{0};  // over max_connections

  struct Totals {
    std::uint64_t requests = 0, hits = 0, misses = 0, puts = 0, deletes = 0, bytes_in = 0,
                  bytes_out = 0, backend_errors = 0, auth_failures = 0, timeouts = 0;
  };
  Totals Sum() const;

  // Appends the Prometheus text exposition (format 0.0.4) to *out.
  void Render(const memokey::StoreStats& store, std::chrono::steady_clock::time_point start,
              std::string* out) const;

  // --- Per namespace, protocol and token (the dashboard and /metrics) ---------

  // The counter slot of a namespace: its own while slots last, else
  // kOtherNamespaceSlot. Takes a lock: callers keep the answer (Handler
  // does, per worker).
  int NamespaceSlot(std::string_view ns);
  // The namespace of each slot in use, slot order (the "(other)" slot not included).
  std::vector<std::string> NamespaceNames() const;

  struct UsageTotals {
    std::uint64_t requests = 0, hits = 0, misses = 0, puts = 0, deletes = 0, refused = 0;
  };
  UsageTotals SumNamespace(int slot) const;
  UsageTotals SumProtocol(Protocol protocol) const;
  std::uint64_t SumToken(int slot) const;

  // Byte usage of a namespace with a quota (NamespacedStore::Quotas).
  struct QuotaUsage {
    std::string_view name;
    std::uint64_t max_bytes = 0;
    memokey::StoreStats stats;
  };
  // Appends the per-namespace, per-protocol and per-token series. token_names[i]
  // names slot i.
  void RenderUsage(const std::vector<QuotaUsage>& quotas,
                   const std::vector<std::string_view>& token_names, std::string* out) const;

  // Hit-ratio history for the dashboard's chart: one sample of every
  // namespace's hits and misses at most every kSampleEvery, taken by the
  // first request (or dashboard poll) after that time; the last kHistory
  // samples are kept, so the chart shows the past minutes as soon as the
  // page opens.
  static constexpr std::chrono::milliseconds kSampleEvery{1000};
  static constexpr std::size_t kHistory = 300;
  struct HistorySample {
    std::int64_t ms = 0;  // since this Metrics was made
    std::uint64_t requests = 0, hits = 0, misses = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> namespaces;  // (hits, misses) by slot
    std::array<std::pair<std::uint64_t, std::uint64_t>, kProtocolCount> protocols{};  // by protocol
  };
  // Cheap when no sample is due: a clock read and an atomic load.
  void MaybeSample();
  std::vector<HistorySample> History() const;
  std::int64_t NowMs() const;

 private:
  void TakeSample(std::int64_t now_ms);

  std::vector<std::unique_ptr<MetricsShard>> shards_;
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();

  mutable std::mutex names_mu_;
  std::vector<std::string> names_;  // guarded by names_mu_; slot i = names_[i]

  std::atomic<std::int64_t> next_sample_ms_{0};
  mutable std::mutex history_mu_;
  std::deque<HistorySample> history_;  // guarded by history_mu_
};

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_METRICS_H_
