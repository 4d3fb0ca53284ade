// server/dashboard.h — the live dashboard at "/" and the JSON it polls.
//
// The page is server/dashboard.html, plain HTML + JavaScript with no external
// assets, compiled into memokeyd at build time (server/embed_file.cmake turns
// it into a byte array), so it stays editable as HTML and needs no build step
// of its own. Every 2 s it fetches /dashboard.json and redraws: per namespace
// and per protocol hit ratios, bytes and entries against each quota,
// requests per second, top clients by token name, and a chart of the hit
// ratio over the last minutes by namespace or by protocol (from
// Metrics::History, so it is there as soon as the page opens).
//
// Secrets: the JSON carries token *names* only (the configuration keeps no
// secrets, only their SHA-256, and not even those go out), namespace names and
// the store description with passwords redacted (Store::Describe). It is as
// public as /metrics: put memokeyd behind a proxy if those names are private.

#ifndef MEMOKEY_SERVER_DASHBOARD_H_
#define MEMOKEY_SERVER_DASHBOARD_H_

#include <string>
#include <string_view>
#include <vector>

#include "config.h"
#include "handler.h"
#include "memokey/store.h"
#include "metrics.h"

namespace memokeyd {

// The page (generated from dashboard.html).
std::string_view DashboardHtml();

// Byte usage of the namespaces with a quota, when `store` is memokeyd's
// NamespacedStore (main.cc makes one when any namespace has a quota); empty
// otherwise.
std::vector<Metrics::QuotaUsage> QuotasOf(const memokey::Store& store);

// Appends the dashboard's JSON document to *out.
void RenderDashboardJson(const Config& config, const Metrics& metrics, const ServerInfo& info,
                         const memokey::StoreStats& store,
                         const std::vector<Metrics::QuotaUsage>& quotas, std::string* out);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_DASHBOARD_H_
