// memokey/envelope.h — the signed envelope around every value a store holds.
//
// Layout (integers little-endian):
//   offset  size  field
//        0     4  magic "MKEV"
//        4     1  envelope version: 1 (no label) or 2 (labelled)
//        5     1  codec (Codec)
//        6     1  flags: bit 0 = payload is one zstd frame; other bits must be 0
//        7     1  reserved, 0
//        8     8  stored length n (of the bytes that follow the header: compressed or not)
//       16     8  payload length (after decompression; == n when not compressed)
//   version 2 only:
//       24     2  label length m (at most kMaxEnvelopeLabelBytes)
//       26     m  label: UTF-8 text
//        h     n  payload (h = 24 in version 1, 26 + m in version 2)
//      h+n    32  HMAC-SHA256(secret, u64 LE key length || key || bytes 0 .. h+n)
//
// The label says what a value belongs to -- the memoizers write the function
// (FunctionLabel below) -- because a store key is a hash and cannot say it:
// it is what lets `f.cache_clear()` and `memokey cache clear --function` find
// one function's entries among everyone's. It is covered by the MAC like the
// rest, so OpenEnvelope's label is authentic; PeekEnvelopeLabel reads it from
// the header alone (no secret, no MAC) for listing and grouping. A value
// sealed without a label is written as version 1, byte for byte what readers
// before labels wrote and read.
//
// Threat model. Stores are shared: a disk directory, a Redis server and later a
// memokeyd server can be written by anything that can reach them. The MAC makes
// every value answer "was this sealed, for exactly this key, by someone holding
// the secret?": a planted value, a flipped bit, a truncated record, or a valid
// value copied under another key all fail with Status::Corruption — which the
// memo layer treats as a counted miss and never decodes, so pickle payloads are
// unpickled only after the MAC verified (the diskcache CVE-2025-69872 class of
// attack needs the secret). The MAC is compared in constant time and checked
// before the payload is decompressed or parsed. It does not give secrecy
// (values are readable by whoever can read the store), freshness (an old value
// sealed for the same key can be replayed until its TTL, which the store
// enforces, not the envelope), or protection from anyone who holds the secret
// — the secret file is only as private as the user's account. The
// decompressed size is bounded (max_payload), so even a sealed value cannot
// make a reader allocate without limit.
//
// Secrets (LoadSecret): the configured value, else $MEMOKEY_SECRET, else the
// per-user file $XDG_CONFIG_HOME/memokey/secret (default ~/.config/memokey/secret),
// created on first use with 32 random bytes in hex, mode 0600, directory 0700.
// The secret is the file's (or variable's) text with surrounding whitespace
// removed, so the file's content can be copied into MEMOKEY_SECRET on another
// machine that must share the cache. At least 16 bytes.

#ifndef MEMOKEY_ENVELOPE_H_
#define MEMOKEY_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "memokey/status.h"

namespace memokey {

// The version written without a label (and by every writer before labels).
inline constexpr std::uint8_t kEnvelopeVersion = 1;
// The version written with a label.
inline constexpr std::uint8_t kEnvelopeLabelledVersion = 2;
inline constexpr std::size_t kEnvelopeHeaderBytes = 24;
// Labels are short names, not data: the bound keeps the bytes a listing
// must read per entry (kEnvelopePeekBytes) small.
inline constexpr std::size_t kMaxEnvelopeLabelBytes = 255;
// Enough leading bytes of any envelope for PeekEnvelopeLabel.
inline constexpr std::size_t kEnvelopePeekBytes = kEnvelopeHeaderBytes + 2 + kMaxEnvelopeLabelBytes;
inline constexpr std::size_t kEnvelopeMacBytes = 32;
inline constexpr std::size_t kEnvelopeOverhead = kEnvelopeHeaderBytes + kEnvelopeMacBytes;
// Payloads at least this long are compressed when that makes them smaller:
// the one default for stored values (MemoOptions::compress_threshold; Python:
// seal() and the memo wrapper's fallback, exported as
// memokey._core.COMPRESS_THRESHOLD).
inline constexpr std::size_t kDefaultCompressThreshold = 4096;
// OpenEnvelope refuses payloads larger than this after decompression.
inline constexpr std::size_t kDefaultMaxPayload = std::size_t{1} << 30;
inline constexpr std::size_t kMinSecretBytes = 16;

enum class Codec : std::uint8_t {
  kRaw = 0,      // bytes the caller interprets
  kCbor = 1,     // memokey canonical CBOR (data only: the "safe" mode)
  kPickle5 = 2,  // Python pickle protocol 5
};

// Key material. Wiped from memory when destroyed.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view bytes);
  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  std::string_view bytes() const { return bytes_; }
  bool empty() const { return bytes_.empty(); }

