// Unit tests of memokeyd's request handling, without sockets: the parser
// (bytes -> Request), routing and path validation, auth, the API's answers,
// configuration parsing, and response serialization.

#include "handler.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "auth.h"
#include "config.h"
#include "http_types.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "metrics.h"
#include "request_parser.h"

namespace memokeyd {
namespace {

constexpr std::string_view kWriter = "writer-secret-1";
constexpr std::string_view kReader = "reader-secret-1";
constexpr std::string_view kAll = "all-namespaces-1";

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A handler over a memory store with three tokens and two namespace policies.
class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Token writer;
    ASSERT_TRUE(ParseTokenSpec("rw:team,ccache:" + std::string(kWriter), "writer", &writer).ok());
    Token reader;
    ASSERT_TRUE(ParseTokenSpec("read:team:" + std::string(kReader), "reader", &reader).ok());
    Token all;
    ASSERT_TRUE(ParseTokenSpec("rw:*:" + std::string(kAll), "all", &all).ok());
    config_.tokens = {writer, reader, all};
    config_.namespaces["public"].anonymous = Access::kRead;
    NamespacePolicy& short_ttl = config_.namespaces["short"];
    short_ttl.default_ttl = Millis{5000};
    short_ttl.max_ttl = Millis{60'000};
    ASSERT_TRUE(Finalize(&config_).ok());
    ASSERT_FALSE(config_.open_mode);
    ASSERT_TRUE(memokey::OpenStore("memory://?max_bytes=16M", &store_).ok());
    info_.listen = "127.0.0.1:0";
    info_.store_description = store_->Describe();
    info_.draining = &draining_;
    handler_ = std::make_unique<Handler>(config_, *store_, metrics_, metrics_.shard(0), info_);
  }

  Response Call(Method method, std::string target, std::string body = "",
                std::string authorization = "", std::string ttl = "") {
    Request request;
    request.method = method;
    request.target = std::move(target);
    request.body = std::move(body);
    request.authorization = std::move(authorization);
    request.ttl = std::move(ttl);
    Response response;
    handler_->Handle(request, &response);
    return response;
  }
  static std::string Bearer(std::string_view token) { return "Bearer " + std::string(token); }

  Config config_;
  std::unique_ptr<memokey::Store> store_;
  Metrics metrics_{1};
  ServerInfo info_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<Handler> handler_;
};

TEST_F(HandlerTest, PutGetHeadDeleteRoundTrip) {
  EXPECT_EQ(Call(Method::kGet, "/v1/team/a/b", "", Bearer(kReader)).status, 404);
  EXPECT_EQ(Call(Method::kPut, "/v1/team/a/b", "value", Bearer(kWriter)).status, 201);
  Response got = Call(Method::kGet, "/v1/team/a/b", "", Bearer(kReader));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "value");
  EXPECT_EQ(got.content_type, "application/octet-stream");
  Response head = Call(Method::kHead, "/v1/team/a/b", "", Bearer(kReader));
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.omit_body);
  EXPECT_EQ(head.body.size(), 5u);  // Content-Length of the value
  EXPECT_EQ(Call(Method::kDelete, "/v1/team/a/b", "", Bearer(kWriter)).status, 204);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/a/b", "", Bearer(kReader)).status, 404);
  const Metrics::Totals t = metrics_.Sum();
  EXPECT_EQ(t.hits, 2u);
  EXPECT_EQ(t.misses, 2u);
  EXPECT_EQ(t.puts, 1u);
  EXPECT_EQ(t.deletes, 1u);
  EXPECT_EQ(t.bytes_in, 5u);
}

TEST_F(HandlerTest, V1PrefixIsOptionalAndNamesTheSameKey) {
  EXPECT_EQ(Call(Method::kPut, "/ccache/ab/cdef", "x", Bearer(kWriter)).status, 201);
  EXPECT_EQ(Call(Method::kGet, "/v1/ccache/ab/cdef", "", Bearer(kWriter)).body, "x");
  std::string direct;
  EXPECT_TRUE(store_->Get("ccache/ab/cdef", &direct).ok());
  EXPECT_EQ(direct, "x");
}

