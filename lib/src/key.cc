// The key type's hex form and the XXH3-128 hasher (key.h); the SHA-256 hasher
// is key_sha256.cc.

#include "memokey/key.h"

#include "memokey/format.h"
#include "memokey/hex.h"
#include "memokey/key_sha256.h"
#include "xxh3.h"

namespace memokey {

template <class Hasher>
std::string BasicKey<Hasher>::hex() const {
  return ToHex(bytes);
}

template <class Hasher>
std::optional<BasicKey<Hasher>> BasicKey<Hasher>::FromHex(std::string_view hex) {
  BasicKey key;
  if (!ParseHex(hex, key.bytes)) return std::nullopt;
  return key;
}

template struct BasicKey<Xxh3Hasher>;
template struct BasicKey<Sha256Hasher>;

Xxh3Hasher::Xxh3Hasher() : functions_(&internal::Xxh3Best()) {}

Xxh3Hasher::~Xxh3Hasher() = default;

void Xxh3Hasher::OneShot(ByteSpan data, std::uint8_t* out) {
  functions_->hash(data.data(), data.size(), out);
}

void Xxh3Hasher::Begin() {
  if (!state_) state_ = std::make_unique_for_overwrite<internal::Xxh3State>();
  functions_->reset(state_.get());
}

void Xxh3Hasher::Update(ByteSpan data) {
  functions_->update(state_.get(), data.data(), data.size());
}

void Xxh3Hasher::Final(std::uint8_t* out) { functions_->digest(state_.get(), out); }

}  // namespace memokey
