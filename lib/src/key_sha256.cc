#include "memokey/key_sha256.h"

#include <openssl/evp.h>

#include <new>

#include "memokey/format.h"
#include "memokey/hex.h"

namespace memokey {

void Sha256KeyEncoder::DigestFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

std::string Sha256Key::hex() const { return ToHex(bytes); }

std::optional<Sha256Key> Sha256Key::FromHex(std::string_view hex) {
  Sha256Key key;
  if (!ParseHex(hex, key.bytes)) return std::nullopt;
  return key;
}

Sha256KeyEncoder::Sha256KeyEncoder(std::optional<std::string_view> key_namespace)
    : encoder_(this), digest_(EVP_MD_CTX_new()) {
  if (!digest_ || EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr) != 1) {
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

Sha256KeyEncoder::~Sha256KeyEncoder() = default;

void Sha256KeyEncoder::write(ByteSpan bytes) {
  if (EVP_DigestUpdate(digest_.get(), bytes.data(), bytes.size()) != 1) throw std::bad_alloc();
}

Sha256Key Sha256KeyEncoder::finish() {
  encoder_.finish();  // passes the rest of the frame to write()
  Sha256Key key;
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(digest_.get(), key.bytes.data(), &length) != 1 ||
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