TEST_F(HandlerTest, NamespacesNeverSeeEachOthersEntries) {
  EXPECT_EQ(Call(Method::kPut, "/v1/team/k", "team", Bearer(kAll)).status, 201);
  EXPECT_EQ(Call(Method::kPut, "/v1/ccache/k", "ccache", Bearer(kAll)).status, 201);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", Bearer(kAll)).body, "team");
  EXPECT_EQ(Call(Method::kGet, "/v1/ccache/k", "", Bearer(kAll)).body, "ccache");
  EXPECT_EQ(Call(Method::kGet, "/v1/other/k", "", Bearer(kAll)).status, 404);
}

TEST_F(HandlerTest, AuthMatrix) {
  // No credentials where some are needed: 401 with a challenge for both schemes.
  Response r = Call(Method::kGet, "/v1/team/k");
  EXPECT_EQ(r.status, 401);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "WWW-Authenticate");
  EXPECT_NE(r.headers[0].second.find("Basic"), std::string::npos);
  EXPECT_NE(r.headers[0].second.find("Bearer"), std::string::npos);
  EXPECT_EQ(Call(Method::kPut, "/v1/team/k", "v").status, 401);
  // A token that does not exist: 401, even where anonymous reading is allowed.
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", Bearer("no-such-token")).status, 401);
  EXPECT_EQ(Call(Method::kGet, "/v1/public/k", "", Bearer("no-such-token")).status, 401);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", "Bearer").status, 401);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", "Digest abc").status, 401);
  // Read-only token writing: 403.
  EXPECT_EQ(Call(Method::kPut, "/v1/team/k", "v", Bearer(kReader)).status, 403);
  EXPECT_EQ(Call(Method::kDelete, "/v1/team/k", "", Bearer(kReader)).status, 403);
  // A token for another namespace: 403.
  EXPECT_EQ(Call(Method::kGet, "/v1/other/k", "", Bearer(kWriter)).status, 403);
  EXPECT_EQ(Call(Method::kGet, "/v1/ccache/k", "", Bearer(kReader)).status, 403);
  // Basic: the password is the token, the user name does not matter.
  EXPECT_EQ(
      Call(Method::kPut, "/v1/team/k", "v", "Basic " + Base64("anyone:" + std::string(kWriter)))
          .status,
      201);
  EXPECT_EQ(
      Call(Method::kGet, "/v1/team/k", "", "basic " + Base64(":" + std::string(kReader))).status,
      200);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", "Basic " + Base64(std::string(kReader))).status,
            401);
  EXPECT_EQ(Call(Method::kGet, "/v1/team/k", "", "Basic !!!").status, 401);
  // Anonymous read where configured, but not write.
  EXPECT_EQ(Call(Method::kPut, "/v1/public/k", "pub", Bearer(kAll)).status, 201);
  EXPECT_EQ(Call(Method::kGet, "/v1/public/k").status, 200);
  EXPECT_EQ(Call(Method::kHead, "/v1/public/k").status, 200);
  EXPECT_EQ(Call(Method::kPut, "/v1/public/k", "x").status, 401);
  EXPECT_EQ(Call(Method::kPut, "/v1/public/k", "x", Bearer(kReader)).status, 403);
  // The wildcard token reaches every namespace.
  EXPECT_EQ(Call(Method::kPut, "/v1/anything/k", "x", Bearer(kAll)).status, 201);
  const Metrics::Totals t = metrics_.Sum();
  EXPECT_GT(t.auth_failures, 0u);
}

TEST_F(HandlerTest, OpenModeOnlyOnLoopback) {
  Config open;
  ASSERT_TRUE(Finalize(&open).ok());
  EXPECT_TRUE(open.open_mode);
  EXPECT_EQ(open.default_policy.anonymous, Access::kReadWrite);
  Config exposed;
  exposed.listen = "0.0.0.0:8080";
  EXPECT_FALSE(Finalize(&exposed).ok());
  Config explicit_open;
  explicit_open.listen = "0.0.0.0:8080";
  explicit_open.anonymous = Access::kReadWrite;
  ASSERT_TRUE(Finalize(&explicit_open).ok());
  EXPECT_FALSE(explicit_open.open_mode);
  EXPECT_EQ(explicit_open.default_policy.anonymous, Access::kReadWrite);
}

TEST_F(HandlerTest, DuplicateAuthorizationIsRefused) {
  Request request;
  request.method = Method::kGet;
  request.target = "/v1/team/k";
  request.authorization = Bearer(kReader);
  request.duplicate_header = true;
  Response response;
  handler_->Handle(request, &response);
  EXPECT_EQ(response.status, 400);
}

