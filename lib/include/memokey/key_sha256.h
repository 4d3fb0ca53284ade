// memokey/key_sha256.h — SHA-256 keys, for namespaces shared with writers you
// do not trust.
//
// Contract
//   A SHA-256 key is SHA-256 (OpenSSL EVP) over the canonical CBOR encoding of
//   the 4-element array
//       ["memokey-sha256", kFormatVersion, namespace, value]
//   — the frame of key.h with a different first element, so an XXH3-128 key
//   and a SHA-256 key never hash the same input (docs/FORMAT.md §5).
//   namespace is a text string, or null when there is none; value is the
//   canonical form of the keyed value. Sha256Key::bytes is the 32-byte digest;
//   hex() is 64 lowercase hexadecimal characters.
//
// Why: XXH3-128 (key.h) is fast and well distributed, but an adversary who
// chooses inputs can construct collisions; where a namespace is written by
// parties you do not trust, one of them could then plant a value under the
// key of a computation someone else will look up. SHA-256 is
// collision-resistant; it costs about 2 ns/byte instead of ~0.1 (SECURITY.md).
//
// Lives in memokey::store (which links OpenSSL), not memokey::core.

#ifndef MEMOKEY_KEY_SHA256_H_
#define MEMOKEY_KEY_SHA256_H_

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "memokey/encode_cpp.h"
#include "memokey/cbor_writer.h"

struct evp_md_ctx_st;

namespace memokey {

struct Sha256Key {
  std::array<std::uint8_t, 32> bytes{};

  std::string hex() const;
  // Parses 64 hexadecimal characters (either case); nullopt otherwise.
  static std::optional<Sha256Key> FromHex(std::string_view hex);

  friend auto operator<=>(const Sha256Key&, const Sha256Key&) = default;
};

// An Encoder whose output becomes a Sha256Key; used like KeyEncoder:
//   Sha256KeyEncoder k("shared-namespace");
//   memokey::Encode(k.encoder(), value);
//   Sha256Key key = k.finish();
class Sha256KeyEncoder final : private Sink {
 public:
  explicit Sha256KeyEncoder(std::optional<std::string_view> key_namespace = std::nullopt);
  ~Sha256KeyEncoder() override;
  Sha256KeyEncoder(const Sha256KeyEncoder&) = delete;
  Sha256KeyEncoder& operator=(const Sha256KeyEncoder&) = delete;

  Encoder& encoder() { return encoder_; }
  Sha256Key finish();

 private:
  void write(ByteSpan bytes) override;

  struct DigestFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  Encoder encoder_;
  std::unique_ptr<evp_md_ctx_st, DigestFree> digest_;  // OpenSSL's EVP_MD_CTX
};

// The SHA-256 key of a value given by its canonical bytes (not checked).
Sha256Key Sha256KeyOfCanonical(ByteSpan canonical,
                               std::optional<std::string_view> key_namespace = std::nullopt);

// The SHA-256 key of `value`.
template <class T>
Sha256Key Sha256KeyOf(const T& value, std::optional<std::string_view> key_namespace = std::nullopt) {
  Sha256KeyEncoder k(key_namespace);
  Encode(k.encoder(), value);
  return k.finish();
}

}  // namespace memokey

#endif  // MEMOKEY_KEY_SHA256_H_
