// server/auth.h — who may read or write a namespace.
//
// A request carries at most one credential, a token, either as
//   Authorization: Bearer TOKEN
// or as HTTP Basic with the token as the password (the user name is ignored),
// which is what ccache sends for http://user:TOKEN@host/... and what Gradle's
// `credentials { username; password }` sends. The access a request gets in a
// namespace is the better of the namespace's anonymous access and what its
// token grants there.
//
// Secrets are never stored: each configured token is kept as its SHA-256, and a
// presented token is hashed and compared to every configured digest with
// CRYPTO_memcmp and no early exit, so neither the comparison nor the number of
// tokens checked depends on how much of a guess was right.

#ifndef MEMOKEY_SERVER_AUTH_H_
#define MEMOKEY_SERVER_AUTH_H_

#include <string>
#include <string_view>

#include "config.h"

namespace memokeyd {

struct AuthResult {
  Access access = Access::kNone;  // what the request may do in the namespace
  bool presented = false;         // an Authorization header was sent
  bool valid = false;             // ... and it named a configured token
  const Token* token = nullptr;   // that token (for logs: token->name)
};

class Authenticator {
 public:
  explicit Authenticator(const Config& config) : config_(config) {}

  AuthResult Check(std::string_view authorization, std::string_view ns) const;
  // The namespace's policy (its own entry, else the default).
  const NamespacePolicy& Policy(std::string_view ns) const;

 private:
  const Config& config_;
};

// The token inside an Authorization header value ("Bearer T" or "Basic
// base64(user:T)"); false when the header is neither or malformed.
bool ExtractToken(std::string_view authorization, std::string* token);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_AUTH_H_