TEST_F(HandlerTest, TtlHeaderAndNamespaceLimits) {
  EXPECT_EQ(Call(Method::kPut, "/v1/team/t", "v", Bearer(kWriter), "soon").status, 400);
  EXPECT_EQ(Call(Method::kPut, "/v1/team/t", "v", Bearer(kWriter), "-5").status, 400);
  EXPECT_EQ(Call(Method::kPut, "/v1/team/t", "v", Bearer(kWriter), "100ms").status, 201);
  std::string value;
  std::chrono::milliseconds left{};
  ASSERT_TRUE(store_->GetWithTtl("team/t", &value, &left).ok());
  EXPECT_GT(left.count(), 0);
  EXPECT_LE(left.count(), 100);
  // "short": default 5 s, max 60 s.
  EXPECT_EQ(Call(Method::kPut, "/v1/short/a", "v", Bearer(kAll)).status, 201);
  ASSERT_TRUE(store_->GetWithTtl("short/a", &value, &left).ok());
  EXPECT_GT(left.count(), 4000);
  EXPECT_LE(left.count(), 5000);
  EXPECT_EQ(Call(Method::kPut, "/v1/short/b", "v", Bearer(kAll), "1d").status, 201);
  ASSERT_TRUE(store_->GetWithTtl("short/b", &value, &left).ok());
  EXPECT_LE(left.count(), 60'000);
  EXPECT_GT(left.count(), 50'000);
  EXPECT_EQ(Call(Method::kPut, "/v1/short/c", "v", Bearer(kAll), "0").status, 201);
  ASSERT_TRUE(store_->GetWithTtl("short/c", &value, &left).ok());
  EXPECT_LE(left.count(), 60'000);
  EXPECT_GT(left.count(), 0);
}

TEST_F(HandlerTest, FixedRoutes) {
  Response health = Call(Method::kGet, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(Call(Method::kGet, "/healthz?probe=1").status, 200);
  EXPECT_EQ(Call(Method::kGet, "/readyz").status, 200);
  draining_ = true;
  EXPECT_EQ(Call(Method::kGet, "/readyz").status, 503);
  draining_ = false;
  Call(Method::kGet, "/v1/public/nothing");
  Response metrics = Call(Method::kGet, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("memokeyd_cache_misses_total 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("memokeyd_request_duration_seconds_bucket{le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("memokeyd_open_connections"), std::string::npos);
  Response page = Call(Method::kGet, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("memokeyd"), std::string::npos);
  EXPECT_EQ(page.body.find(std::string(kWriter)), std::string::npos);
  EXPECT_EQ(Call(Method::kHead, "/healthz").omit_body, true);
  Response put = Call(Method::kPut, "/healthz", "x");
  EXPECT_EQ(put.status, 405);
  ASSERT_EQ(put.headers.size(), 1u);
  EXPECT_EQ(put.headers[0].first, "Allow");
  EXPECT_EQ(Call(Method::kPost, "/v1/team/k", "", Bearer(kWriter)).status, 405);
  EXPECT_EQ(Call(Method::kOther, "/v1/team/k", "", Bearer(kWriter)).status, 405);
}

// POST /v1/{ns}/{key}/lease and /release, through Handle (the server runs
// the same PrepareLease/FinishLease halves around a pool thread).
class LeaseHandlerTest : public HandlerTest {
 protected:
  Response Lease(std::string target, std::string_view token, std::string ttl = "",
                 std::string wait = "", std::string check = "", std::string lease = "") {
    Request request;
    request.method = Method::kPost;
    request.target = std::move(target);
    request.authorization = Bearer(token);
    request.lease_ttl = std::move(ttl);
    request.lease_wait = std::move(wait);
    request.lease_check = std::move(check);
    request.lease_token = std::move(lease);
    Response response;
    handler_->Handle(request, &response);
    return response;
  }
  static std::string HeaderOf(const Response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }
};

TEST_F(LeaseHandlerTest, GrantBusyReleaseAndValue) {
  Response granted = Lease("/v1/team/a/b/lease", kWriter);
  ASSERT_EQ(granted.status, 201) << granted.body;
  const std::string token = HeaderOf(granted, "X-Memokey-Lease");
  ASSERT_EQ(token.size(), 32u);
  // Held: a second client that does not wait hears 409.
  EXPECT_EQ(Lease("/v1/team/a/b/lease", kAll).status, 409);
  // Only the token releases it (a wrong one is answered 204 and changes nothing).
  EXPECT_EQ(Lease("/v1/team/a/b/release", kWriter, "", "", "", "wrong").status, 204);
  EXPECT_EQ(Lease("/v1/team/a/b/lease", kAll).status, 409);
  // The holder stores the value and releases; the next caller gets the value.
  EXPECT_EQ(Call(Method::kPut, "/v1/team/a/b", "result", Bearer(kWriter), "60").status, 201);
  EXPECT_EQ(Lease("/v1/team/a/b/release", kWriter, "", "", "", token).status, 204);
  Response value = Lease("/v1/team/a/b/lease", kAll);
  EXPECT_EQ(value.status, 200);
  EXPECT_EQ(value.body, "result");
  EXPECT_FALSE(HeaderOf(value, "X-Memokey-TTL").empty());
  // check=0: the lease only (a client refreshing a stale value).
  Response refresh = Lease("/v1/team/a/b/lease", kAll, "", "", "0");
  EXPECT_EQ(refresh.status, 201);
  std::string rendered;
  metrics_.Render(store_->Stats(), info_.start, &rendered);
  EXPECT_NE(rendered.find("memokeyd_leases_total{outcome=\"granted\"} 2"), std::string::npos)
      << rendered;
  EXPECT_NE(rendered.find("memokeyd_leases_total{outcome=\"busy\"} 2"), std::string::npos);
  EXPECT_NE(rendered.find("memokeyd_leases_total{outcome=\"value\"} 1"), std::string::npos);
}

TEST_F(LeaseHandlerTest, AnExpiredLeaseIsGrantedAgain) {
  ASSERT_EQ(Lease("/v1/team/k/lease", kWriter, "50ms").status, 201);
  // Waits out the holder's 50 ms (bounded by the 5 s asked).
  Response next = Lease("/v1/team/k/lease", kAll, "", "5s");
  EXPECT_EQ(next.status, 201);
}

TEST_F(LeaseHandlerTest, BadRequestsAndRights) {
  EXPECT_EQ(Lease("/v1/team/k/lease", kReader).status, 403);   // read-only token
  EXPECT_EQ(Lease("/v1/other/k/lease", kWriter).status, 403);  // another namespace
  Request anonymous;
  anonymous.method = Method::kPost;
  anonymous.target = "/v1/team/k/lease";
  Response r;
  handler_->Handle(anonymous, &r);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Lease("/v1/team/k/lease", kWriter, "soon").status, 400);
  EXPECT_EQ(Lease("/v1/team/k/lease", kWriter, "0").status, 400);
  EXPECT_EQ(Lease("/v1/team/k/lease", kWriter, "", "-1").status, 400);
  EXPECT_EQ(Lease("/v1/team/k/lease", kWriter, "", "", "maybe").status, 400);
  EXPECT_EQ(Lease("/v1/team/k/release", kWriter).status, 400);  // no token
  EXPECT_EQ(Lease("/team/k/lease", kWriter).status, 404);       // leases are under /v1
  EXPECT_EQ(Lease("/v1/team/lease", kWriter).status, 400);      // no key before /lease
  EXPECT_EQ(Lease("/v1/team/../k/lease", kWriter).status, 400);
  EXPECT_EQ(Lease("/v1/team/k/lease?x=1", kWriter).status, 405);
}

// sccache's WebDAV (webdav.h): collections are virtual, objects are the
// plain routes' keys.
TEST_F(HandlerTest, WebDavPropfindAndMkcol) {
  const std::string propfind =
      "<?xml version=\"1.0\" encoding=\"utf-8\" ?><D:propfind "
      "xmlns:D=\"DAV:\"><D:allprop/></D:propfind>";
  Response root = Call(Method::kPropfind, "/team/", propfind, Bearer(kReader));
  EXPECT_EQ(root.status, 207);
  EXPECT_NE(root.body.find("<D:href>/team/</D:href>"), std::string::npos) << root.body;
  EXPECT_NE(root.body.find("<D:collection/>"), std::string::npos);
  EXPECT_NE(root.body.find("<D:getlastmodified>"), std::string::npos);
  EXPECT_EQ(Call(Method::kPropfind, "/team/d/f/0/", propfind, Bearer(kReader)).status, 207);
  EXPECT_EQ(Call(Method::kPropfind, "/team", "", Bearer(kReader)).status, 207);

  EXPECT_EQ(Call(Method::kPropfind, "/team/d/f/0/obj", "", Bearer(kReader)).status, 404);
  EXPECT_EQ(Call(Method::kPut, "/team/d/f/0/obj", "12345", Bearer(kWriter)).status, 201);
  Response object = Call(Method::kPropfind, "/team/d/f/0/obj", "", Bearer(kReader));
  EXPECT_EQ(object.status, 207);
  EXPECT_NE(object.body.find("<D:getcontentlength>5</D:getcontentlength>"), std::string::npos);
  EXPECT_EQ(object.body.find("<D:collection/>"), std::string::npos);

  EXPECT_EQ(Call(Method::kMkcol, "/team/d/f/1/", "", Bearer(kWriter)).status, 201);
  EXPECT_EQ(Call(Method::kMkcol, "/team/d/f/1/", "", Bearer(kReader)).status, 403);
  EXPECT_EQ(Call(Method::kPropfind, "/team/", "").status, 401);
  EXPECT_EQ(Call(Method::kPropfind, "/team/../x/", "", Bearer(kReader)).status, 400);
  EXPECT_EQ(Call(Method::kPropfind, "/", "", Bearer(kReader)).status, 400);
  EXPECT_EQ(Call(Method::kMkcol, "/metrics/", "", Bearer(kAll)).status, 400);
}

TEST_F(HandlerTest, WriteOnceTakesTheSameBytesAgain) {
  config_.write_once = true;
  EXPECT_EQ(Call(Method::kPut, "/team/.sccache_check", "Hello, World!", Bearer(kWriter)).status,
            201);
  EXPECT_EQ(Call(Method::kPut, "/team/.sccache_check", "Hello, World!", Bearer(kWriter)).status,
            201);
  EXPECT_EQ(Call(Method::kPut, "/team/.sccache_check", "Goodbye", Bearer(kWriter)).status, 409);
  EXPECT_EQ(Call(Method::kGet, "/team/.sccache_check", "", Bearer(kReader)).body, "Hello, World!");
}

TEST(ParseTargetTest, ValidTargets) {
  Target t = ParseTarget("/v1/ns/key");
  EXPECT_EQ(t.route, Route::kObject);
  EXPECT_EQ(t.ns, "ns");
  EXPECT_EQ(t.key, "ns/key");
  t = ParseTarget("/ccache/ab/0123456789abcdef");
  EXPECT_EQ(t.route, Route::kObject);
  EXPECT_EQ(t.ns, "ccache");
  EXPECT_EQ(t.key, "ccache/ab/0123456789abcdef");
  t = ParseTarget("/gradle/cache/0123abcd");  // Gradle: url 'http://host/gradle/cache/'
  EXPECT_EQ(t.key, "gradle/cache/0123abcd");
  t = ParseTarget("/v1/a-b_c.d~e/x.y-z_~");
  EXPECT_EQ(t.route, Route::kObject);
  EXPECT_EQ(ParseTarget("/").route, Route::kStatus);
  EXPECT_EQ(ParseTarget("/metrics").route, Route::kMetrics);
  EXPECT_EQ(ParseTarget("/readyz").route, Route::kReadyz);
  EXPECT_EQ(ParseTarget("/healthz").route, Route::kHealthz);
}

TEST(ParseTargetTest, RefusesTraversalAndOddCharacters) {
  for (const char* bad : {"/v1/ns/../x",
                          "/v1/ns/./x",
                          "/v1/ns/a/../../x",
                          "/v1/../ns/x",
                          "/v1/ns/%2e%2e/x",
                          "/v1/ns/%2E%2E",
                          "/v1/ns/a%2fb",
                          "/v1/ns//x",
                          "/v1/ns/x/",
                          "/v1/ns/",
                          "/v1/ns",
                          "/v1/ns/x?y=1",
                          "/v1/ns/x#f",
                          "/v1/ns/a b",
                          "/v1/ns/a\\b",
                          "/v1/ns/caf\xc3\xa9",
                          "/v1/v1/x",
                          "/v1/metrics/x",
                          "/v1/./x",
                          "/v1/../x",
                          "//x",
                          "/../etc/passwd",
                          "/v1/ns/..",
                          "/v1/ns/.",
                          "x",
                          "*",
                          "http://evil/v1/ns/x",
                          "/v1/ns/a\x01",
                          "/v1/ns/a:b",
                          "/v1/ns/a@b",
                          "/v1/ns/a;b"}) {
    const Target t = ParseTarget(bad);
    EXPECT_EQ(t.route, Route::kInvalid) << bad;
    EXPECT_EQ(t.error_status, 400) << bad;
  }
  EXPECT_EQ(ParseTarget("/favicon.ico").error_status, 404);
  EXPECT_EQ(ParseTarget("/v1/ns/" + std::string(600, 'a')).error_status, 414);
  EXPECT_EQ(ParseTarget("/v1/ns/" + std::string(2000, 'a')).error_status, 414);
  // The longest key that fits the store.
  const std::string longest = "/v1/ns/" + std::string(memokey::kMaxStoreKeyBytes - 3, 'a');
  EXPECT_EQ(ParseTarget(longest).route, Route::kObject);
  EXPECT_EQ(ParseTarget(longest + "a").error_status, 414);
  EXPECT_EQ(ParseTarget("/v1/" + std::string(65, 'n') + "/k").error_status, 400);
}

TEST(ParserTest, ParsesAComplete11Request) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  const std::string wire =
      "PUT /v1/ns/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nX-Memokey-TTL: 60\r\n"
      "Content-Length: 5\r\nExpect: 100-continue\r\n\r\nhelloGET /next";
  EXPECT_EQ(ParseRequest(wire, 1024, 4096, &r, &status, &consumed), ParseOutcome::kComplete);
  EXPECT_EQ(r.method, Method::kPut);
  EXPECT_EQ(r.target, "/v1/ns/k");
  EXPECT_EQ(r.authorization, "Bearer abc");
  EXPECT_EQ(r.ttl, "60");
  EXPECT_TRUE(r.expect_continue);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(consumed, wire.size() - std::string("GET /next").size());
}

TEST(ParserTest, ChunkedBodies) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  const std::string wire =
      "PUT /v1/ns/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  EXPECT_EQ(ParseRequest(wire, 1024, 4096, &r, &status, &consumed), ParseOutcome::kComplete);
  EXPECT_EQ(r.body, "abcde");
  EXPECT_TRUE(r.chunked);
  // A chunked body over the limit is caught as it arrives.
  EXPECT_EQ(ParseRequest(wire, 4, 4096, &r, &status, &consumed), ParseOutcome::kError);
  EXPECT_EQ(status, 413);
}

TEST(ParserTest, LimitsAndMalformedInput) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  EXPECT_EQ(ParseRequest("PUT /v1/ns/k HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 1024, 4096, &r,
                         &status, &consumed),
            ParseOutcome::kError);
  EXPECT_EQ(status, 413);
  const std::string big_header =
      "GET /v1/ns/k HTTP/1.1\r\nX-Pad: " + std::string(5000, 'a') + "\r\n\r\n";
  EXPECT_EQ(ParseRequest(big_header, 1024, 4096, &r, &status, &consumed), ParseOutcome::kError);
  EXPECT_EQ(status, 431);
  for (const char* bad :
       {"GARBAGE\r\n\r\n", "GET /x HTTP/9.9\r\n\r\n", "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /x HTTP/1.1\r\nHost: a\r\n\x01\r\n\r\n"}) {
    EXPECT_EQ(ParseRequest(bad, 1024, 4096, &r, &status, &consumed), ParseOutcome::kError) << bad;
    EXPECT_EQ(status, 400) << bad;
  }
  EXPECT_EQ(
      ParseRequest("GET /v1/ns/k HTTP/1.1\r\nHost: a\r\n", 1024, 4096, &r, &status, &consumed),
      ParseOutcome::kIncomplete);
}

TEST(ParserTest, DuplicateCredentialHeadersAreFlagged) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  EXPECT_EQ(
      ParseRequest(
          "GET /v1/ns/k HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
          1024, 4096, &r, &status, &consumed),
      ParseOutcome::kComplete);
  EXPECT_TRUE(r.duplicate_header);
}

TEST(ParserTest, Http10KeepAlive) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  ASSERT_EQ(ParseRequest("GET / HTTP/1.0\r\n\r\n", 1024, 4096, &r, &status, &consumed),
            ParseOutcome::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1024, 4096, &r,
                         &status, &consumed),
            ParseOutcome::kComplete);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.version, 10);
  ASSERT_EQ(ParseRequest("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 1024, 4096, &r, &status,
                         &consumed),
            ParseOutcome::kComplete);
  EXPECT_FALSE(r.keep_alive);
}

