// server/metrics.cc — shards, sums and the Prometheus text exposition.

#include "metrics.h"

#include <algorithm>
#include <cstdio>

namespace memokeyd {

std::string_view RouteName(Route route) {
  switch (route) {
    case Route::kObject:
      return "object";
    case Route::kHealthz:
      return "healthz";
    case Route::kReadyz:
      return "readyz";
    case Route::kMetrics:
      return "metrics";
    case Route::kStatus:
      return "status";
    case Route::kInvalid:
      return "invalid";
  }
  return "invalid";
}

namespace {

int StatusSlot(int status) {
  for (std::size_t i = 0; i < kTrackedStatuses.size(); ++i) {
    if (kTrackedStatuses[i] == status) return static_cast<int>(i);
  }
  return kStatusSlots - 1;
}

void AppendUint(std::string* out, std::uint64_t value) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(value));
  out->append(buf, static_cast<std::size_t>(n));
}

void AppendDouble(std::string* out, double value) {
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%.6g", value);
  out->append(buf, static_cast<std::size_t>(n));
}

// "# HELP name help\n# TYPE name type\n"
void Header(std::string* out, std::string_view name, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Sample(std::string* out, std::string_view name, std::uint64_t value) {
  out->append(name).append(" ");
  AppendUint(out, value);
  out->append("\n");
}

}  // namespace

void MetricsShard::CountRequest(Route route, Method method, int status) {
  requests[static_cast<int>(route)][static_cast<int>(method)][StatusSlot(status)].Add();
}

void MetricsShard::ObserveLatency(std::chrono::nanoseconds latency) {
  const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
  std::size_t bucket = 0;
  while (bucket < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[bucket]) ++bucket;
  latency_buckets[bucket].Add();
  latency_sum_us.Add(us);
}

Metrics::Metrics(unsigned shards) {
  shards_.reserve(shards);
  for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<MetricsShard>());
}

Metrics::Totals Metrics::Sum() const {
  Totals t;
  for (const auto& s : shards_) {
    for (const auto& by_route : s->requests) {
      for (const auto& by_method : by_route) {
        for (const Counter& c : by_method) t.requests += c.Get();
      }
    }
    t.hits += s->hits.Get();
    t.misses += s->misses.Get();
    t.puts += s->puts.Get();
    t.deletes += s->deletes.Get();
    t.bytes_in += s->bytes_in.Get();
    t.bytes_out += s->bytes_out.Get();
    t.backend_errors += s->backend_errors.Get();
    t.auth_failures += s->auth_missing.Get() + s->auth_invalid.Get() + s->auth_forbidden.Get();
    t.timeouts += s->timeouts.Get();
  }
  return t;
}

