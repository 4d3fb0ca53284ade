// memokey/envelope.h — the signed envelope around every value a store holds.
//
// Layout (integers little-endian):
//   offset  size  field
//        0     4  magic "MKEV"
//        4     1  envelope version (kEnvelopeVersion = 1)
//        5     1  codec (Codec)
//        6     1  flags: bit 0 = payload is one zstd frame; other bits must be 0
//        7     1  reserved, 0
//        8     8  stored length n (of the bytes that follow: compressed or not)
//       16     8  payload length (after decompression; == n when not compressed)
//       24     n  payload
//     24+n    32  HMAC-SHA256(secret, u64 LE key length || key || bytes 0 .. 24+n)
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

inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kEnvelopeHeaderBytes = 24;
inline constexpr std::size_t kEnvelopeMacBytes = 32;
inline constexpr std::size_t kEnvelopeOverhead = kEnvelopeHeaderBytes + kEnvelopeMacBytes;
// Payloads at least this long are compressed when that makes them smaller.
inline constexpr std::size_t kDefaultCompressThreshold = 1024;
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
// compress_threshold and the frame is smaller. Errors: empty secret, unknown
// codec.
Status SealEnvelope(std::string_view key, Codec codec, std::string_view payload,
                    const Secret& secret, std::string* out,
                    std::size_t compress_threshold = kDefaultCompressThreshold);

// Verifies and opens `sealed` for `key`. Status::Corruption when anything is
// wrong: bad magic, version, flags, codec or lengths, a MAC mismatch (wrong
// key, wrong secret, altered or truncated bytes), a payload above max_payload,
// or a zstd frame that does not decompress to exactly the sealed length.
Status OpenEnvelope(std::string_view key, std::string_view sealed, const Secret& secret,
                    Codec* codec, std::string* payload,
                    std::size_t max_payload = kDefaultMaxPayload);

// See "Secrets" above. IOError when the key file cannot be created or read, or
// when it is not a regular file of this user closed to group and others.
Status LoadSecret(std::optional<std::string_view> configured, Secret* out);

}  // namespace memokey

#endif  // MEMOKEY_ENVELOPE_H_
