#include "memokey/key.h"

#include "memokey/format.h"
#include "memokey/hex.h"
#include "xxh3.h"

namespace memokey {

namespace {

void WriteFrameHead(Encoder& encoder, std::optional<std::string_view> key_namespace) {
  // The first three elements of ["memokey", version, namespace, value] never
  // change: one append instead of three encoder calls on every key.
  static constexpr std::uint8_t kPrefix[] = {
      0x84, 0x67, 'm', 'e', 'm', 'o', 'k', 'e', 'y', static_cast<std::uint8_t>(kFormatVersion)};
  static_assert(kFormatVersion < 24, "the version must stay a one-byte CBOR integer");
  encoder.raw(ByteSpan(kPrefix, sizeof kPrefix));
  if (key_namespace) {
    encoder.text(*key_namespace);
  } else {
    encoder.null();
  }
}

}  // namespace

std::string Key::hex() const { return ToHex(bytes); }

std::optional<Key> Key::FromHex(std::string_view hex) {
  Key key;
  if (!ParseHex(hex, key.bytes)) return std::nullopt;
  return key;
}

KeyEncoder::KeyEncoder(std::optional<std::string_view> key_namespace)
    : encoder_(this), xxh3_(&internal::Xxh3Best()) {
  WriteFrameHead(encoder_, key_namespace);
}

KeyEncoder::~KeyEncoder() = default;

void KeyEncoder::reset(std::optional<std::string_view> key_namespace) {
  encoder_.reset(this);
  streaming_ = false;
  WriteFrameHead(encoder_, key_namespace);
}

void KeyEncoder::write(ByteSpan bytes) {
  if (!streaming_) {
    if (!state_) state_ = std::make_unique_for_overwrite<internal::Xxh3State>();
    xxh3_->reset(state_.get());
    streaming_ = true;
  }
  xxh3_->update(state_.get(), bytes.data(), bytes.size());
}

Key KeyEncoder::finish() {
  encoder_.check_complete();
  Key key;
  if (!streaming_) {
    // Everything is still in the encoder's buffer: hash it in one shot.
    const ByteSpan all = encoder_.buffer();
    xxh3_->hash(all.data(), all.size(), key.bytes.data());
    return key;
  }
  encoder_.finish();
  xxh3_->digest(state_.get(), key.bytes.data());
  return key;
}

Key KeyOfCanonical(ByteSpan canonical, std::optional<std::string_view> key_namespace) {
  KeyEncoder k(key_namespace);
  k.encoder().raw(canonical);
  return k.finish();
}

}  // namespace memokey
