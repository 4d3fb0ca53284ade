// server/buildcache.h — the build tools' own cache APIs, on top of the store.
//
// ccache and Gradle speak memokeyd's plain routes (/{namespace}/{key...}) as
// they are. The others need a little more, all of it here so that the
// handler only routes:
//
//   Bazel      --remote_cache=http://host/NS → /NS/ac/<sha256> and
//              /NS/cas/<sha256>. Plain routes, plus one check: a CAS blob is
//              named by the SHA-256 of its content, so a PUT whose body does
//              not hash to its name is refused (400, as bazel-remote does) —
//              otherwise one bad upload poisons every build that reads it.
//   Turborepo  /v8/artifacts/{hash}?teamId=T&slug=S (PUT, GET, HEAD),
//              /v8/artifacts/status, POST /v8/artifacts/events. The team
//              (teamId, else slug) is the namespace; the artifact is stored
//              under "NS/turbo/{hash}" together with the x-artifact-duration
//              and x-artifact-tag headers it was uploaded with, which turbo
//              needs back (the tag is the artifact's signature).
//   Nx         /v1/cache/{hash} (namespace "cache"), or /NS/v1/cache/{hash}
//              when Nx is given a base path. Nx's API never overwrites: a PUT
//              of an existing hash is 409, whatever the namespace's policy.

#ifndef MEMOKEY_SERVER_BUILDCACHE_H_
#define MEMOKEY_SERVER_BUILDCACHE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace memokeyd {

// --- Bazel ---------------------------------------------------------------------

// The hex digest a content-addressed store key must match: for "NS/cas/<64
// lower-case hex>" true with *digest set; false for every other key.
bool IsCasKey(std::string_view key, std::string_view* digest);
// True when SHA-256(body) is `digest` (64 lower-case hex characters).
bool CasDigestMatches(std::string_view digest, std::string_view body);

// --- Nx ------------------------------------------------------------------------

// True for the store key of an Nx artifact: "cache/<hash>" (/v1/cache/<hash>)
// or "NS/v1/cache/<hash>" (a base path before /v1/cache/).
bool IsNxKey(std::string_view key);

// --- Turborepo -----------------------------------------------------------------

inline constexpr std::string_view kTurboPrefix = "/v8/artifacts";

struct TurboTarget {
  enum class Kind : std::uint8_t { kInvalid, kArtifact, kStatus, kEvents };
  Kind kind = Kind::kInvalid;
  int error_status = 0;    // kInvalid: 400 or 404
  std::string_view error;  // ... and why
  std::string_view ns;     // the team: teamId, else slug (may be empty for kStatus/kEvents)
  std::string_view hash;   // kArtifact
};
// Parses a target that starts with kTurboPrefix.
TurboTarget ParseTurboTarget(std::string_view target);
// "NS/turbo/HASH".
std::string TurboStoreKey(std::string_view ns, std::string_view hash);

// An artifact as stored: its metadata, then the bytes turbo uploaded.
struct TurboMeta {
  std::string_view duration;  // x-artifact-duration (milliseconds, as text)
  std::string_view tag;       // x-artifact-tag (base64 signature), may be empty
};
// Validates the headers (false with *error set when they cannot be stored)
// and writes the stored form of the artifact into *out.
bool EncodeTurboArtifact(const TurboMeta& meta, std::string_view body, std::string* out,
                         std::string_view* error);
// Splits a stored artifact; *meta views into `stored`, *body_offset is where
// the artifact's bytes start. False for bytes that are not one (e.g. a value
// PUT through the plain route): a miss to turbo.
bool DecodeTurboArtifact(std::string_view stored, TurboMeta* meta, std::size_t* body_offset);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_BUILDCACHE_H_
