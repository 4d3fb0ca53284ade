// memokey/key.h — keys over canonical bytes: one key type, parameterised by its hash.
//
// Contract
//   A key is a hash over the *frame*: the canonical CBOR encoding of the
//   4-element array
//       [Hasher::kFrameName, kFormatVersion, namespace, value]
//   where namespace is a text string, or null when there is none, and value is
//   the canonical form of the keyed value. The frame separates domains: keys
//   of different format versions, namespaces or hashes never share an input,
//   and "no namespace" differs from the empty namespace.
//   BasicKey<Hasher>::bytes holds the digest (Hasher::kDigestBytes bytes);
//   hex() is those bytes as lowercase hexadecimal characters.
//
// The hashers (each a policy class: kDigestBytes, kFrameName, OneShot, Begin,
// Update, Final):
//   Xxh3Hasher — XXH3-128 (seed 0, libxxhash), frame name "memokey", the
//     canonical (big-endian) 16-byte digest: Key, KeyEncoder, KeyOf (encode_cpp.h),
//     KeyOfCanonical. Fast and well distributed but not collision-resistant
//     against an adversary who chooses inputs (see SECURITY.md).
//   Sha256Hasher — SHA-256, frame name "memokey-sha256" (key_sha256.h):
//     Sha256Key, Sha256KeyEncoder, Sha256KeyOf, Sha256KeyOfCanonical.
//
// BasicKeyEncoder hashes while encoding: whatever the encoder flushes
// (including large byte strings outside maps and sets, which are never copied)
// is fed to the hasher's streaming state, and small values are hashed in one
// shot. An encoder is not thread-safe; reset() reuses it for the next key.

#ifndef MEMOKEY_KEY_H_
#define MEMOKEY_KEY_H_

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "memokey/cbor_writer.h"
#include "memokey/format.h"

namespace memokey {

namespace internal {
struct Xxh3State;
struct Xxh3Functions;
}  // namespace internal

// XXH3-128, in the fastest variant this CPU runs (chosen per call by size).
class Xxh3Hasher {
 public:
  static constexpr std::size_t kDigestBytes = 16;
  static constexpr std::string_view kFrameName = "memokey";

  Xxh3Hasher();
  ~Xxh3Hasher();
  Xxh3Hasher(const Xxh3Hasher&) = delete;
  Xxh3Hasher& operator=(const Xxh3Hasher&) = delete;

  // The digest of `data` alone, into out[0..kDigestBytes).
  void OneShot(ByteSpan data, std::uint8_t* out);
  // Begin, then Update any number of times, then Final: the digest of the
  // concatenation. Begin may start over at any time.
  void Begin();
  void Update(ByteSpan data);
  void Final(std::uint8_t* out);

 private:
  const internal::Xxh3Functions* functions_;
  std::unique_ptr<internal::Xxh3State> state_;  // made by the first Begin
};

template <class Hasher>
struct BasicKey {
  std::array<std::uint8_t, Hasher::kDigestBytes> bytes{};

  std::string hex() const;
  // Parses 2 * kDigestBytes hexadecimal characters (either case); nullopt otherwise.
  static std::optional<BasicKey> FromHex(std::string_view hex);

  friend auto operator<=>(const BasicKey&, const BasicKey&) = default;
};

// An Encoder whose output becomes a BasicKey<Hasher>. Usage:
//   KeyEncoder k("my-namespace");
//   memokey::Encode(k.encoder(), value);   // or any Encoder calls
//   Key key = k.finish();
template <class Hasher>
class BasicKeyEncoder final : private Sink {
 public:
  explicit BasicKeyEncoder(std::optional<std::string_view> key_namespace = std::nullopt)
      : encoder_(this) {
    WriteFrameHead(key_namespace);
  }
  ~BasicKeyEncoder() override = default;
  BasicKeyEncoder(const BasicKeyEncoder&) = delete;
  BasicKeyEncoder& operator=(const BasicKeyEncoder&) = delete;

  // Starts a new key, keeping allocated memory.
  void reset(std::optional<std::string_view> key_namespace = std::nullopt) {
    encoder_.reset(this);
    streaming_ = false;
    WriteFrameHead(key_namespace);
  }
  // Write exactly one data item (the value) through this encoder.
  Encoder& encoder() { return encoder_; }
  BasicKey<Hasher> finish() {
    encoder_.check_complete();
    BasicKey<Hasher> key;
    if (!streaming_) {
      // Everything is still in the encoder's buffer: hash it in one shot.
      hasher_.OneShot(encoder_.buffer(), key.bytes.data());
      return key;
    }
    encoder_.finish();  // passes the rest of the frame to write()
    hasher_.Final(key.bytes.data());
    return key;
  }

 private:
  // The first three elements of [kFrameName, version, namespace, value]
  // never change: one append instead of three encoder calls on every key.
  static constexpr auto kFramePrefix = [] {
    static_assert(Hasher::kFrameName.size() < 24, "the frame name must stay a short CBOR text");
    static_assert(kFormatVersion < 24, "the version must stay a one-byte CBOR integer");
    std::array<std::uint8_t, Hasher::kFrameName.size() + 3> prefix{};
    prefix[0] = 0x84;                                                         // array(4)
    prefix[1] = static_cast<std::uint8_t>(0x60 + Hasher::kFrameName.size());  // text(n)
    std::copy(Hasher::kFrameName.begin(), Hasher::kFrameName.end(), prefix.begin() + 2);
    prefix.back() = static_cast<std::uint8_t>(kFormatVersion);
    return prefix;
  }();

  void WriteFrameHead(std::optional<std::string_view> key_namespace) {
    encoder_.raw(ByteSpan(kFramePrefix.data(), kFramePrefix.size()));
    if (key_namespace) {
      encoder_.text(*key_namespace);
    } else {
      encoder_.null();
    }
  }

  void write(ByteSpan bytes) override {
    if (!streaming_) {
      hasher_.Begin();
      streaming_ = true;
    }
    hasher_.Update(bytes);
  }

  Encoder encoder_;
  Hasher hasher_;
  bool streaming_ = false;
};

// The key of a value given by its canonical bytes (not checked: use Decode to
// verify untrusted input first).
template <class Hasher>
BasicKey<Hasher> BasicKeyOfCanonical(ByteSpan canonical,
                                     std::optional<std::string_view> key_namespace = std::nullopt) {
  BasicKeyEncoder<Hasher> k(key_namespace);
  k.encoder().raw(canonical);
  return k.finish();
}

using Key = BasicKey<Xxh3Hasher>;
using KeyEncoder = BasicKeyEncoder<Xxh3Hasher>;
extern template struct BasicKey<Xxh3Hasher>;

inline Key KeyOfCanonical(ByteSpan canonical,
                          std::optional<std::string_view> key_namespace = std::nullopt) {
  return BasicKeyOfCanonical<Xxh3Hasher>(canonical, key_namespace);
}

}  // namespace memokey

#endif  // MEMOKEY_KEY_H_
