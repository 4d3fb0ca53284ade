#include "memokey/key.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#if defined(__x86_64__) || defined(_M_X64)
// libxxhash's runtime dispatch picks the widest vector unit the CPU has
// (AVX2/AVX-512); the plain entry points are built for baseline SSE2, which
// on large inputs runs at about half the speed.
#include <xxh_x86dispatch.h>
#define MEMOKEY_XXH3_128 XXH3_128bits_dispatch
#define MEMOKEY_XXH3_128_UPDATE XXH3_128bits_update_dispatch
#else
#define MEMOKEY_XXH3_128 XXH3_128bits
#define MEMOKEY_XXH3_128_UPDATE XXH3_128bits_update
#endif

#include "memokey/format.h"

namespace memokey {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

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

Key FromHash(XXH128_hash_t hash) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  Key key;
  static_assert(sizeof(canonical.digest) == 16);
  for (std::size_t i = 0; i < 16; ++i) key.bytes[i] = canonical.digest[i];
  return key;
}

}  // namespace

std::string Key::hex() const {
  std::string out(32, '0');
  for (std::size_t i = 0; i < 16; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

std::optional<Key> Key::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  Key key;
  for (std::size_t i = 0; i < 16; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return key;
}

void KeyEncoder::StateDeleter::operator()(XXH3_state_s* state) const { XXH3_freeState(state); }

KeyEncoder::KeyEncoder(std::optional<std::string_view> key_namespace) : encoder_(this) {
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
    if (!state_) {
      state_.reset(XXH3_createState());
      if (!state_) throw std::bad_alloc();
    }
    XXH3_128bits_reset(state_.get());
    streaming_ = true;
  }
  MEMOKEY_XXH3_128_UPDATE(state_.get(), bytes.data(), bytes.size());
}

Key KeyEncoder::finish() {
  encoder_.check_complete();
  if (!streaming_) {
    // Everything is still in the encoder's buffer: hash it in one shot.
    const ByteSpan all = encoder_.buffer();
    return FromHash(MEMOKEY_XXH3_128(all.data(), all.size()));
  }
  encoder_.finish();
  return FromHash(XXH3_128bits_digest(state_.get()));
}

Key KeyOfCanonical(ByteSpan canonical, std::optional<std::string_view> key_namespace) {
  KeyEncoder k(key_namespace);
  k.encoder().raw(canonical);
  return k.finish();
}

}  // namespace memokey