TEST(ParserTest, WebDavMethods) {
  Request r;
  int status = 0;
  std::size_t consumed = 0;
  ASSERT_EQ(ParseRequest("PROPFIND /ns/ HTTP/1.1\r\nDepth: 0\r\nContent-Length: 2\r\n\r\n<>", 1024,
                         4096, &r, &status, &consumed),
            ParseOutcome::kComplete);
  EXPECT_EQ(r.method, Method::kPropfind);
  EXPECT_EQ(r.body, "<>");
  ASSERT_EQ(ParseRequest("MKCOL /ns/a/ HTTP/1.1\r\n\r\n", 1024, 4096, &r, &status, &consumed),
            ParseOutcome::kComplete);
  EXPECT_EQ(r.method, Method::kMkcol);
  EXPECT_EQ(MethodName(Method::kMkcol), "MKCOL");
}

TEST(SerializeTest, HeadBlock) {
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.body = "abc";
  std::string out;
  SerializeHead(r, "Sun, 06 Nov 1994 08:49:37 GMT", false, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nServer: memokeyd\r\nDate: Sun, 06 Nov 1994 08:49:37 "
            "GMT\r\nContent-Length: 3\r\n"
            "Content-Type: application/octet-stream\r\n\r\n");
  Response no_content;
  no_content.status = 204;
  no_content.close = true;
  out.clear();
  SerializeHead(no_content, "", false, &out);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nServer: memokeyd\r\nConnection: close\r\n\r\n");
}

