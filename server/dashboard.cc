// server/dashboard.cc — the dashboard's JSON (see dashboard.h).

#include "dashboard.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "log.h"
#include "namespace_store.h"

namespace memokeyd {

namespace {

void Field(std::string* out, std::string_view name, std::uint64_t value, bool comma = true) {
  out->push_back('"');
  out->append(name).append("\":").append(std::to_string(value));
  if (comma) out->push_back(',');
}

void UsageFields(std::string* out, const Metrics::UsageTotals& u) {
  Field(out, "requests", u.requests);
  Field(out, "hits", u.hits);
  Field(out, "misses", u.misses);
  Field(out, "puts", u.puts);
  Field(out, "deletes", u.deletes);
  Field(out, "refused", u.refused, false);
}

}  // namespace

std::vector<Metrics::QuotaUsage> QuotasOf(const memokey::Store& store) {
  std::vector<Metrics::QuotaUsage> out;
  // The handler is given a plain Store&; only memokeyd's own wrapper knows
  // per-namespace usage, so ask it when that is what we were given.
  if (const auto* namespaced = dynamic_cast<const NamespacedStore*>(&store)) {
    for (const NamespacedStore::Usage& u : namespaced->Quotas()) {
      out.push_back(Metrics::QuotaUsage{u.name, u.max_bytes, u.stats});
    }
  }
  return out;
}

void RenderDashboardJson(const Config& config, const Metrics& metrics, const ServerInfo& info,
                         const memokey::StoreStats& store,
                         const std::vector<Metrics::QuotaUsage>& quotas, std::string* out) {
  const Metrics::Totals totals = metrics.Sum();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - info.start);
  out->append("{\"version\":");
  AppendJsonString(out, kVersion);
  out->append(",\"listen\":");
  AppendJsonString(out, info.listen);
  out->append(",\"store\":{\"description\":");
  AppendJsonString(out, info.store_description);
  out->push_back(',');
  Field(out, "bytes", store.bytes);
  Field(out, "entries", store.entries);
  Field(out, "evictions", store.evictions, false);
  out->append("},");
  Field(out, "uptime_s", static_cast<std::uint64_t>(uptime.count()));
  Field(out, "now_ms", static_cast<std::uint64_t>(metrics.NowMs()));
  Field(out, "sample_every_ms", static_cast<std::uint64_t>(Metrics::kSampleEvery.count()));
  Field(out, "connections",
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, metrics.open_connections.load())));
  out->append("\"totals\":{");
  Field(out, "requests", totals.requests);
  Field(out, "hits", totals.hits);
  Field(out, "misses", totals.misses);
  Field(out, "puts", totals.puts);
  Field(out, "bytes_in", totals.bytes_in);
  Field(out, "bytes_out", totals.bytes_out);
  Field(out, "errors", totals.backend_errors, false);
  out->append("},\"namespaces\":[");

  std::vector<std::string> names = metrics.NamespaceNames();
  bool first = true;
  auto namespace_entry = [&](std::string_view name, const Metrics::UsageTotals& u) {
    if (!first) out->push_back(',');
    first = false;
    out->append("{\"name\":");
    AppendJsonString(out, name);
    out->push_back(',');
    UsageFields(out, u);
    const auto q = std::find_if(quotas.begin(), quotas.end(),
                                [&](const Metrics::QuotaUsage& x) { return x.name == name; });
    if (q != quotas.end()) {
      out->append(",\"quota\":").append(std::to_string(q->max_bytes));
      out->append(",\"bytes\":").append(std::to_string(q->stats.bytes));
      out->append(",\"entries\":").append(std::to_string(q->stats.entries));
      out->append(",\"evictions\":").append(std::to_string(q->stats.evictions));
    } else {
      out->append(",\"quota\":null,\"bytes\":null,\"entries\":null,\"evictions\":null");
    }
    out->push_back('}');
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    namespace_entry(names[i], metrics.SumNamespace(static_cast<int>(i)));
  }
  const Metrics::UsageTotals other = metrics.SumNamespace(kOtherNamespaceSlot);
  if (other.requests > 0) namespace_entry(kOtherNamespaceLabel, other);

  out->append("],\"protocols\":[");
  for (int p = 0; p < kProtocolCount; ++p) {
    if (p > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(out, ProtocolName(static_cast<Protocol>(p)));
    out->push_back(',');
    UsageFields(out, metrics.SumProtocol(static_cast<Protocol>(p)));
    out->push_back('}');
  }

  // Clients: token names (never secrets), busiest first.
  std::vector<std::pair<std::string_view, std::uint64_t>> clients;
  for (std::size_t i = 0; i < config.tokens.size() && i < static_cast<std::size_t>(kTokenSlots);
       ++i) {
    clients.emplace_back(config.tokens[i].name, metrics.SumToken(static_cast<int>(i)));
  }
  clients.emplace_back("(anonymous)", metrics.SumToken(kAnonymousSlot));
  std::stable_sort(clients.begin(), clients.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  out->append("],\"clients\":[");
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(out, clients[i].first);
    out->append(",\"requests\":").append(std::to_string(clients[i].second)).append("}");
  }

  // History: samples of the totals and of each namespace slot's hits and misses.
  out->append("],\"history\":{\"names\":[");
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, names[i]);
  }
  out->append("],\"protocol_names\":[");
  for (int p = 0; p < kProtocolCount; ++p) {
    if (p > 0) out->push_back(',');
    AppendJsonString(out, ProtocolName(static_cast<Protocol>(p)));
  }
  out->append("],\"samples\":[");
  const std::vector<Metrics::HistorySample> history = metrics.History();
  for (std::size_t i = 0; i < history.size(); ++i) {
    const Metrics::HistorySample& s = history[i];
    if (i > 0) out->push_back(',');
    out->append("{\"ms\":").append(std::to_string(s.ms));
    out->append(",\"requests\":").append(std::to_string(s.requests));
    out->append(",\"hits\":").append(std::to_string(s.hits));
    out->append(",\"misses\":").append(std::to_string(s.misses));
    out->append(",\"ns\":[");
    for (std::size_t j = 0; j < s.namespaces.size(); ++j) {
      if (j > 0) out->push_back(',');
      out->append("[").append(std::to_string(s.namespaces[j].first)).append(",");
      out->append(std::to_string(s.namespaces[j].second)).append("]");
    }
    out->append("],\"protocols\":[");
    for (std::size_t p = 0; p < s.protocols.size(); ++p) {
      if (p > 0) out->push_back(',');
      out->append("[").append(std::to_string(s.protocols[p].first)).append(",");
      out->append(std::to_string(s.protocols[p].second)).append("]");
    }
    out->append("]}");
  }
  out->append("]}}\n");
}

}  // namespace memokeyd
