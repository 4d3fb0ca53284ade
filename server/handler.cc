// server/handler.cc — the HTTP API (see handler.h).

#include "handler.h"

#include <algorithm>
#include <cstdio>

#include "buildcache.h"
#include "dashboard.h"
#include "log.h"
#include "namespace_store.h"
#include "webdav.h"

namespace memokeyd {

using memokey::Status;

namespace {

constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kJson = "application/json";
// Offered to clients that sent no (or bad) credentials: both schemes work.
constexpr std::string_view kChallenge = "Basic realm=\"memokeyd\", Bearer realm=\"memokeyd\"";

bool AllowedKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

Target Invalid(int status, std::string_view why) {
  Target t;
  t.route = Route::kInvalid;
  t.error_status = status;
  t.error = why;
  return t;
}

Target Fixed(Route route) {
  Target t;
  t.route = route;
  return t;
}

void MethodNotAllowed(Response* out, std::string_view allow) {
  Text(out, 405, "method not allowed\n");
  out->headers.emplace_back("Allow", std::string(allow));
}

bool IsTurbo(std::string_view target) {
  return target.starts_with(kTurboPrefix) &&
         (target.size() == kTurboPrefix.size() || target[kTurboPrefix.size()] == '/' ||
          target[kTurboPrefix.size()] == '?');
}

// Turborepo reads its errors as {"error":{"code","message"}} (it prints
// them); the message is one of ours, never client input.
void TurboError(Response* out, int status, std::string_view code, std::string_view message) {
  out->status = status;
  out->content_type = kJson;
  out->body.assign("{\"error\":{\"code\":\"");
  out->body.append(code).append("\",\"message\":\"");
  for (char c : message) {
    if (c == '"' || c == '\\') out->body.push_back('\\');
    if (c != '\n') out->body.push_back(c);
  }
  out->body.append("\"}}");
}

}  // namespace

Target ParseTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Invalid(400, "the request-target must be an absolute path (origin-form)");
  }
  if (target.size() > kMaxTargetBytes) return Invalid(414, "request-target too long");

  // The fixed routes tolerate a query string (probes and scrapers add them);
  // keys never do.
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/") return Fixed(Route::kStatus);
  if (path == "/healthz") return Fixed(Route::kHealthz);
  if (path == "/readyz") return Fixed(Route::kReadyz);
  if (path == "/metrics") return Fixed(Route::kMetrics);
  if (path == "/dashboard.json") return Fixed(Route::kDashboard);
  if (path == "/status") return Fixed(Route::kStatusPage);
  if (path.size() != target.size()) return Invalid(400, "query strings are not allowed in keys");

  // "/v1/N/P" and "/N/P" both name store key "N/P".
  std::string_view rest = target.starts_with("/v1/") ? target.substr(4) : target.substr(1);
  const std::size_t slash = rest.find('/');
  const std::string_view ns = rest.substr(0, slash);
  if (slash == std::string_view::npos) {
    if (target.starts_with("/v1/")) return Invalid(400, "missing key: use /v1/{namespace}/{key}");
    return Invalid(404, "no such route: use /v1/{namespace}/{key}");
  }
  if (!ValidNamespaceName(ns)) {
    return Invalid(400,
                   "invalid namespace: 1-64 of A-Z a-z 0-9 . _ ~ - (not '.', '..', v1, healthz, "
                   "readyz, metrics)");
  }
  // Every key segment: non-empty, allowed characters only, not "." or "..".
  // No percent-decoding happens anywhere, so "%2e%2e" is refused for its '%'.
  std::string_view key_path = rest.substr(slash + 1);
  if (key_path.empty()) return Invalid(400, "missing key: use /v1/{namespace}/{key}");
  while (true) {
    const std::size_t next = key_path.find('/');
    const std::string_view segment = key_path.substr(0, next);
    if (segment.empty()) return Invalid(400, "invalid key: empty path segment");
    if (segment == "." || segment == "..")
      return Invalid(400, "invalid key: '.' and '..' segments are not allowed");
    if (!std::all_of(segment.begin(), segment.end(), AllowedKeyChar)) {
      return Invalid(
          400, "invalid key: allowed characters are A-Z a-z 0-9 . _ ~ - and '/' between segments");
    }
    if (next == std::string_view::npos) break;
    key_path = key_path.substr(next + 1);
  }
  if (rest.size() > memokey::kMaxStoreKeyBytes) return Invalid(414, "key too long");

  Target t;
  t.route = Route::kObject;
  t.ns = ns;
  t.key = rest;
  return t;
}

