// The value envelope: header, optional zstd, HMAC-SHA256 over key + record.

#include "memokey/envelope.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#define XXH_INLINE_ALL  // header-only use: a label's digest, not a cache key
#include <xxhash.h>

#include "memokey/hex.h"
#include "private_dir.h"
#include "store_internal.h"

namespace memokey {

using store_internal::GetLe64;
using store_internal::PutLe64;

namespace {

constexpr char kMagic[4] = {'M', 'K', 'E', 'V'};
constexpr std::uint8_t kFlagZstd = 1;
constexpr int kZstdLevel = 3;

struct MacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
struct ZstdCCtxFree {
  void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};
struct ZstdDCtxFree {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

// Fetched once: EVP_MAC_fetch is a locked lookup in OpenSSL's provider store.
// Immutable after initialization.
const EVP_MAC* Hmac() {
  static const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

std::string Trim(std::string_view text) {
  const char* ws = " \t\r\n";
  const std::size_t begin = text.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  const std::size_t end = text.find_last_not_of(ws);
  return std::string(text.substr(begin, end - begin + 1));
}

}  // namespace

struct Secret::Prepared {
  MacCtxPtr ctx;
};

// Lets the envelope functions reach Secret's prepared context.
struct EnvelopeAccess {
  static const EVP_MAC_CTX* Context(const Secret& secret) {
    return secret.prepared_ ? secret.prepared_->ctx.get() : nullptr;
  }
};

Secret::Secret(std::string_view bytes) : bytes_(bytes) {
  if (bytes_.empty() || Hmac() == nullptr) return;
  auto prepared = std::make_shared<Prepared>();
  prepared->ctx.reset(EVP_MAC_CTX_new(const_cast<EVP_MAC*>(Hmac())));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (prepared->ctx &&
      EVP_MAC_init(prepared->ctx.get(), reinterpret_cast<const unsigned char*>(bytes_.data()),
                   bytes_.size(), params) == 1) {
    prepared_ = std::move(prepared);
  }
}

Secret::Secret(const Secret& other) : bytes_(other.bytes_), prepared_(other.prepared_) {}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
    prepared_ = other.prepared_;
  }
  return *this;
}

// Moves copy and wipe: a moved-from std::string may keep the characters in its
// small-string buffer.
Secret::Secret(Secret&& other) noexcept
    : bytes_(other.bytes_), prepared_(std::move(other.prepared_)) {
  other.Wipe();
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
    prepared_ = std::move(other.prepared_);
    other.Wipe();
  }
  return *this;
}

Secret::~Secret() { Wipe(); }

void Secret::Wipe() {
  if (bytes_.capacity() > 0) OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
  bytes_.clear();
  prepared_.reset();
}

namespace {

// HMAC-SHA256 over u64 LE key length || key || record.
bool ComputeMac(const Secret& secret, std::string_view key, std::string_view record,
                unsigned char out[kEnvelopeMacBytes]) {
  const EVP_MAC_CTX* prepared = EnvelopeAccess::Context(secret);
  if (prepared == nullptr) return false;
  MacCtxPtr ctx(EVP_MAC_CTX_dup(prepared));
  if (!ctx) return false;
  char key_len[8];
  PutLe64(key_len, key.size());
  std::size_t out_len = 0;
  return EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(key_len), 8) == 1 &&
         EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()),
                        key.size()) == 1 &&
         EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(record.data()),
                        record.size()) == 1 &&
         EVP_MAC_final(ctx.get(), out, &out_len, kEnvelopeMacBytes) == 1 &&
         out_len == kEnvelopeMacBytes;
}

bool ValidCodec(std::uint8_t codec) { return codec <= static_cast<std::uint8_t>(Codec::kPickle5); }

