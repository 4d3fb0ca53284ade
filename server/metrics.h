// server/metrics.h — counters for /metrics (Prometheus text format) and the
// status page.
//
// One shard per worker thread, each written only by its own thread: a
// counter bump is a plain load and store on a cache line no other core
// writes, so the hot path pays no locked instruction and no cache-line
// ping-pong. /metrics sums the shards (relaxed loads; a scrape may see one
// request's counters half-updated, which Prometheus tolerates).
//
// Labels are bounded by construction: routes, methods and status codes come
// from fixed lists, and namespaces (client-chosen strings) are never labels —
// otherwise one client could create unbounded time series.

#ifndef MEMOKEY_SERVER_METRICS_H_
#define MEMOKEY_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http_types.h"
#include "memokey/store.h"

namespace memokeyd {

enum class Route : std::uint8_t {
  kObject,  // /v1/{ns}/{key...} and /{ns}/{key...}
  kHealthz,
  kReadyz,
  kMetrics,
  kStatus,   // GET /
  kInvalid,  // refused before routing: malformed, over a limit, timed out
};
inline constexpr int kRouteCount = 6;
std::string_view RouteName(Route route);

// Status codes memokeyd sends; anything else is counted as "other".
inline constexpr std::array<int, 16> kTrackedStatuses = {200, 201, 204, 400, 401, 403, 404, 405,
                                                         408, 411, 413, 414, 431, 500, 501, 503};
inline constexpr int kStatusSlots = static_cast<int>(kTrackedStatuses.size()) + 1;

// Request latency buckets (upper bounds), in microseconds.
inline constexpr std::array<std::uint64_t, 14> kLatencyBucketsUs = {
    50,     100,    250,    500,     1000,    2500,      5000,
    10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000, 5'000'000};

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

 private:
  std::vector<std::unique_ptr<MetricsShard>> shards_;
};

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_METRICS_H_