namespace {

bool IsHex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

RequestClass ClassifyRequest(std::string_view target) {
  RequestClass c;
  if (IsTurbo(target)) {
    c.ns = ParseTurboTarget(target).ns;
    c.protocol = Protocol::kTurborepo;
    return c;
  }
  // Called for requests already routed (and so validated) as object
  // requests: the store key is the target after "/v1/" or "/", and no
  // second full parse is needed on this per-request path.
  if (target.empty()) return c;
  const std::string_view key = target.substr(target.starts_with("/v1/") ? 4 : 1);
  const std::size_t slash = key.find('/');
  if (slash == 0 || slash == std::string_view::npos) return c;
  c.ns = key.substr(0, slash);
  const std::string_view path = key.substr(slash + 1);  // the key after "NS/"
  if (IsNxKey(key)) {
    c.protocol = Protocol::kNx;
  } else if (target.starts_with("/v1/")) {
    c.protocol = Protocol::kMemokey;
  } else if (path.starts_with("ac/") || path.starts_with("cas/")) {
    c.protocol = Protocol::kBazel;
  } else if (path.size() > 3 && path[2] == '/' && path.find('/', 3) == std::string_view::npos) {
    c.protocol = Protocol::kCcache;  // ccache's default "subdirs" layout: xx/rest
  } else if (IsHex(path) && path.size() >= 32) {
    c.protocol = Protocol::kGradle;  // Gradle's build cache keys: hex digests
  } else {
    c.protocol = Protocol::kHttp;
  }
  return c;
}

Handler::Handler(const Config& config, memokey::Store& store, Metrics& metrics, MetricsShard& shard,
                 const ServerInfo& info)
    : config_(config), store_(store), metrics_(metrics), shard_(shard), info_(info), auth_(config) {
  // Configured namespaces take the first counter slots, in name order, so
  // that they always have series of their own.
  for (const auto& entry : config_.namespaces)
    ns_slots_[entry.first] = metrics_.NamespaceSlot(entry.first);
}

bool Handler::Authorize(const Request& request, std::string_view ns, Access needed, Response* out,
                        bool count) {
  if (request.duplicate_header) {
    Text(out, 400, "duplicate Authorization or X-Memokey-TTL header\n");
    return false;
  }
  const AuthResult result = auth_.Check(request.authorization, ns);
  if (result.access >= needed) {
    if (count) {
      int slot = kAnonymousSlot;
      if (result.token != nullptr) {
        slot = std::min(static_cast<int>(result.token - config_.tokens.data()), kTokenSlots - 1);
      }
      shard_.by_token[slot].Add();
    }
    return true;
  }
  if (!result.presented || !result.valid) {
    // 401: say which schemes we accept. Wrong credentials are 401 too (not
    // anonymous access), so a misconfigured client fails loudly.
    (result.presented ? shard_.auth_invalid : shard_.auth_missing).Add();
    Text(out, 401, result.presented ? "invalid credentials\n" : "credentials required\n");
    out->headers.emplace_back("WWW-Authenticate", std::string(kChallenge));
    return false;
  }
  shard_.auth_forbidden.Add();
  Text(out, 403,
       needed == Access::kReadWrite ? "this token may not write to this namespace\n"
                                    : "this token may not read this namespace\n");
  return false;
}

bool Handler::Admit(const Request& header, Response* out) {
  if (IsTurbo(header.target)) return AdmitTurbo(header, out);
  if (IsWebDavMethod(header.method)) return AdmitWebDav(header, out);
  const Target target = ParseTarget(header.target);
  switch (target.route) {
    case Route::kInvalid:
      Text(out, target.error_status, target.error);
      out->body.push_back('\n');
      return false;
    case Route::kObject:
      if (header.method == Method::kPut) {
        return Authorize(header, target.ns, Access::kReadWrite, out, false) &&
               !OverQuota(header, target.ns, header.content_length.value_or(0), out);
      }
      // A body on GET/HEAD/DELETE is unusual but harmless (bounded by
      // max_body); other methods are refused before it is read.
      if (header.method == Method::kGet || header.method == Method::kHead ||
          header.method == Method::kDelete) {
        return true;
      }
      MethodNotAllowed(out, "GET, HEAD, PUT, DELETE");
      return false;
    default:
      if (header.method == Method::kGet || header.method == Method::kHead) return true;
      MethodNotAllowed(out, "GET, HEAD");
      return false;
  }
}

Route Handler::Handle(const Request& request, Response* out) {
  if (IsTurbo(request.target)) {
    HandleTurbo(request, out);
    return Route::kObject;
  }
  if (IsWebDavMethod(request.method)) {
    HandleWebDav(request, out);
    return Route::kObject;
  }
  if (request.method == Method::kPost) {
    const LeasePlan plan = PrepareLease(request, out);
    memokey::LeaseResult result;
    switch (plan.kind) {
      case LeasePlan::Kind::kAcquire:
        FinishLease(plan, store_.AcquireLease(plan.key, plan.options, &result), &result, out);
        break;
      case LeasePlan::Kind::kRelease:
        FinishLease(plan, store_.ReleaseLease(plan.key, plan.token), &result, out);
        break;
      case LeasePlan::Kind::kNotALease:
      case LeasePlan::Kind::kAnswered:
        break;
    }
    return Route::kObject;
  }
  const Target target = ParseTarget(request.target);
  const bool read_method = request.method == Method::kGet || request.method == Method::kHead;
  if (target.route != Route::kObject && target.route != Route::kInvalid && !read_method) {
    MethodNotAllowed(out, "GET, HEAD");
    return target.route;
  }
  switch (target.route) {
    case Route::kInvalid:
      Text(out, target.error_status, target.error);
      out->body.push_back('\n');
      break;
    case Route::kObject:
      HandleObject(request, target, out);
      break;
    case Route::kHealthz:
      Text(out, 200, "ok\n");
      break;
    case Route::kReadyz: {
      bool present = false;
      const bool draining =
          info_.draining != nullptr && info_.draining->load(std::memory_order_relaxed);
      const Status s = draining ? Status::Unavailable("shutting down")
                                : store_.Contains(kReadyProbeKey, &present);
      if (s.ok()) {
        Text(out, 200, "ready\n");
      } else {
        if (!draining) shard_.backend_errors.Add();
        Text(out, 503, "not ready: " + s.message() + "\n");
        out->headers.emplace_back("Retry-After", "1");
      }
      break;
    }
    case Route::kMetrics: {
      out->status = 200;
      out->content_type = kMetricsType;
      metrics_.Render(store_.Stats(), info_.start, &out->body);
      std::vector<std::string_view> token_names;
      for (const Token& token : config_.tokens) token_names.push_back(token.name);
      metrics_.RenderUsage(QuotasOf(store_), token_names, &out->body);
      break;
    }
    case Route::kStatus:
      out->status = 200;
      out->content_type = kHtml;
      out->body.assign(DashboardHtml());
      break;
    case Route::kDashboard:
      DashboardJson(out);
      break;
    case Route::kStatusPage:
      StatusPage(out);
      break;
  }
  if (request.method == Method::kHead) out->omit_body = true;
  return target.route;
}

Handler::ReadPlan Handler::PrepareRead(const Request& request, std::string_view* key,
                                       Response* out) {
  if (request.method != Method::kGet && request.method != Method::kHead) return ReadPlan::kNotARead;
  // A batch has no TTLs (one MGET); a client that wants one is answered alone.
  if (!request.want_ttl.empty()) return ReadPlan::kNotARead;
  // Turborepo's reads need their key built and their metadata split off.
  if (IsTurbo(request.target)) return ReadPlan::kNotARead;
  const Target target = ParseTarget(request.target);
  if (target.route != Route::kObject) return ReadPlan::kNotARead;
  return PrepareObjectRead(request, target, key, out);
}

Handler::ReadPlan Handler::PrepareObjectRead(const Request& request, const Target& target,
                                             std::string_view* key, Response* out) {
  if (!Authorize(request, target.ns, Access::kRead, out)) {
    if (request.method == Method::kHead) out->omit_body = true;
    return ReadPlan::kAnswered;
  }
  *key = target.key;
  return ReadPlan::kFetch;
}

void Handler::FinishRead(const Request& request, const Status& status,
                         std::optional<std::string>* value, Response* out) {
  if (status.ok() && value->has_value()) {
    shard_.hits.Add();
    Account(request, Outcome::kHit);
    out->status = 200;
    out->content_type = kOctetStream;
    out->body = std::move(**value);
  } else if (status.ok() || status.IsNotFound() || status.code() == Status::Code::kCorruption) {
    // A value that fails verification is, to a cache client, a miss.
    shard_.misses.Add();
    Account(request, Outcome::kMiss);
    Text(out, 404, "not found\n");
  } else {
    shard_.misses.Add();
    Account(request, Outcome::kMiss);
    BackendError(status, "get", out);
  }
  if (request.method == Method::kHead) out->omit_body = true;
}

void Handler::HandleObject(const Request& request, const Target& target, Response* out) {
  switch (request.method) {
    case Method::kGet:
    case Method::kHead: {
      std::string_view key;
      if (PrepareObjectRead(request, target, &key, out) != ReadPlan::kFetch) return;
      // Into the response body's string, which keeps its capacity from one
      // request to the next: no allocation for same-sized values.
      std::optional<std::string> value(std::move(out->body));
      value->clear();
      Millis ttl_left{0};
      const Status s = request.want_ttl.empty() ? store_.Get(key, &*value)
                                                : store_.GetWithTtl(key, &*value, &ttl_left);
      if (!s.ok()) value.reset();
      // A miss with a reason: a damaged entry or database the store dropped
      // (its message says what to do), or a store that could not answer.
      if (s.IsNotFound() && s.message() != Status::NotFound().message()) {
        LogStoreProblem("store miss", "get", s);
      }
      FinishRead(request, s.IsNotFound() ? Status::Ok() : s, &value, out);
      if (out->status == 200 && ttl_left.count() > 0) {
        out->headers.emplace_back("X-Memokey-TTL", std::to_string(ttl_left.count()) + "ms");
      }
      return;
    }
    case Method::kPut: {
      if (!Authorize(request, target.ns, Access::kReadWrite, out)) return;
      if (OverQuota(request, target.ns, request.body.size(), out)) return;
      const NamespacePolicy& policy = auth_.Policy(target.ns);
      Millis ttl = policy.default_ttl;
      if (!request.ttl.empty()) {
        std::optional<Millis> parsed = ParseDuration(request.ttl);
        if (!parsed) {
          Text(out, 400, "bad X-Memokey-TTL: use seconds, or a number with ms/s/m/h/d\n");
          return;
        }
        ttl = *parsed;
      }
      if (policy.max_ttl.count() > 0 && (ttl.count() == 0 || ttl > policy.max_ttl))
        ttl = policy.max_ttl;
      // Bazel's CAS: a blob is named by its SHA-256, so a body that does not
      // hash to its name is a broken or malicious upload (bazel-remote
      // refuses it too). Checked before anything is stored.
      std::string_view digest;
      const bool cas = IsCasKey(target.key, &digest);
      if (cas && !CasDigestMatches(digest, request.body)) {
        Text(out, 400, "content-addressed upload: the body's SHA-256 is not its name\n");
        return;
      }
      const bool nx = IsNxKey(target.key);
      bool existed = false;
      // Nx's API never overwrites; write-once namespaces neither. A CAS blob
      // that exists already has this very content: accepted, not rewritten.
      const Status s = (nx || IsWriteOnce(config_, policy))
                           ? PutIfAbsent(target.key, request.body, ttl, &existed)
                           : store_.Put(target.key, request.body, ttl);
      if (!s.ok()) {
        BackendError(s, "put", out);
        return;
      }
      // The same bytes again is no overwrite either (sccache PUTs its
      // ".sccache_check" probe, always "Hello, World!", on every start and
      // would otherwise run read-only): accepted, not rewritten.
      const bool resent = existed && !cas && !nx && SameValue(target.key, request.body);
      if (existed && !cas && !resent) {
        Text(out, 409,
             nx ? "cannot override an existing record\n"
                : "write-once namespace: this key exists and cannot be overwritten\n");
        return;
      }
      if (!existed) {
        shard_.puts.Add();
        shard_.bytes_in.Add(request.body.size());
        Account(request, Outcome::kPut);
      }
      // Nx's API says 200 for a stored record; everything else gets 201.
      out->status = nx ? 200 : 201;
      return;
    }
    case Method::kDelete: {
      if (!Authorize(request, target.ns, Access::kReadWrite, out)) return;
      const Status s = store_.Delete(target.key);
      if (!s.ok()) {
        BackendError(s, "delete", out);
        return;
      }
      shard_.deletes.Add();
      Account(request, Outcome::kDelete);
      out->status = 204;
      return;
    }
    default:
      MethodNotAllowed(out, "GET, HEAD, PUT, DELETE");
      return;
  }
}

bool Handler::SameValue(std::string_view key, std::string_view value) {
  std::string stored;
  return store_.Get(key, &stored).ok() && stored == value;
}

Status Handler::PutIfAbsent(std::string_view key, std::string_view value, Millis ttl,
                            bool* existed) {
  *existed = false;
  // The check and the write under the key's lease, so that of two uploads
  // racing for one key exactly one is stored: a lease is exclusive, and a
  // second uploader that finds it held is refused like one that finds the
  // value (wait 0: a worker thread never sleeps here).
  memokey::LeaseOptions options;
  options.ttl = std::chrono::seconds(30);
  options.wait = Millis{0};
  options.check_value = true;
  memokey::LeaseResult lease;
  if (Status s = store_.AcquireLease(key, options, &lease); !s.ok()) return s;
  using State = memokey::LeaseResult::State;
  switch (lease.state) {
    case State::kValue:
    case State::kTimedOut:
      *existed = true;
      return Status::Ok();
    case State::kGranted: {
      const Status put = store_.Put(key, value, ttl);
      const Status released = store_.ReleaseLease(key, lease.token);
      return put.ok() ? released : put;
    }
    case State::kUnsupported:
      break;
  }
  // A store without leases (none of memokeyd's own: memory, disk, Redis and
  // their tiers all have them): check, then write.
  bool present = false;
  if (Status s = store_.Contains(key, &present); !s.ok()) return s;
  if (present) {
    *existed = true;
    return Status::Ok();
  }
  return store_.Put(key, value, ttl);
}

bool Handler::AdmitTurbo(const Request& header, Response* out) {
  const TurboTarget target = ParseTurboTarget(header.target);
  if (target.kind == TurboTarget::Kind::kInvalid) {
    TurboError(out, target.error_status, "bad_request", target.error);
    return false;
  }
  const bool artifact = target.kind == TurboTarget::Kind::kArtifact;
  if (artifact && header.method == Method::kPut) {
    return TurboAuthorize(header, target.ns, Access::kReadWrite, out, /*count=*/false);
  }
  if (header.method == Method::kGet || header.method == Method::kHead) return true;
  if (target.kind == TurboTarget::Kind::kEvents && header.method == Method::kPost) return true;
  MethodNotAllowed(out, artifact ? "GET, HEAD, PUT" : "GET, POST");
  return false;
}

bool Handler::TurboAuthorize(const Request& request, std::string_view ns, Access needed,
                             Response* out, bool count) {
  // status and events may come without a team: any valid token will do.
  if (ns.empty()) {
    if (config_.open_mode) return true;
    const AuthResult result = auth_.Check(request.authorization, "");
    if (result.valid) return true;
    TurboError(out, 401, "unauthorized", "a valid token is required (TURBO_TOKEN)");
    out->headers.emplace_back("WWW-Authenticate", std::string(kChallenge));
    return false;
  }
  if (Authorize(request, ns, needed, out, count)) return true;
  // Same status as the plain routes, in the JSON turbo prints.
  const int status = out->status;
  out->body.clear();
  if (status == 403) {
    TurboError(out, status, "forbidden",
               needed == Access::kReadWrite ? "this token may not write to this team's namespace"
                                            : "this token may not read this team's namespace");
  } else if (status == 401) {
    TurboError(out, status, "unauthorized", "a valid token is required (TURBO_TOKEN)");
  } else {
    TurboError(out, status, "bad_request", "duplicate Authorization header");
  }
  return false;
}

void Handler::HandleTurbo(const Request& request, Response* out) {
  const TurboTarget target = ParseTurboTarget(request.target);
  if (target.kind == TurboTarget::Kind::kInvalid) {
    TurboError(out, target.error_status, "bad_request", target.error);
    return;
  }
  const bool read = request.method == Method::kGet || request.method == Method::kHead;
  switch (target.kind) {
    case TurboTarget::Kind::kInvalid:
      return;
    case TurboTarget::Kind::kStatus:
      if (!read) return MethodNotAllowed(out, "GET");
      if (!TurboAuthorize(request, target.ns, Access::kRead, out)) break;
      out->status = 200;
      out->content_type = kJson;
      out->body.assign("{\"status\":\"enabled\"}");
      break;
    case TurboTarget::Kind::kEvents:
      // turbo reports its cache hits and misses here; memokeyd counts its
      // own, so the events are accepted and dropped.
      if (request.method != Method::kPost) return MethodNotAllowed(out, "POST");
      if (!TurboAuthorize(request, target.ns, Access::kRead, out)) return;
      out->status = 200;
      break;
    case TurboTarget::Kind::kArtifact: {
      const std::string key = TurboStoreKey(target.ns, target.hash);
      if (request.method == Method::kPut) {
        if (!TurboAuthorize(request, target.ns, Access::kReadWrite, out)) return;
        if (OverQuota(request, target.ns, request.body.size(), out)) return;
        std::string stored;
        std::string_view error;
        if (!EncodeTurboArtifact({request.artifact_duration, request.artifact_tag}, request.body,
                                 &stored, &error)) {
          return TurboError(out, 400, "bad_request", error);
        }
        const NamespacePolicy& policy = auth_.Policy(target.ns);
        Millis ttl = policy.default_ttl;
        if (policy.max_ttl.count() > 0 && (ttl.count() == 0 || ttl > policy.max_ttl))
          ttl = policy.max_ttl;
        bool existed = false;
        const Status s = IsWriteOnce(config_, policy) ? PutIfAbsent(key, stored, ttl, &existed)
                                                      : store_.Put(key, stored, ttl);
        if (!s.ok()) return BackendError(s, "put", out);
        if (existed) {
          return TurboError(out, 409, "conflict",
                            "write-once namespace: this artifact exists and cannot be overwritten");
        }
        shard_.puts.Add();
        shard_.bytes_in.Add(request.body.size());
        Account(request, Outcome::kPut);
        // Vercel's API answers 202 with the artifact's location(s).
        out->status = 202;
        out->content_type = kJson;
        out->body.assign("{\"urls\":[\"").append(key).append("\"]}");
        return;
      }
      if (!read) return MethodNotAllowed(out, "GET, HEAD, PUT");
      if (!TurboAuthorize(request, target.ns, Access::kRead, out)) break;
      std::string stored;
      const Status s = store_.Get(key, &stored);
      TurboMeta meta;
      std::size_t offset = 0;
      if (s.ok() && DecodeTurboArtifact(stored, &meta, &offset)) {
        shard_.hits.Add();
        Account(request, Outcome::kHit);
        out->status = 200;
        out->content_type = kOctetStream;
        if (!meta.duration.empty())
          out->headers.emplace_back("x-artifact-duration", std::string(meta.duration));
        if (!meta.tag.empty()) out->headers.emplace_back("x-artifact-tag", std::string(meta.tag));
        stored.erase(0, offset);
        out->body = std::move(stored);
      } else if (s.ok() || s.IsNotFound() || s.code() == Status::Code::kCorruption) {
        shard_.misses.Add();
        Account(request, Outcome::kMiss);
        TurboError(out, 404, "not_found", "artifact not found");
      } else {
        shard_.misses.Add();
        Account(request, Outcome::kMiss);
        BackendError(s, "get", out);
      }
      break;
    }
  }
  if (request.method == Method::kHead) out->omit_body = true;
}

Handler::LeasePlan Handler::PrepareLease(const Request& request, Response* out) {
  LeasePlan plan;
  if (request.method != Method::kPost) return plan;
  plan.kind = LeasePlan::Kind::kAnswered;
  // Turborepo's POST /v8/artifacts/events is no lease: answered here, since
  // the network code sends every POST this way.
  if (IsTurbo(request.target)) {
    HandleTurbo(request, out);
    return plan;
  }
  constexpr std::string_view kLease = "/lease", kRelease = "/release";
  std::string_view target = request.target;
  const bool acquire = target.ends_with(kLease);
  if (!acquire && !target.ends_with(kRelease)) {
    Text(out, 405, "POST is only for /v1/{namespace}/{key}/lease and .../release\n");
    out->headers.emplace_back("Allow", "GET, HEAD, PUT, DELETE");
    return plan;
  }
  if (!target.starts_with("/v1/")) {
    Text(out, 404, "leases are under /v1/{namespace}/{key}/lease\n");
    return plan;
  }
  target.remove_suffix(acquire ? kLease.size() : kRelease.size());
  const Target t = ParseTarget(target);
  if (t.route != Route::kObject) {
    Text(out, t.route == Route::kInvalid ? t.error_status : 404,
         t.route == Route::kInvalid ? t.error : "no such key route");
    out->body.push_back('\n');
    return plan;
  }
  if (!Authorize(request, t.ns, Access::kReadWrite, out)) return plan;
  plan.key = t.key;

  if (!acquire) {
    if (request.lease_token.empty() || request.lease_token.size() > 256) {
      Text(out, 400, "release needs the lease's token in X-Memokey-Lease\n");
      return plan;
    }
    plan.token = request.lease_token;
    plan.kind = LeasePlan::Kind::kRelease;
    return plan;
  }
  auto duration = [&](std::string_view text, Millis fallback, Millis max, Millis* result,
                      std::string_view header) {
    if (text.empty()) {
      *result = fallback;
      return true;
    }
    const std::optional<Millis> parsed = ParseDuration(text);
    if (!parsed) {
      Text(out, 400, "bad " + std::string(header) + ": use seconds, or a number with ms/s/m/h/d\n");
      return false;
    }
    *result = std::min(*parsed, max);
    return true;
  };
  Millis ttl, wait;
  if (!duration(request.lease_ttl, kDefaultLeaseTtl, kMaxLeaseTtl, &ttl, "X-Memokey-Lease-TTL") ||
      !duration(request.lease_wait, Millis{0}, kMaxLeaseWait, &wait, "X-Memokey-Lease-Wait")) {
    return plan;
  }
  if (ttl.count() <= 0) {
    Text(out, 400, "X-Memokey-Lease-TTL must be positive\n");
    return plan;
  }
  const std::string_view check = request.lease_check;
  if (!check.empty() && check != "0" && check != "1") {
    Text(out, 400, "X-Memokey-Lease-Check must be 0 or 1\n");
    return plan;
  }
  plan.options.ttl = ttl;
  plan.options.wait = wait;
  plan.options.check_value = check != "0";
  plan.kind = LeasePlan::Kind::kAcquire;
  return plan;
}

void Handler::FinishLease(const LeasePlan& plan, const Status& status, memokey::LeaseResult* result,
                          Response* out) {
  if (!status.ok()) return BackendError(status, "lease", out);
  if (plan.kind == LeasePlan::Kind::kRelease) {
    out->status = 204;
    return;
  }
  using State = memokey::LeaseResult::State;
  // Tells the client its answer came after another holder's lease (it counts those).
  if (result->waited) out->headers.emplace_back("X-Memokey-Lease-Waited", "1");
  switch (result->state) {
    case State::kGranted:
      shard_.leases_granted.Add();
      Text(out, 201, "granted: compute, PUT the value, then POST .../release\n");
      out->headers.emplace_back("X-Memokey-Lease", std::move(result->token));
      return;
    case State::kValue:
      shard_.lease_values.Add();
      out->status = 200;
      out->content_type = kOctetStream;
      out->body = std::move(result->value);
      if (result->ttl_left.count() > 0) {
        out->headers.emplace_back("X-Memokey-TTL", std::to_string(result->ttl_left.count()) + "ms");
      }
      return;
    case State::kTimedOut:
      shard_.lease_busy.Add();
      Text(out, 409, "the lease is held by another client: ask again, or compute\n");
      return;
    case State::kUnsupported:
      Text(out, 501, "this server's store has no leases\n");
      return;
  }
}

void Handler::LogStoreProblem(std::string_view event, std::string_view op, const Status& status) {
  // When Redis is down every request fails the same way: log the first, then
  // at most one line per second per worker with the count of the others.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_backend_log_ >= std::chrono::seconds(1)) {
    Log(LogLevel::kWarn, event,
        {{"op", op}, {"error", status.ToString()}, {"suppressed", suppressed_backend_logs_}});
    last_backend_log_ = now;
    suppressed_backend_logs_ = 0;
  } else {
    ++suppressed_backend_logs_;
  }
}

