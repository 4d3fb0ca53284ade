// memokey/key.h — 128-bit keys over canonical bytes.
//
// Contract
//   A key is XXH3-128 (seed 0, libxxhash) over the *frame*: the canonical CBOR
//   encoding of the 4-element array
//       ["memokey", kFormatVersion, namespace, value]
//   where namespace is a text string, or null when there is none, and value is
//   the canonical form of the keyed value. The frame separates domains: keys
//   of different format versions or namespaces never share an input, and
//   "no namespace" differs from the empty namespace.
//   Key::bytes holds XXH128's canonical (big-endian) digest; hex() is those 16
//   bytes as 32 lowercase hexadecimal characters.
//   XXH3 is fast and well distributed but not collision-resistant against an
//   adversary who chooses inputs (see SECURITY.md).
//
// KeyEncoder hashes while encoding: whatever the encoder flushes (including
// large byte strings outside maps and sets, which are never copied) is fed to
// a streaming XXH3 state, and small values are hashed in one shot.

#ifndef MEMOKEY_KEY_H_
#define MEMOKEY_KEY_H_

#include <array>
#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "memokey/cbor_writer.h"

namespace memokey {

namespace internal {
struct Xxh3State;
struct Xxh3Functions;
}  // namespace internal

struct Key {
  std::array<std::uint8_t, 16> bytes{};

  std::string hex() const;
  // Parses 32 hexadecimal characters (either case); nullopt otherwise.
  static std::optional<Key> FromHex(std::string_view hex);

  friend auto operator<=>(const Key&, const Key&) = default;
};

// An Encoder whose output becomes a Key. Usage:
//   KeyEncoder k("my-namespace");
//   memokey::Encode(k.encoder(), value);   // or any Encoder calls
//   Key key = k.finish();
class KeyEncoder final : private Sink {
 public:
  explicit KeyEncoder(std::optional<std::string_view> key_namespace = std::nullopt);
  ~KeyEncoder() override;
  KeyEncoder(const KeyEncoder&) = delete;
  KeyEncoder& operator=(const KeyEncoder&) = delete;

  // Starts a new key, keeping allocated memory.
  void reset(std::optional<std::string_view> key_namespace = std::nullopt);
  // Write exactly one data item (the value) through this encoder.
  Encoder& encoder() { return encoder_; }
  Key finish();

 private:
  void write(ByteSpan bytes) override;

  Encoder encoder_;
  const internal::Xxh3Functions* xxh3_;
  std::unique_ptr<internal::Xxh3State> state_;  // made on the first flush
  bool streaming_ = false;
};

// The key of a value given by its canonical bytes (not checked: use Decode to
// verify untrusted input first).
Key KeyOfCanonical(ByteSpan canonical, std::optional<std::string_view> key_namespace = std::nullopt);

}  // namespace memokey

#endif  // MEMOKEY_KEY_H_
