// The SHA-256 key hasher (key_sha256.h), over OpenSSL's EVP interface.

#include "memokey/key_sha256.h"

#include <openssl/evp.h>

#include <new>

namespace memokey {

void Sha256Hasher::DigestFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256Hasher::Sha256Hasher() : digest_(EVP_MD_CTX_new()) {
  if (!digest_) throw std::bad_alloc();
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::OneShot(ByteSpan data, std::uint8_t* out) {
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr) != 1 ||
      length != kDigestBytes) {
    throw std::bad_alloc();
  }
}

void Sha256Hasher::Begin() {
  if (EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}

void Sha256Hasher::Update(ByteSpan data) {
  if (EVP_DigestUpdate(digest_.get(), data.data(), data.size()) != 1) throw std::bad_alloc();
}

void Sha256Hasher::Final(std::uint8_t* out) {
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(digest_.get(), out, &length) != 1 || length != kDigestBytes) {
    throw std::bad_alloc();
  }
}

}  // namespace memokey