void Handler::BackendError(const Status& status, std::string_view op, Response* out) {
  shard_.backend_errors.Add();
  LogStoreProblem("store error", op, status);
  out->body.clear();
  if (status.code() == Status::Code::kUnavailable || status.code() == Status::Code::kIOError) {
    Text(out, 503, "store unavailable\n");
    out->headers.emplace_back("Retry-After", "1");
  } else {
    Text(out, 500, "store error\n");
  }
}

void Handler::Account(const Request& request, Outcome outcome) {
  const RequestClass c = ClassifyRequest(request.target);
  if (c.ns.empty()) return;
  int slot;
  if (auto it = ns_slots_.find(c.ns); it != ns_slots_.end()) {
    slot = it->second;
  } else {
    slot = metrics_.NamespaceSlot(c.ns);
    // Only names with a slot of their own are kept: a client inventing
    // namespaces cannot grow this map past kNamespaceSlots.
    if (slot != kOtherNamespaceSlot) ns_slots_.emplace(std::string(c.ns), slot);
  }
  shard_.by_namespace[slot].Count(outcome);
  shard_.by_protocol[static_cast<int>(c.protocol)].Count(outcome);
  metrics_.MaybeSample();
}

bool Handler::OverQuota(const Request& request, std::string_view ns, std::uint64_t bytes,
                        Response* out) {
  const std::uint64_t quota = auth_.Policy(ns).max_bytes;
  if (quota == 0 || bytes <= quota) return false;
  // 413, not 507: within its quota a namespace evicts to make room, so the
  // only write it cannot take is one larger than the whole quota — and that
  // will never fit, so the client must not retry (507 says "try later").
  Account(request, Outcome::kRefused);
  Text(out, 413,
       "value larger than this namespace's quota (" + std::to_string(quota) + " bytes)\n");
  return true;
}