// Well-formed UTF-8: no overlong forms, surrogates or code points past
// U+10FFFF (what Python's strict decoder accepts, so a label always reads back
// as a str).
bool ValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// Where the payload starts and what the label is, from the header only.
// False (with *why) when the bytes cannot be an envelope of a known version.
bool ParseHeader(std::string_view sealed, std::size_t* payload_at, std::string_view* label,
                 std::string* why) {
  if (sealed.size() < kEnvelopeHeaderBytes) {
    *why = std::to_string(sealed.size()) + " bytes is shorter than any envelope";
    return false;
  }
  if (std::memcmp(sealed.data(), kMagic, 4) != 0) {
    *why = "bad magic";
    return false;
  }
  const auto version = static_cast<std::uint8_t>(sealed[4]);
  if (version == kEnvelopeVersion) {
    *payload_at = kEnvelopeHeaderBytes;
    *label = {};
    return true;
  }
  if (version != kEnvelopeLabelledVersion) {
    *why = "unsupported version " + std::to_string(version);
    return false;
  }
  if (sealed.size() < kEnvelopeHeaderBytes + 2) {
    *why = "truncated label length";
    return false;
  }
  const std::size_t m =
      static_cast<unsigned char>(sealed[kEnvelopeHeaderBytes]) |
      (std::size_t{static_cast<unsigned char>(sealed[kEnvelopeHeaderBytes + 1])} << 8);
  if (m > kMaxEnvelopeLabelBytes) {
    *why = "label length " + std::to_string(m) + " exceeds the limit of " +
           std::to_string(kMaxEnvelopeLabelBytes);
    return false;
  }
  if (sealed.size() - (kEnvelopeHeaderBytes + 2) < m) {
    *why = "truncated label";
    return false;
  }
  *payload_at = kEnvelopeHeaderBytes + 2 + m;
  *label = sealed.substr(kEnvelopeHeaderBytes + 2, m);
  return true;
}

}  // namespace

Status SealEnvelope(std::string_view key, Codec codec, std::string_view payload,
                    const Secret& secret, std::string* out, std::size_t compress_threshold,
                    std::string_view label) {
  if (secret.empty()) return Status::Error("envelope: empty secret");
  if (!ValidCodec(static_cast<std::uint8_t>(codec))) {
    return Status::Error("envelope: unknown codec " + std::to_string(static_cast<int>(codec)));
  }
  if (label.size() > kMaxEnvelopeLabelBytes) {
    return Status::Error("envelope: label of " + std::to_string(label.size()) +
                         " bytes exceeds the limit of " + std::to_string(kMaxEnvelopeLabelBytes));
  }
  if (!ValidUtf8(label)) return Status::Error("envelope: label is not UTF-8");
  // Without a label: version 1, the bytes every earlier writer produced.
  const std::size_t header =
      label.empty() ? kEnvelopeHeaderBytes : kEnvelopeHeaderBytes + 2 + label.size();
  std::size_t stored = payload.size();
  bool compressed = false;
  if (!payload.empty() && payload.size() >= compress_threshold) {
    const std::size_t bound = ZSTD_compressBound(payload.size());
    out->resize(header + bound + kEnvelopeMacBytes);
    std::unique_ptr<ZSTD_CCtx, ZstdCCtxFree> cctx(ZSTD_createCCtx());
    if (cctx) {
      const std::size_t n = ZSTD_compressCCtx(cctx.get(), out->data() + header, bound,
                                              payload.data(), payload.size(), kZstdLevel);
      if (!ZSTD_isError(n) && n < payload.size()) {
        stored = n;
        compressed = true;
      }
    }
  }
  out->resize(header + stored + kEnvelopeMacBytes);
  char* p = out->data();
  std::memcpy(p, kMagic, 4);
  p[4] = static_cast<char>(label.empty() ? kEnvelopeVersion : kEnvelopeLabelledVersion);
  p[5] = static_cast<char>(codec);
  p[6] = static_cast<char>(compressed ? kFlagZstd : 0);
  p[7] = 0;
  PutLe64(p + 8, stored);
  PutLe64(p + 16, payload.size());
  if (!label.empty()) {
    p[kEnvelopeHeaderBytes] = static_cast<char>(label.size() & 0xFF);
    p[kEnvelopeHeaderBytes + 1] = static_cast<char>(label.size() >> 8);
    std::memcpy(p + kEnvelopeHeaderBytes + 2, label.data(), label.size());
  }
  if (!compressed && !payload.empty()) {
    std::memcpy(p + header, payload.data(), payload.size());
  }
  auto* mac = reinterpret_cast<unsigned char*>(p + header + stored);
  if (!ComputeMac(secret, key, std::string_view(p, header + stored), mac)) {
    out->clear();
    return Status::IOError("envelope: HMAC-SHA256 unavailable in OpenSSL");
  }
  return Status::Ok();
}

Status OpenEnvelope(std::string_view key, std::string_view sealed, const Secret& secret,
                    Codec* codec, std::string* payload, std::size_t max_payload) {
  std::string label;
  return OpenEnvelope(key, sealed, secret, codec, payload, &label, max_payload);
}

