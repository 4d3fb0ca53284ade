// server/buildcache.cc — see buildcache.h.

#include "buildcache.h"

#include <algorithm>
#include <array>

#include "config.h"  // Sha256, ValidNamespaceName
#include "memokey/hex.h"

namespace memokeyd {

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// One key segment as ParseTarget allows it (handler.cc): [A-Za-z0-9._~-]+.
bool IsKeySegment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '-';
  });
}

// The value of `name` in a query string ("a=1&b=2"); empty when absent.
// Values are used as they are (no percent-decoding): teams and slugs that
// need escaping are not valid namespace names anyway.
std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

TurboTarget TurboInvalid(int status, std::string_view why) {
  TurboTarget t;
  t.error_status = status;
  t.error = why;
  return t;
}

// Stored form of a Turborepo artifact: magic, then the duration (1-byte
// length), the tag (2-byte little-endian length), then the body.
constexpr std::string_view kTurboMagic = "MKTURBO1";
constexpr std::size_t kMaxDuration = 20;  // digits of a u64
constexpr std::size_t kMaxTag = 8 << 10;  // a base64 HMAC is ~44 bytes; leave room

}  // namespace

bool IsCasKey(std::string_view key, std::string_view* digest) {
  // "NS/cas/<digest>": exactly three segments.
  const std::size_t first = key.find('/');
  if (first == std::string_view::npos) return false;
  const std::string_view rest = key.substr(first + 1);
  if (!rest.starts_with("cas/")) return false;
  const std::string_view hex = rest.substr(4);
  if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), IsLowerHex)) return false;
  *digest = hex;
  return true;
}

bool CasDigestMatches(std::string_view digest, std::string_view body) {
  return digest == memokey::ToHex(Sha256(body));
}

bool IsNxKey(std::string_view key) {
  // "cache/<hash>" or "NS/v1/cache/<hash>"; the hash is one segment.
  std::string_view hash;
  if (key.starts_with("cache/")) {
    hash = key.substr(6);
  } else {
    const std::size_t first = key.find('/');
    if (first == std::string_view::npos) return false;
    const std::string_view rest = key.substr(first + 1);
    if (!rest.starts_with("v1/cache/")) return false;
    hash = rest.substr(9);
  }
  return IsKeySegment(hash);
}

TurboTarget ParseTurboTarget(std::string_view target) {
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (!path.starts_with(kTurboPrefix)) return TurboInvalid(404, "no such route");
  std::string_view rest = path.substr(kTurboPrefix.size());

  TurboTarget t;
  // The team: its id wins over its slug, as on Vercel's API.
  t.ns = QueryParam(query, "teamId");
  if (t.ns.empty()) t.ns = QueryParam(query, "slug");
  if (!t.ns.empty() && !ValidNamespaceName(t.ns)) {
    return TurboInvalid(400, "invalid team: teamId/slug must be a valid namespace name");
  }
  if (rest == "/status") {
    t.kind = TurboTarget::Kind::kStatus;
    return t;
  }
  if (rest == "/events") {
    t.kind = TurboTarget::Kind::kEvents;
    return t;
  }
  if (!rest.starts_with("/") || !IsKeySegment(rest.substr(1))) {
    return TurboInvalid(404, "no such route: use /v8/artifacts/{hash}?teamId=TEAM or ?slug=TEAM");
  }
  if (t.ns.empty()) {
    return TurboInvalid(400, "missing team: add ?teamId=TEAM or ?slug=TEAM (TURBO_TEAM)");
  }
  t.hash = rest.substr(1);
  t.kind = TurboTarget::Kind::kArtifact;
  return t;
}

std::string TurboStoreKey(std::string_view ns, std::string_view hash) {
  std::string key;
  key.reserve(ns.size() + 7 + hash.size());
  key.append(ns).append("/turbo/").append(hash);
  return key;
}

bool EncodeTurboArtifact(const TurboMeta& meta, std::string_view body, std::string* out,
                         std::string_view* error) {
  if (meta.duration.size() > kMaxDuration ||
      !std::all_of(meta.duration.begin(), meta.duration.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "bad x-artifact-duration: milliseconds, digits only";
    return false;
  }
  // The tag goes back out as a header value: printable ASCII only.
  if (meta.tag.size() > kMaxTag || !std::all_of(meta.tag.begin(), meta.tag.end(),
                                                [](char c) { return c >= 0x20 && c <= 0x7E; })) {
    *error = "bad x-artifact-tag: at most 8 KiB of printable ASCII";
    return false;
  }
  out->clear();
  out->reserve(kTurboMagic.size() + 3 + meta.duration.size() + meta.tag.size() + body.size());
  out->append(kTurboMagic);
  out->push_back(static_cast<char>(meta.duration.size()));
  out->append(meta.duration);
  out->push_back(static_cast<char>(meta.tag.size() & 0xFF));
  out->push_back(static_cast<char>(meta.tag.size() >> 8));
  out->append(meta.tag);
  out->append(body);
  return true;
}

bool DecodeTurboArtifact(std::string_view stored, TurboMeta* meta, std::size_t* body_offset) {
  if (!stored.starts_with(kTurboMagic)) return false;
  std::size_t at = kTurboMagic.size();
  if (stored.size() < at + 1) return false;
  const std::size_t duration_size = static_cast<unsigned char>(stored[at++]);
  if (duration_size > kMaxDuration || stored.size() < at + duration_size + 2) return false;
  meta->duration = stored.substr(at, duration_size);
  at += duration_size;
  const std::size_t tag_size =
      static_cast<unsigned char>(stored[at]) |
      (static_cast<std::size_t>(static_cast<unsigned char>(stored[at + 1])) << 8);
  at += 2;
  if (tag_size > kMaxTag || stored.size() < at + tag_size) return false;
  meta->tag = stored.substr(at, tag_size);
  *body_offset = at + tag_size;
  return true;
}

}  // namespace memokeyd
