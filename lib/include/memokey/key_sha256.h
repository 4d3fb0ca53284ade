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
// Sha256Key is BasicKey<Sha256Hasher> (key.h): the same type, frame and
// encoder as Key, with SHA-256 (OpenSSL EVP) as the hash. In memokey::core,
// with the other keys (core links OpenSSL's libcrypto privately).

#ifndef MEMOKEY_KEY_SHA256_H_
#define MEMOKEY_KEY_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "memokey/cbor_writer.h"
#include "memokey/encode_cpp.h"
#include "memokey/key.h"

struct evp_md_ctx_st;

namespace memokey {

// SHA-256 as a key hasher (key.h describes the policy). Construction throws
// std::bad_alloc when OpenSSL cannot make a digest context, as do the other
// calls when OpenSSL fails.
class Sha256Hasher {
 public:
  static constexpr std::size_t kDigestBytes = 32;
  static constexpr std::string_view kFrameName = "memokey-sha256";

  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void OneShot(ByteSpan data, std::uint8_t* out);
  void Begin();
  void Update(ByteSpan data);
  void Final(std::uint8_t* out);

 private:
  struct DigestFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, DigestFree> digest_;  // OpenSSL's EVP_MD_CTX
};

using Sha256Key = BasicKey<Sha256Hasher>;
// Used like KeyEncoder:
//   Sha256KeyEncoder k("shared-namespace");
//   memokey::Encode(k.encoder(), value);
//   Sha256Key key = k.finish();
using Sha256KeyEncoder = BasicKeyEncoder<Sha256Hasher>;
extern template struct BasicKey<Sha256Hasher>;

// The SHA-256 key of a value given by its canonical bytes (not checked).
inline Sha256Key Sha256KeyOfCanonical(
    ByteSpan canonical, std::optional<std::string_view> key_namespace = std::nullopt) {
  return BasicKeyOfCanonical<Sha256Hasher>(canonical, key_namespace);
}

// The SHA-256 key of `value`.
template <class T>
Sha256Key Sha256KeyOf(const T& value,
                      std::optional<std::string_view> key_namespace = std::nullopt) {
  Sha256KeyEncoder k(key_namespace);
  Encode(k.encoder(), value);
  return k.finish();
}

}  // namespace memokey

#endif  // MEMOKEY_KEY_SHA256_H_
