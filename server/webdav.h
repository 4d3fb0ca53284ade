// server/webdav.h — the WebDAV that sccache speaks, on top of the plain routes.
//
// sccache (0.16, through OpenDAL's webdav service) is pointed at
// SCCACHE_WEBDAV_ENDPOINT=http://host:port/NS and sends, as seen against a
// logging server:
//   on start   GET /NS/.sccache_check (a 404 is fine), PROPFIND /NS/
//              (Depth: 0), PUT /NS/.sccache_check — a 403 there makes it run
//              read-only;
//   a compile  GET /NS/a/b/c/<hash>; after a miss PROPFIND /NS/a/b/c/
//              (Depth: 0), then PUT /NS/a/b/c/<hash>. Were that PROPFIND a
//              404, OpenDAL would MKCOL the missing parents first.
// GET, HEAD, PUT and DELETE are the plain routes as they are (store key
// "NS/a/b/c/<hash>", so write-once, quotas and tokens hold unchanged). Only
// PROPFIND and MKCOL are answered here. Collections are virtual — the store
// has keys, not directories — so every path ending in '/' exists as a
// collection and MKCOL only checks the write right.

#ifndef MEMOKEY_SERVER_WEBDAV_H_
#define MEMOKEY_SERVER_WEBDAV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http_types.h"

namespace memokeyd {

inline bool IsWebDavMethod(Method method) {
  return method == Method::kPropfind || method == Method::kMkcol;
}

// A PROPFIND/MKCOL target: "/NS", "/NS/" or "/NS/p/a/t/h[/]" (also under
// "/v1/"), with the plain routes' key rules. A trailing '/' (or the
// namespace alone) names a collection; anything else names the store key.
struct DavTarget {
  bool valid = false;
  int error_status = 0;    // !valid: 400, 404 or 414
  std::string_view error;  // ... and why
  std::string_view ns;
  std::string_view key;  // "NS/p/a/t/h"; empty for the namespace itself
  bool collection = false;
};
DavTarget ParseDavTarget(std::string_view target);

// The 207 Multi-Status body of a Depth-0 PROPFIND: one response for `href`,
// a collection or an object of `length` bytes. OpenDAL requires
// getlastmodified on every entry (an RFC 1123 date; the store keeps no
// modification times, so the caller passes the current one).
void DavPropfindBody(std::string_view href, bool collection, std::optional<std::uint64_t> length,
                     std::string_view last_modified, std::string* out);

// The current time as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string HttpDateNow();

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_WEBDAV_H_
