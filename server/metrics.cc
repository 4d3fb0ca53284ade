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
    case Route::kDashboard:
      return "dashboard";
    case Route::kStatusPage:
      return "status-page";
  }
  return "invalid";
}

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kMemokey:
      return "memokey";
    case Protocol::kCcache:
      return "ccache";
    case Protocol::kGradle:
      return "gradle";
    case Protocol::kBazel:
      return "bazel";
    case Protocol::kTurborepo:
      return "turborepo";
    case Protocol::kNx:
      return "nx";
    case Protocol::kHttp:
      return "http";
  }
  return "http";
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

void MetricsShard::Usage::Count(Outcome outcome) {
  requests.Add();
  switch (outcome) {
    case Outcome::kHit:
      hits.Add();
      break;
    case Outcome::kMiss:
      misses.Add();
      break;
    case Outcome::kPut:
      puts.Add();
      break;
    case Outcome::kDelete:
      deletes.Add();
      break;
    case Outcome::kRefused:
      refused.Add();
      break;
  }
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

// --- Per namespace, protocol and token ------------------------------------------

int Metrics::NamespaceSlot(std::string_view ns) {
  std::lock_guard lock(names_mu_);
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == ns) return static_cast<int>(i);
  }
  if (names_.size() >= static_cast<std::size_t>(kOtherNamespaceSlot)) return kOtherNamespaceSlot;
  names_.emplace_back(ns);
  return static_cast<int>(names_.size() - 1);
}

std::vector<std::string> Metrics::NamespaceNames() const {
  std::lock_guard lock(names_mu_);
  return names_;
}

namespace {

void AddUsage(const MetricsShard::Usage& u, Metrics::UsageTotals* t) {
  t->requests += u.requests.Get();
  t->hits += u.hits.Get();
  t->misses += u.misses.Get();
  t->puts += u.puts.Get();
  t->deletes += u.deletes.Get();
  t->refused += u.refused.Get();
}

// `name="value"` with the value escaped as the text format requires.
void Label(std::string* out, std::string_view name, std::string_view value) {
  out->append(name).append("=\"");
  for (char c : value) {
    if (c == '\\' || c == '"') out->push_back('\\');
    if (c == '\n') {
      out->append("\\n");
      continue;
    }
    out->push_back(c);
  }
  out->append("\"");
}

void LabeledSample(std::string* out, std::string_view metric, std::string_view label,
                   std::string_view value, std::uint64_t sample) {
  out->append(metric).append("{");
  Label(out, label, value);
  out->append("} ");
  AppendUint(out, sample);
  out->append("\n");
}

}  // namespace

Metrics::UsageTotals Metrics::SumNamespace(int slot) const {
  UsageTotals t;
  for (const auto& s : shards_) AddUsage(s->by_namespace[slot], &t);
  return t;
}

Metrics::UsageTotals Metrics::SumProtocol(Protocol protocol) const {
  UsageTotals t;
  for (const auto& s : shards_) AddUsage(s->by_protocol[static_cast<int>(protocol)], &t);
  return t;
}

std::uint64_t Metrics::SumToken(int slot) const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s->by_token[slot].Get();
  return total;
}