Status OpenEnvelope(std::string_view key, std::string_view sealed, const Secret& secret,
                    Codec* codec, std::string* payload, std::string* label,
                    std::size_t max_payload) {
  if (secret.empty()) return Status::Error("envelope: empty secret");
  if (sealed.size() < kEnvelopeOverhead) {
    return Status::Corruption("envelope: " + std::to_string(sealed.size()) +
                              " bytes is shorter than any envelope");
  }
  std::size_t header = 0;
  std::string_view label_bytes;
  if (std::string why; !ParseHeader(sealed, &header, &label_bytes, &why)) {
    return Status::Corruption("envelope: " + why);
  }
  const char* p = sealed.data();
  const std::uint64_t stored = GetLe64(p + 8);
  if (sealed.size() - header < kEnvelopeMacBytes ||
      stored != sealed.size() - header - kEnvelopeMacBytes) {
    return Status::Corruption("envelope: length field does not match the record (truncated?)");
  }
  // The MAC first: nothing below is interpreted unless the record is authentic.
  std::array<unsigned char, kEnvelopeMacBytes> expected{};
  const std::string_view record = sealed.substr(0, header + stored);
  if (!ComputeMac(secret, key, record, expected.data())) {
    return Status::IOError("envelope: HMAC-SHA256 unavailable in OpenSSL");
  }
  if (CRYPTO_memcmp(expected.data(), p + record.size(), kEnvelopeMacBytes) != 0) {
    return Status::Corruption(
        "envelope: MAC mismatch (altered, for another key, or another secret)");
  }
  // Sealing refuses such labels, so only a holder of the secret could have
  // made one: still refused, since readers rely on labels being text.
  if (!ValidUtf8(label_bytes)) return Status::Corruption("envelope: label is not UTF-8");
  const auto codec_byte = static_cast<std::uint8_t>(p[5]);
  const auto flags = static_cast<std::uint8_t>(p[6]);
  if (!ValidCodec(codec_byte)) {
    return Status::Corruption("envelope: unknown codec " + std::to_string(codec_byte));
  }
  if ((flags & ~kFlagZstd) != 0 || p[7] != 0) {
    return Status::Corruption("envelope: unknown flags");
  }
  const std::uint64_t length = GetLe64(p + 16);
  if (length > max_payload) {
    return Status::Corruption("envelope: payload of " + std::to_string(length) +
                              " bytes exceeds the limit of " + std::to_string(max_payload));
  }
  const std::string_view body = sealed.substr(header, stored);
  if ((flags & kFlagZstd) == 0) {
    if (length != stored) return Status::Corruption("envelope: payload length mismatch");
    payload->assign(body);
  } else {
    // One frame that declares exactly `length` bytes and yields exactly them.
    if (ZSTD_findFrameCompressedSize(body.data(), body.size()) != body.size() ||
        ZSTD_getFrameContentSize(body.data(), body.size()) != length) {
      return Status::Corruption("envelope: malformed zstd frame");
    }
    payload->resize(length);
    std::unique_ptr<ZSTD_DCtx, ZstdDCtxFree> dctx(ZSTD_createDCtx());
    if (!dctx) return Status::IOError("envelope: cannot allocate a zstd context");
    const std::size_t n =
        ZSTD_decompressDCtx(dctx.get(), payload->data(), length, body.data(), body.size());
    if (ZSTD_isError(n) || n != length) {
      payload->clear();
      return Status::Corruption("envelope: zstd frame does not decompress to its length");
    }
  }
  *codec = static_cast<Codec>(codec_byte);
  label->assign(label_bytes);
  return Status::Ok();
}

bool PeekEnvelopeLabel(std::string_view head, std::string* label) {
  std::size_t header = 0;
  std::string_view label_bytes;
  std::string why;
  if (!ParseHeader(head, &header, &label_bytes, &why) || !ValidUtf8(label_bytes)) return false;
  label->assign(label_bytes);
  return true;
}

std::string FunctionLabel(const std::optional<std::string>& key_namespace, std::string_view name) {
  std::string label;
  if (key_namespace) {
    label.reserve(key_namespace->size() + 1 + name.size());
    label += *key_namespace;
    label += '\x1f';
  }
  label += name;
  if (label.size() <= kMaxEnvelopeLabelBytes && ValidUtf8(label)) return label;
  // Too long (or, from C++, not text): a readable prefix and a digest of the
  // whole, so that two long names with a common prefix stay apart.
  const std::uint64_t digest = XXH3_64bits(label.data(), label.size());
  std::string tail = "~";
  for (int shift = 60; shift >= 0; shift -= 4) tail += kHexDigits[(digest >> shift) & 15];
  std::size_t keep = std::min(label.size(), kMaxEnvelopeLabelBytes - tail.size());
  // Whole characters only: back off continuation bytes, then check the rest.
  while (keep > 0 && (static_cast<unsigned char>(label[keep]) & 0xC0) == 0x80) --keep;
  while (keep > 0 && !ValidUtf8(std::string_view(label).substr(0, keep))) --keep;
  label.resize(keep);
  label += tail;
  return label;
}

