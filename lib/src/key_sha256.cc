#include "memokey/key_sha256.h"

#include <openssl/evp.h>

#include <new>

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

}  // namespace

struct Sha256KeyEncoder::Digest {
  EVP_MD_CTX* ctx = nullptr;
};

std::string Sha256Key::hex() const {
  std::string out(64, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

std::optional<Sha256Key> Sha256Key::FromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Sha256Key key;
  for (std::size_t i = 0; i < key.bytes.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return key;
}

Sha256KeyEncoder::Sha256KeyEncoder(std::optional<std::string_view> key_namespace)
    : encoder_(this), digest_(new Digest) {
  digest_->ctx = EVP_MD_CTX_new();
  if (digest_->ctx == nullptr || EVP_DigestInit_ex(digest_->ctx, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(digest_->ctx);
    delete digest_;
    throw std::bad_alloc();
  }
  encoder_.array(4);
  encoder_.text("memokey-sha256");
  encoder_.uint(kFormatVersion);
  if (key_namespace) {
    encoder_.text(*key_namespace);
  } else {
    encoder_.null();
  }
}

Sha256KeyEncoder::~Sha256KeyEncoder() {
  EVP_MD_CTX_free(digest_->ctx);
  delete digest_;
}

void Sha256KeyEncoder::write(ByteSpan bytes) {
  if (EVP_DigestUpdate(digest_->ctx, bytes.data(), bytes.size()) != 1) throw std::bad_alloc();
}

Sha256Key Sha256KeyEncoder::finish() {
  encoder_.finish();  // passes the rest of the frame to write()
  Sha256Key key;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(digest_->ctx, key.bytes.data(), &length) != 1 ||
      length != key.bytes.size()) {
    throw std::bad_alloc();
  }
  return key;
}

Sha256Key Sha256KeyOfCanonical(ByteSpan canonical, std::optional<std::string_view> key_namespace) {
  Sha256KeyEncoder k(key_namespace);
  k.encoder().raw(canonical);
  return k.finish();
}

}  // namespace memokey