 private:
  friend struct EnvelopeAccess;
  // An HMAC-SHA256 context already keyed with the secret; each MAC starts
  // from a copy of it instead of re-deriving the key pads.
  struct Prepared;

  void Wipe();
  std::string bytes_;
  std::shared_ptr<const Prepared> prepared_;
};

// Seals `payload` for `key`. Compresses with zstd when payload.size() >=
// compress_threshold and the frame is smaller. An empty label writes version
// 1; any other, version 2 with the label. Errors: empty secret, unknown codec,
// a label longer than kMaxEnvelopeLabelBytes or not UTF-8.
Status SealEnvelope(std::string_view key, Codec codec, std::string_view payload,
                    const Secret& secret, std::string* out,
                    std::size_t compress_threshold = kDefaultCompressThreshold,
                    std::string_view label = {});

// Verifies and opens `sealed` (version 1 or 2) for `key`. Status::Corruption
// when anything is wrong: bad magic, version, flags, codec or lengths, a MAC
// mismatch (wrong key, wrong secret, altered or truncated bytes, an altered
// label), a payload above max_payload, or a zstd frame that does not
// decompress to exactly the sealed length.
Status OpenEnvelope(std::string_view key, std::string_view sealed, const Secret& secret,
                    Codec* codec, std::string* payload,
                    std::size_t max_payload = kDefaultMaxPayload);
// The same, and *label is the (authenticated) label: empty for version 1.
Status OpenEnvelope(std::string_view key, std::string_view sealed, const Secret& secret,
                    Codec* codec, std::string* payload, std::string* label,
                    std::size_t max_payload = kDefaultMaxPayload);

// The label of an envelope from its first bytes (kEnvelopePeekBytes suffice;
// a whole envelope will do): header parsing only. UNAUTHENTICATED -- no MAC is
// checked, so whoever can write the store can make an entry claim any label
// (or a valid entry's label can be altered without this noticing): use it to
// list and group entries, and to choose entries to delete (the worst a false
// label then does is lose a cached value), never to trust a value. True and
// *label set (empty for version 1) when `head` starts like an envelope;
// false for anything else (not an envelope, unknown version, a label length
// over the limit or past the bytes given, a label that is not UTF-8).
bool PeekEnvelopeLabel(std::string_view head, std::string* label);

// The label the memoizers (memokey::memoize and Python's @memoize) seal their
// values with: the function as its key frame names it -- `name` when there
// is no namespace, else namespace + "\x1f" (unit separator) + name. One that
// would exceed kMaxEnvelopeLabelBytes keeps its first bytes (whole UTF-8
// characters) and ends in "~" and 16 hex digits of the XXH3-64 of the whole,
// so distinct functions keep distinct labels. (A name or namespace that
// itself contains "\x1f" can share a label with another pair: clearing by
// label then drops the other's entries too -- recomputations, never a wrong
// value.)
std::string FunctionLabel(const std::optional<std::string>& key_namespace, std::string_view name);

// See "Secrets" above. IOError when the key file cannot be created or read, or
// when it is not a regular file of this user closed to group and others.
Status LoadSecret(std::optional<std::string_view> configured, Secret* out);

}  // namespace memokey

#endif  // MEMOKEY_ENVELOPE_H_
