// server/auth.cc — token checks (see auth.h).

#include "auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace memokeyd {

namespace {

bool SchemeIs(std::string_view value, std::string_view scheme, std::string_view* rest) {
  if (value.size() <= scheme.size() || value[scheme.size()] != ' ') return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return false;
  }
  std::string_view r = value.substr(scheme.size() + 1);
  while (!r.empty() && r.front() == ' ') r.remove_prefix(1);
  while (!r.empty() && r.back() == ' ') r.remove_suffix(1);
  *rest = r;
  return true;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with optional padding; false on anything else.
bool DecodeBase64(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  out->clear();
  out->reserve(in.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    const int v = Base64Value(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out->push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return true;
}

}  // namespace

bool ExtractToken(std::string_view authorization, std::string* token) {
  std::string_view rest;
  if (SchemeIs(authorization, "bearer", &rest)) {
    if (rest.empty()) return false;
    token->assign(rest);
    return true;
  }
  if (SchemeIs(authorization, "basic", &rest)) {
    std::string decoded;
    if (!DecodeBase64(rest, &decoded)) return false;
    const std::size_t colon = decoded.find(':');
    if (colon == std::string::npos) return false;
    token->assign(decoded, colon + 1);
    return !token->empty();
  }
  return false;
}

const NamespacePolicy& Authenticator::Policy(std::string_view ns) const {
  auto it = config_.namespaces.find(ns);
  return it == config_.namespaces.end() ? config_.default_policy : it->second;
}

AuthResult Authenticator::Check(std::string_view authorization, std::string_view ns) const {
  AuthResult result;
  const Access anonymous = Policy(ns).anonymous;
  if (authorization.empty()) {
    result.access = anonymous;
    return result;
  }
  result.presented = true;
  std::string token;
  if (!ExtractToken(authorization, &token)) return result;  // malformed: invalid, no access

  const std::array<unsigned char, 32> digest = Sha256(token);
  OPENSSL_cleanse(token.data(), token.size());
  // Every configured token is compared, whatever matched earlier.
  const Token* match = nullptr;
  for (const Token& candidate : config_.tokens) {
    const bool equal = CRYPTO_memcmp(candidate.sha256.data(), digest.data(), digest.size()) == 0;
    if (equal) match = &candidate;
  }
  if (match == nullptr) return result;

  result.valid = true;
  result.token = match;
  Access granted = Access::kNone;
  for (const std::string& allowed : match->namespaces) {
    if (allowed == "*" || allowed == ns) {
      granted = match->access;
      break;
    }
  }
  result.access = std::max(granted, anonymous);
  return result;
}

}  // namespace memokeyd