void Metrics::Render(const memokey::StoreStats& store, std::chrono::steady_clock::time_point start,
                     std::string* out) const {
  auto sum = [this](auto member) {
    std::uint64_t total = 0;
    for (const auto& s : shards_) total += ((*s).*member).Get();
    return total;
  };

  Header(out, "memokeyd_requests_total", "counter",
         "HTTP requests answered, by route, method and status.");
  for (int r = 0; r < kRouteCount; ++r) {
    for (int m = 0; m < kMethodCount; ++m) {
      for (int st = 0; st < kStatusSlots; ++st) {
        std::uint64_t total = 0;
        for (const auto& s : shards_) total += s->requests[r][m][st].Get();
        if (total == 0) continue;  // only series that happened
        out->append("memokeyd_requests_total{route=\"")
            .append(RouteName(static_cast<Route>(r)))
            .append("\",method=\"")
            .append(MethodName(static_cast<Method>(m)))
            .append("\",status=\"");
        if (st < static_cast<int>(kTrackedStatuses.size())) {
          AppendUint(out,
                     static_cast<std::uint64_t>(kTrackedStatuses[static_cast<std::size_t>(st)]));
        } else {
          out->append("other");
        }
        out->append("\"} ");
        AppendUint(out, total);
        out->append("\n");
      }
    }
  }

  Header(out, "memokeyd_cache_hits_total", "counter", "GET/HEAD of a key that was present.");
  Sample(out, "memokeyd_cache_hits_total", sum(&MetricsShard::hits));
  Header(out, "memokeyd_cache_misses_total", "counter", "GET/HEAD of a key that was absent.");
  Sample(out, "memokeyd_cache_misses_total", sum(&MetricsShard::misses));
  Header(out, "memokeyd_puts_total", "counter", "Values stored (PUT).");
  Sample(out, "memokeyd_puts_total", sum(&MetricsShard::puts));
  Header(out, "memokeyd_deletes_total", "counter", "Keys deleted (DELETE).");
  Sample(out, "memokeyd_deletes_total", sum(&MetricsShard::deletes));
  Header(out, "memokeyd_received_bytes_total", "counter", "Request body bytes accepted.");
  Sample(out, "memokeyd_received_bytes_total", sum(&MetricsShard::bytes_in));
  Header(out, "memokeyd_sent_bytes_total", "counter", "Response body bytes sent.");
  Sample(out, "memokeyd_sent_bytes_total", sum(&MetricsShard::bytes_out));
  Header(out, "memokeyd_backend_errors_total", "counter",
         "Store calls that failed (answered 503 or 500).");
  Sample(out, "memokeyd_backend_errors_total", sum(&MetricsShard::backend_errors));

  Header(out, "memokeyd_leases_total", "counter",
         "POST .../lease by outcome: granted (201), value (200), busy (409).");
  out->append("memokeyd_leases_total{outcome=\"granted\"} ");
  AppendUint(out, sum(&MetricsShard::leases_granted));
  out->append("\nmemokeyd_leases_total{outcome=\"value\"} ");
  AppendUint(out, sum(&MetricsShard::lease_values));
  out->append("\nmemokeyd_leases_total{outcome=\"busy\"} ");
  AppendUint(out, sum(&MetricsShard::lease_busy));
  out->append("\n");

  Header(out, "memokeyd_auth_failures_total", "counter",
         "Requests refused by authentication/authorization.");
  out->append("memokeyd_auth_failures_total{reason=\"missing\"} ");
  AppendUint(out, sum(&MetricsShard::auth_missing));
  out->append("\nmemokeyd_auth_failures_total{reason=\"invalid\"} ");
  AppendUint(out, sum(&MetricsShard::auth_invalid));
  out->append("\nmemokeyd_auth_failures_total{reason=\"forbidden\"} ");
  AppendUint(out, sum(&MetricsShard::auth_forbidden));
  out->append("\n");
  Header(out, "memokeyd_timeouts_total", "counter",
         "Connections cut by a header, body, write or idle timeout.");
  Sample(out, "memokeyd_timeouts_total", sum(&MetricsShard::timeouts));

  Header(out, "memokeyd_request_duration_seconds", "histogram",
         "From a request fully read to its response fully written.");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= kLatencyBucketsUs.size(); ++b) {
    for (const auto& s : shards_) cumulative += s->latency_buckets[b].Get();
    out->append("memokeyd_request_duration_seconds_bucket{le=\"");
    if (b < kLatencyBucketsUs.size()) {
      AppendDouble(out, static_cast<double>(kLatencyBucketsUs[b]) / 1e6);
    } else {
      out->append("+Inf");
    }
    out->append("\"} ");
    AppendUint(out, cumulative);
    out->append("\n");
  }
  out->append("memokeyd_request_duration_seconds_sum ");
  AppendDouble(out, static_cast<double>(sum(&MetricsShard::latency_sum_us)) / 1e6);
  out->append("\nmemokeyd_request_duration_seconds_count ");
  AppendUint(out, cumulative);
  out->append("\n");

  Header(out, "memokeyd_open_connections", "gauge", "Client connections open now.");
  Sample(out, "memokeyd_open_connections",
         static_cast<std::uint64_t>(std::max<std::int64_t>(0, open_connections.load())));
  Header(out, "memokeyd_connections_total", "counter", "Client connections accepted.");
  Sample(out, "memokeyd_connections_total", connections_total.load());
  Header(out, "memokeyd_connections_rejected_total", "counter",
         "Connections refused because max_connections were open.");
  Sample(out, "memokeyd_connections_rejected_total", connections_rejected.load());

  // The store's own view (this process's calls; bytes/entries where it knows).
  Header(out, "memokeyd_store_hits_total", "counter", "Store-level hits.");
  Sample(out, "memokeyd_store_hits_total", store.hits);
  Header(out, "memokeyd_store_misses_total", "counter", "Store-level misses (including errors).");
  Sample(out, "memokeyd_store_misses_total", store.misses);
  Header(out, "memokeyd_store_errors_total", "counter", "Store backend failures.");
  Sample(out, "memokeyd_store_errors_total", store.errors);
  Header(out, "memokeyd_store_evictions_total", "counter",
         "Entries dropped for space or not admitted.");
  Sample(out, "memokeyd_store_evictions_total", store.evictions);
  Header(out, "memokeyd_store_expired_total", "counter",
         "Entries dropped because their TTL passed.");
  Sample(out, "memokeyd_store_expired_total", store.expired);
  Header(out, "memokeyd_store_damaged_total", "counter",
         "Entries found damaged (checksum mismatch): deleted, answered as misses, never served.");
  Sample(out, "memokeyd_store_damaged_total", store.damaged);
  Header(out, "memokeyd_store_bytes", "gauge",
         "Bytes held by the store (0 when it cannot tell, e.g. Redis).");
  Sample(out, "memokeyd_store_bytes", store.bytes);
  Header(out, "memokeyd_store_entries", "gauge",
         "Entries held by the store (0 when it cannot tell).");
  Sample(out, "memokeyd_store_entries", store.entries);

  Header(out, "memokeyd_uptime_seconds", "gauge", "Seconds since start.");
  Sample(out, "memokeyd_uptime_seconds",
         static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::steady_clock::now() - start)
                                        .count()));
}

}  // namespace memokeyd
