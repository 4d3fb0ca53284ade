// server/webdav.cc — see webdav.h.

#include "webdav.h"

#include <ctime>

#include "config.h"   // ValidNamespaceName
#include "handler.h"  // ParseTarget, Handler

namespace memokeyd {

namespace {

constexpr std::string_view kXml = "application/xml; charset=utf-8";

DavTarget DavInvalid(int status, std::string_view why) {
  DavTarget t;
  t.error_status = status;
  t.error = why;
  return t;
}

}  // namespace

DavTarget ParseDavTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return DavInvalid(400, "the request-target must be an absolute path (origin-form)");
  }
  if (target.size() > kMaxTargetBytes) return DavInvalid(414, "request-target too long");
  std::string_view path = target;
  bool collection = false;
  if (path.size() > 1 && path.back() == '/') {
    path.remove_suffix(1);
    collection = true;
  }
  const std::string_view rest = path.starts_with("/v1/") ? path.substr(4) : path.substr(1);
  if (rest.find('/') == std::string_view::npos) {
    // The namespace itself: the root collection sccache's endpoint names.
    if (!ValidNamespaceName(rest)) return DavInvalid(400, "invalid namespace");
    DavTarget t;
    t.valid = true;
    t.ns = rest;
    t.collection = true;
    return t;
  }
  // A deeper collection is a key prefix: the same rules as a key.
  const Target parsed = ParseTarget(path);
  if (parsed.route != Route::kObject) {
    return parsed.route == Route::kInvalid ? DavInvalid(parsed.error_status, parsed.error)
                                           : DavInvalid(404, "no such collection");
  }
  DavTarget t;
  t.valid = true;
  t.ns = parsed.ns;
  t.key = parsed.key;
  t.collection = collection;
  return t;
}

void DavPropfindBody(std::string_view href, bool collection, std::optional<std::uint64_t> length,
                     std::string_view last_modified, std::string* out) {
  // href is a validated target (A-Z a-z 0-9 . _ ~ - /): nothing to escape.
  out->assign(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>");
  out->append(href);
  if (collection && !href.ends_with('/')) out->push_back('/');
  out->append("</D:href><D:propstat><D:prop><D:getlastmodified>");
  out->append(last_modified);
  out->append("</D:getlastmodified>");
  if (length) {
    out->append("<D:getcontentlength>").append(std::to_string(*length));
    out->append("</D:getcontentlength>");
  }
  out->append(collection ? "<D:resourcetype><D:collection/></D:resourcetype>"
                         : "<D:resourcetype/>");
  out->append(
      "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
      "</D:multistatus>\n");
}

std::string HttpDateNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(text, n);
}

bool Handler::AdmitWebDav(const Request& header, Response* out) {
  const DavTarget target = ParseDavTarget(header.target);
  if (!target.valid) {
    Text(out, target.error_status, target.error);
    out->body.push_back('\n');
    return false;
  }
  // PROPFIND carries a small XML body (which properties; all are sent);
  // MKCOL must be allowed to write before anything is read.
  if (header.method == Method::kMkcol) {
    return Authorize(header, target.ns, Access::kReadWrite, out, /*count=*/false);
  }
  return true;
}

void Handler::HandleWebDav(const Request& request, Response* out) {
  const DavTarget target = ParseDavTarget(request.target);
  if (!target.valid) {
    Text(out, target.error_status, target.error);
    out->body.push_back('\n');
    return;
  }
  const std::string_view path = request.target;
  if (request.method == Method::kMkcol) {
    // Collections are virtual, so there is nothing to create; a token that
    // may not write learns so here (403), as it would on the PUT.
    if (!Authorize(request, target.ns, Access::kReadWrite, out)) return;
    out->status = 201;
    return;
  }
  // PROPFIND. Depth 1 would list a collection's members; the store is not
  // listed by prefix, so every answer describes the target alone (OpenDAL's
  // stat, the only PROPFIND sccache makes, asks Depth 0).
  if (!Authorize(request, target.ns, Access::kRead, out)) return;
  if (target.collection) {
    out->status = 207;
    out->content_type = kXml;
    DavPropfindBody(path, true, std::nullopt, HttpDateNow(), &out->body);
    return;
  }
  std::string value;
  const memokey::Status s = store_.Get(target.key, &value);
  if (s.ok()) {
    out->status = 207;
    out->content_type = kXml;
    DavPropfindBody(path, false, value.size(), HttpDateNow(), &out->body);
  } else if (s.IsNotFound() || s.code() == memokey::Status::Code::kCorruption) {
    Text(out, 404, "not found\n");
  } else {
    BackendError(s, "get", out);
  }
}

}  // namespace memokeyd