void Handler::DashboardJson(Response* out) {
  metrics_.MaybeSample();
  out->status = 200;
  out->content_type = kJson;
  out->headers.emplace_back("Cache-Control", "no-store");
  RenderDashboardJson(config_, metrics_, info_, store_.Stats(), QuotasOf(store_), &out->body);
}

void Handler::StatusPage(Response* out) {
  const Metrics::Totals t = metrics_.Sum();
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::steady_clock::now() - info_.start);
  std::string auth;
  if (config_.open_mode) {
    auth = "open: every namespace anonymous read-write (loopback only)";
  } else {
    auth = std::to_string(config_.tokens.size()) +
           " token(s); namespaces without their own policy: anonymous " +
           std::string(AccessName(config_.default_policy.anonymous));
  }
  std::string html;
  html.reserve(2048);
  html +=
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>memokeyd</title></head><body>\n";
  html += "<h1>memokeyd " + std::string(kVersion) + "</h1>\n<pre>\n";
  // Only server-chosen strings go into the page (no client input): no escaping needed
  // beyond the store description, which comes from the operator's configuration.
  std::string store;
  for (char c : info_.store_description) {
    if (c == '<')
      store += "&lt;";
    else if (c == '>')
      store += "&gt;";
    else if (c == '&')
      store += "&amp;";
    else
      store += c;
  }
  char line[256];
  auto row = [&](const char* name, const std::string& value) {
    std::snprintf(line, sizeof line, "%-14s %s\n", name, value.c_str());
    html += line;
  };
  row("listening", info_.listen);
  row("store", store);
  row("threads", std::to_string(info_.threads));
  row("uptime", std::to_string(uptime.count()) + " s");
  row("auth", auth);
  row("connections", std::to_string(metrics_.open_connections.load()));
  row("requests", std::to_string(t.requests));
  row("hits", std::to_string(t.hits));
  row("misses", std::to_string(t.misses));
  row("puts", std::to_string(t.puts));
  row("bytes in/out", std::to_string(t.bytes_in) + " / " + std::to_string(t.bytes_out));
  row("store errors", std::to_string(t.backend_errors));
  html += "</pre>\n<h2>Use</h2>\n<pre>\n";
  html += "curl -X PUT --data-binary @file http://HOST/v1/NAMESPACE/KEY\n";
  html += "curl http://HOST/v1/NAMESPACE/KEY\n";
  html += "ccache:  CCACHE_REMOTE_STORAGE=http://HOST/ccache\n";
  html += "Gradle:  buildCache { remote(HttpBuildCache) { url = 'http://HOST/gradle/' } }\n";
  html +=
      "</pre>\n<p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a> "
      "&middot; "
      "<a href=\"/readyz\">/readyz</a></p>\n</body></html>\n";
  out->status = 200;
  out->content_type = kHtml;
  out->body = std::move(html);
}

}  // namespace memokeyd