TEST(ConfigTest, SizesAndDurations) {
  EXPECT_EQ(ParseSize("64MiB"), std::uint64_t{64} << 20);
  EXPECT_EQ(ParseSize("64M"), std::uint64_t{64} << 20);
  EXPECT_EQ(ParseSize("1kb"), 1000u);
  EXPECT_EQ(ParseSize("123"), 123u);
  EXPECT_FALSE(ParseSize("12Q").has_value());
  EXPECT_FALSE(ParseSize("").has_value());
  EXPECT_FALSE(ParseSize("99999999999999999999T").has_value());
  EXPECT_EQ(ParseDuration("250ms"), Millis{250});
  EXPECT_EQ(ParseDuration("10"), Millis{10'000});
  EXPECT_EQ(ParseDuration("2h"), Millis{7'200'000});
  EXPECT_EQ(ParseDuration("7d"), Millis{604'800'000});
  EXPECT_FALSE(ParseDuration("-1").has_value());
  EXPECT_FALSE(ParseDuration("1.5s").has_value());
  EXPECT_FALSE(ParseDuration("s").has_value());
}

TEST(ConfigTest, TokenSpecs) {
  Token t;
  ASSERT_TRUE(ParseTokenSpec("rw:a,b:secret:with:colons", "x", &t).ok());
  EXPECT_EQ(t.access, Access::kReadWrite);
  EXPECT_EQ(t.namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.sha256, Sha256("secret:with:colons"));
  EXPECT_FALSE(ParseTokenSpec("rw:a:short", "x", &t).ok());
  EXPECT_FALSE(ParseTokenSpec("admin:a:longenough", "x", &t).ok());
  EXPECT_FALSE(ParseTokenSpec("rw:../x:longenough", "x", &t).ok());
  EXPECT_FALSE(ParseTokenSpec("rw::longenough", "x", &t).ok());
  EXPECT_FALSE(ParseTokenSpec("nocolons", "x", &t).ok());
}

TEST(ConfigTest, StoreUrlAdjustments) {
  Config c;
  EXPECT_EQ(EffectiveStoreUrl(c, 4), "memory://?max_bytes=512M");
  c.store = "redis://127.0.0.1:6379";
  EXPECT_EQ(EffectiveStoreUrl(c, 8), "redis://127.0.0.1:6379?strict=1&pool=8&prefix=memokeyd:");
  c.store = "redis://h:1/2?pool=3&strict=0";
  EXPECT_EQ(EffectiveStoreUrl(c, 8), "redis://h:1/2?pool=3&strict=0&prefix=memokeyd:");
  c.store = "tiered:memory://?max_bytes=1M|redis://h:1";
  EXPECT_EQ(EffectiveStoreUrl(c, 2),
            "tiered:memory://?max_bytes=1M|redis://h:1?strict=1&pool=2&prefix=memokeyd:");
  c.store = "redis+cluster://a:7000,b:7001";
  EXPECT_EQ(EffectiveStoreUrl(c, 4),
            "redis+cluster://a:7000,b:7001?strict=1&pool=4&prefix=memokeyd:");
  EXPECT_TRUE(StoreIsRemote(c));
  c.store.clear();
  c.data_dir = "/var/lib/memokey";
  EXPECT_EQ(EffectiveStoreUrl(c, 2),
            "tiered:memory://?max_bytes=256M|disk:///var/lib/memokey?max_bytes=4G");
}

TEST(ConfigTest, ListenAddresses) {
  std::string host;
  std::uint16_t port = 0;
  ASSERT_TRUE(ParseListen("127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(ParseListen("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  ASSERT_TRUE(ParseListen(":9000", &host, &port).ok());
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_FALSE(ParseListen("localhost", &host, &port).ok());
  EXPECT_FALSE(ParseListen("h:99999", &host, &port).ok());
  EXPECT_FALSE(ParseListen("::1:80", &host, &port).ok());
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/memokeyd-config-XXXXXX";
    const int fd = mkstemp(name);
    path_ = name;
    FILE* f = fdopen(fd, "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigTest, TomlFile) {
  TempFile secret("file-secret-123\n");
  TempFile file(R"(
listen = "0.0.0.0:9090"
threads = 3
store = "memory://?max_bytes=1G"
log_level = "debug"
anonymous = "none"

[limits]
max_body = "8MiB"
max_header = 8192
header_timeout = "5s"
drain_timeout = 3

[namespaces.ccache]
anonymous = "read"
default_ttl = "7d"
max_ttl = "30d"

[[tokens]]
name = "ci"
token = "ci-secret-123"
access = "read-write"
namespaces = ["ccache", "gradle"]

[[tokens]]
name = "dev"
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
access = "read"
namespaces = ["*"]

[[tokens]]
name = "filed"
token_file = ")" +
                secret.path() + R"("
access = "read"
namespaces = ["docs"]
)");
  Config c;
  ASSERT_TRUE(LoadConfigFile(file.path(), &c).ok()) << LoadConfigFile(file.path(), &c).ToString();
  ASSERT_TRUE(Finalize(&c).ok());
  EXPECT_EQ(c.listen, "0.0.0.0:9090");
  EXPECT_EQ(c.threads, 3u);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_EQ(c.limits.max_body, std::uint64_t{8} << 20);
  EXPECT_EQ(c.limits.max_header, 8192u);
  EXPECT_EQ(c.limits.header_timeout, Millis{5000});
  EXPECT_EQ(c.limits.drain_timeout, Millis{3000});
  ASSERT_EQ(c.namespaces.count("ccache"), 1u);
  EXPECT_EQ(c.namespaces["ccache"].anonymous, Access::kRead);
  EXPECT_EQ(c.namespaces["ccache"].default_ttl, Millis{7 * 86'400'000LL});
  ASSERT_EQ(c.tokens.size(), 3u);
  EXPECT_EQ(c.tokens[0].sha256, Sha256("ci-secret-123"));
  EXPECT_EQ(c.tokens[1].sha256[31], 1);
  EXPECT_EQ(c.tokens[2].sha256, Sha256("file-secret-123"));
  EXPECT_FALSE(c.open_mode);
  EXPECT_EQ(c.default_policy.anonymous, Access::kNone);
}

TEST(ConfigTest, TomlErrorsNameTheKey) {
  struct Case {
    const char* text;
    const char* mentions;
  };
  for (const Case& c :
       {Case{"listen = 5", "listen"}, Case{"lisen = \"x\"", "lisen"},
        Case{"[limits]\nmax_body = \"lots\"", "max_body"},
        Case{"[namespaces.\"../x\"]\nanonymous = \"read\"", "namespaces"},
        Case{"[[tokens]]\ntoken = \"abcdefgh12\"\naccess = \"root\"\nnamespaces = [\"a\"]",
             "access"},
        Case{"[[tokens]]\naccess = \"read\"\nnamespaces = [\"a\"]", "exactly one"},
        Case{"this is not toml", "line"}}) {
    TempFile file(c.text);
    Config config;
    const memokey::Status s = LoadConfigFile(file.path(), &config);
    EXPECT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.mentions), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace memokeyd