// --- secrets ---------------------------------------------------------------------

namespace {

Status SecretFromText(std::string_view text, std::string_view source, Secret* out) {
  std::string trimmed = Trim(text);
  if (trimmed.size() < kMinSecretBytes) {
    OPENSSL_cleanse(trimmed.data(), trimmed.size());
    return Status::Error(std::string(source) + ": a secret needs at least " +
                         std::to_string(kMinSecretBytes) + " bytes");
  }
  *out = Secret(trimmed);
  OPENSSL_cleanse(trimmed.data(), trimmed.size());
  return Status::Ok();
}

std::string Errno(std::string_view what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

// The directory holding the key file, created if missing.
Status SecretDir(std::string* dir) {
  std::string base;
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') {  // XDG: relative values are to be ignored
    base = xdg;
  } else {
    const char* home = std::getenv("HOME");
    std::string home_dir = home != nullptr && home[0] == '/' ? home : "";
    if (home_dir.empty()) {
      std::vector<char> buf(16384);
      passwd pw{};
      passwd* found = nullptr;
      if (getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
          found->pw_dir != nullptr) {
        home_dir = found->pw_dir;
      }
    }
    if (home_dir.empty()) {
      return Status::IOError("secret: no MEMOKEY_SECRET, XDG_CONFIG_HOME or home directory");
    }
    base = home_dir + "/.config";
  }
  *dir = base + "/memokey";
  return store_internal::MakePrivateDirs(*dir, "secret");
}

struct FdCloser {
  int fd = -1;
  explicit FdCloser(int f) : fd(f) {}
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
};

// NotFound when the file does not exist.
Status ReadSecretFile(const std::string& path, Secret* out) {
  FdCloser file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (file.fd < 0) {
    if (errno == ENOENT) return Status::NotFound();
    return Status::IOError(Errno("secret: cannot open", path));
  }
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return Status::IOError(Errno("secret: cannot stat", path));
  if (!S_ISREG(st.st_mode)) return Status::IOError("secret: " + path + " is not a regular file");
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return Status::IOError("secret: " + path +
                           " must belong to this user with mode 0600 (chmod 600 it)");
  }
  std::string text(4096, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = ::read(file.fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(Errno("secret: cannot read", path));
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  text.resize(used);
  Status s = SecretFromText(text, path, out);
  OPENSSL_cleanse(text.data(), text.size());
  return s;
}

// Writes a fresh secret to a private temporary file and links it into place.
// link(2), unlike rename(2), fails when the target exists: of processes racing
// to create the secret exactly one wins, and every one then reads the winner's.
Status CreateSecretFile(const std::string& dir, const std::string& path) {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) {
    return Status::IOError("secret: OpenSSL RAND_bytes failed");
  }
  std::string text = ToHex(random);
  text += '\n';
  OPENSSL_cleanse(random, sizeof random);
  unsigned char suffix[8];
  RAND_bytes(suffix, sizeof suffix);
  std::string tmp = dir + "/.secret.tmp." + std::to_string(::getpid()) + ".";
  AppendHex(tmp, suffix);
  Status result;
  {
    FdCloser file(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (file.fd < 0) {
      OPENSSL_cleanse(text.data(), text.size());
      return Status::IOError(Errno("secret: cannot create", tmp));
    }
    std::size_t done = 0;
    while (done < text.size() && result.ok()) {
      const ssize_t n = ::write(file.fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        result = Status::IOError(Errno("secret: cannot write", tmp));
      } else {
        done += static_cast<std::size_t>(n);
      }
    }
    if (result.ok() && ::fsync(file.fd) != 0) {
      result = Status::IOError(Errno("secret: cannot sync", tmp));
    }
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (result.ok() && ::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
    result = Status::IOError(Errno("secret: cannot link", path));
  }
  ::unlink(tmp.c_str());
  return result;
}

}  // namespace

Status LoadSecret(std::optional<std::string_view> configured, Secret* out) {
  if (configured) return SecretFromText(*configured, "configured secret", out);
  if (const char* env = std::getenv("MEMOKEY_SECRET"); env != nullptr && env[0] != '\0') {
    return SecretFromText(env, "MEMOKEY_SECRET", out);
  }
  std::string dir;
  if (Status s = SecretDir(&dir); !s.ok()) return s;
  const std::string path = dir + "/secret";
  for (int attempt = 0; attempt < 3; ++attempt) {
    Status s = ReadSecretFile(path, out);
    if (!s.IsNotFound()) return s;
    if (s = CreateSecretFile(dir, path); !s.ok()) return s;
  }
  return Status::IOError("secret: " + path + " vanished while being created");
}

}  // namespace memokey
