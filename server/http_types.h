// server/http_types.h — the request and response as the handler sees them.
//
// Deliberately free of Boost: the parser (request_parser.h) fills a Request,
// the handler (handler.h) turns it into a Response, and the network code
// (server.cc) serializes that. Keeping these plain structs lets the handler be
// unit-tested and fuzzed without sockets or Beast types.
//
// Both structs are reused from one request to the next on a connection:
// clear() keeps the strings' capacity, so a keep-alive connection serving
// same-sized values allocates nothing per request.

#ifndef MEMOKEY_SERVER_HTTP_TYPES_H_
#define MEMOKEY_SERVER_HTTP_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memokeyd {

// PROPFIND and MKCOL: the WebDAV that sccache speaks (webdav.h).
enum class Method : std::uint8_t { kGet, kHead, kPut, kDelete, kPost, kPropfind, kMkcol, kOther };
inline constexpr int kMethodCount = 8;
std::string_view MethodName(Method method);

struct Request {
  Method method = Method::kOther;
  std::string method_text;    // as received (for logs of unknown methods); at most 16 chars
  std::string target;         // request-target exactly as received, never decoded
  int version = 11;           // 10 or 11
  std::string authorization;  // Authorization header value (never logged)
  std::string ttl;            // X-Memokey-TTL header value, empty when absent
  // Leases (POST .../lease and .../release): X-Memokey-Lease (the token),
  // X-Memokey-Lease-TTL, X-Memokey-Lease-Wait, X-Memokey-Lease-Check.
  std::string lease_token;
  std::string lease_ttl;
  std::string lease_wait;
  std::string lease_check;
  // X-Memokey-Want-TTL (any value): a GET's answer carries the entry's
  // remaining time to live in X-Memokey-TTL ("<n>ms"; absent: no expiry).
  std::string want_ttl;
  // Turborepo's artifact metadata (x-artifact-duration, x-artifact-tag),
  // stored with the artifact and sent back with it (buildcache.h).
  std::string artifact_duration;
  std::string artifact_tag;
  bool expect_continue = false;
  bool keep_alive = true;
  // Set by the parser when a header that must appear at most once came twice
  // (Authorization, the X-Memokey-* ones): such requests are refused with 400.
  bool duplicate_header = false;
  std::optional<std::uint64_t> content_length;  // none for chunked or no body
  bool chunked = false;
  std::string body;

  void clear() {
    method = Method::kOther;
    method_text.clear();
    target.clear();
    version = 11;
    authorization.clear();
    ttl.clear();
    lease_token.clear();
    lease_ttl.clear();
    lease_wait.clear();
    lease_check.clear();
    want_ttl.clear();
    artifact_duration.clear();
    artifact_tag.clear();
    expect_continue = false;
    keep_alive = true;
    duplicate_header = false;
    content_length.reset();
    chunked = false;
    body.clear();
  }
  // A body follows the header (decides whether Admit runs before reading it).
  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
};

struct Response {
  int status = 200;
  std::string_view content_type;  // static strings only; empty: no Content-Type
  std::string body;
  // HEAD: Content-Length is body.size() but the body is not sent.
  bool omit_body = false;
  // Send "Connection: close" and close the connection after this response.
  bool close = false;
  // Further headers, e.g. WWW-Authenticate, Allow, Retry-After. Rare, so a
  // vector (which allocates only when used) is fine.
  std::vector<std::pair<std::string_view, std::string>> headers;

  void clear() {
    status = 200;
    content_type = {};
    body.clear();
    omit_body = false;
    close = false;
    headers.clear();
  }
};

inline constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

// A plain-text answer (error bodies, short notices).
inline void Text(Response* out, int status, std::string_view text) {
  out->status = status;
  out->content_type = kTextPlain;
  out->body.assign(text);
}

std::string_view ReasonPhrase(int status);

// Appends the status line and header block of `response` (ending in the empty
// line) to *out. `date` is a preformatted IMF-fixdate ("Sun, 06 Nov 1994
// 08:49:37 GMT"); keep_alive_10 adds "Connection: keep-alive" for HTTP/1.0
// clients that asked for it.
void SerializeHead(const Response& response, std::string_view date, bool keep_alive_10,
                   std::string* out);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_HTTP_TYPES_H_