void Metrics::RenderUsage(const std::vector<QuotaUsage>& quotas,
                          const std::vector<std::string_view>& token_names,
                          std::string* out) const {
  std::vector<std::string> names = NamespaceNames();
  std::vector<UsageTotals> by_ns;
  for (std::size_t i = 0; i < names.size(); ++i) by_ns.push_back(SumNamespace(static_cast<int>(i)));
  const UsageTotals other = SumNamespace(kOtherNamespaceSlot);
  if (other.requests > 0) {
    names.emplace_back(kOtherNamespaceLabel);
    by_ns.push_back(other);
  }
  struct Field {
    std::string_view metric, help;
    std::uint64_t UsageTotals::*member;
  };
  static constexpr Field kFields[] = {
      {"memokeyd_namespace_requests_total",
       "Object reads, writes, deletes and quota refusals, by namespace.", &UsageTotals::requests},
      {"memokeyd_namespace_hits_total", "GET/HEAD of a key that was present, by namespace.",
       &UsageTotals::hits},
      {"memokeyd_namespace_misses_total", "GET/HEAD of a key that was absent, by namespace.",
       &UsageTotals::misses},
      {"memokeyd_namespace_puts_total", "Values stored (PUT), by namespace.", &UsageTotals::puts},
      {"memokeyd_namespace_refused_writes_total",
       "PUTs refused because the value is larger than the namespace's quota (413).",
       &UsageTotals::refused},
  };
  for (const Field& f : kFields) {
    Header(out, f.metric, "counter", f.help);
    for (std::size_t i = 0; i < names.size(); ++i) {
      LabeledSample(out, f.metric, "namespace", names[i], by_ns[i].*f.member);
    }
  }

  // Namespaces with a quota have a store of their own, which knows its bytes.
  Header(out, "memokeyd_namespace_quota_bytes", "gauge",
         "A namespace's byte quota (namespaces with one only).");
  for (const QuotaUsage& q : quotas) {
    LabeledSample(out, "memokeyd_namespace_quota_bytes", "namespace", q.name, q.max_bytes);
  }
  Header(out, "memokeyd_namespace_bytes", "gauge",
         "Bytes a namespace with a quota holds, as charged against it (key + value + overhead).");
  for (const QuotaUsage& q : quotas) {
    LabeledSample(out, "memokeyd_namespace_bytes", "namespace", q.name, q.stats.bytes);
  }
  Header(out, "memokeyd_namespace_entries", "gauge", "Entries a namespace with a quota holds.");
  for (const QuotaUsage& q : quotas) {
    LabeledSample(out, "memokeyd_namespace_entries", "namespace", q.name, q.stats.entries);
  }
  Header(out, "memokeyd_namespace_evictions_total", "counter",
         "Entries a namespace with a quota dropped to stay within it (least recently used first).");
  for (const QuotaUsage& q : quotas) {
    LabeledSample(out, "memokeyd_namespace_evictions_total", "namespace", q.name,
                  q.stats.evictions);
  }

  Header(out, "memokeyd_protocol_requests_total", "counter",
         "Object reads, writes, deletes and quota refusals, by the cache protocol they speak.");
  std::vector<UsageTotals> by_protocol;
  for (int p = 0; p < kProtocolCount; ++p)
    by_protocol.push_back(SumProtocol(static_cast<Protocol>(p)));
  for (int p = 0; p < kProtocolCount; ++p) {
    LabeledSample(out, "memokeyd_protocol_requests_total", "protocol",
                  ProtocolName(static_cast<Protocol>(p)), by_protocol[p].requests);
  }
  Header(out, "memokeyd_protocol_hits_total", "counter", "Hits by protocol.");
  for (int p = 0; p < kProtocolCount; ++p) {
    LabeledSample(out, "memokeyd_protocol_hits_total", "protocol",
                  ProtocolName(static_cast<Protocol>(p)), by_protocol[p].hits);
  }
  Header(out, "memokeyd_protocol_misses_total", "counter", "Misses by protocol.");
  for (int p = 0; p < kProtocolCount; ++p) {
    LabeledSample(out, "memokeyd_protocol_misses_total", "protocol",
                  ProtocolName(static_cast<Protocol>(p)), by_protocol[p].misses);
  }

  Header(out, "memokeyd_token_requests_total", "counter",
         "Authorized object requests by token name (the secret is never shown).");
  for (std::size_t i = 0; i < token_names.size() && i < static_cast<std::size_t>(kTokenSlots);
       ++i) {
    LabeledSample(out, "memokeyd_token_requests_total", "token", token_names[i],
                  SumToken(static_cast<int>(i)));
  }
  LabeledSample(out, "memokeyd_token_requests_total", "token", "(anonymous)",
                SumToken(kAnonymousSlot));
}

std::int64_t Metrics::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               created_)
      .count();
}

void Metrics::MaybeSample() {
  const std::int64_t now = NowMs();
  std::int64_t due = next_sample_ms_.load(std::memory_order_relaxed);
  if (now < due) return;
  // One thread wins the sample; the others go on.
  if (!next_sample_ms_.compare_exchange_strong(due, now + kSampleEvery.count(),
                                               std::memory_order_relaxed)) {
    return;
  }
  TakeSample(now);
}

void Metrics::TakeSample(std::int64_t now_ms) {
  HistorySample sample;
  sample.ms = now_ms;
  const Totals t = Sum();
  sample.requests = t.requests;
  sample.hits = t.hits;
  sample.misses = t.misses;
  std::size_t used;
  {
    std::lock_guard lock(names_mu_);
    used = names_.size();
  }
  for (std::size_t i = 0; i < used; ++i) {
    const UsageTotals u = SumNamespace(static_cast<int>(i));
    sample.namespaces.emplace_back(u.hits, u.misses);
  }
  for (int p = 0; p < kProtocolCount; ++p) {
    const UsageTotals u = SumProtocol(static_cast<Protocol>(p));
    sample.protocols[static_cast<std::size_t>(p)] = {u.hits, u.misses};
  }
  std::lock_guard lock(history_mu_);
  history_.push_back(std::move(sample));
  while (history_.size() > kHistory) history_.pop_front();
}

std::vector<Metrics::HistorySample> Metrics::History() const {
  std::lock_guard lock(history_mu_);
  return {history_.begin(), history_.end()};
}

}  // namespace memokeyd
