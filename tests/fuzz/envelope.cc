// Fuzz target: the signed value envelope (memokey::OpenEnvelope / SealEnvelope).
//
// The first input byte picks a mode:
//   even  the rest is a stored value to open, under a fixed key and secret:
//         no crash; anything that opens must be a value whose re-seal is
//         byte-identical (so no unsigned input is ever accepted as a value,
//         which with a random secret would be a MAC forgery).
//   odd   the rest is split into key and payload and sealed (codec, label --
//         none, or one derived from the key: versions 1 and 2 -- and
//         compression threshold from the input): it must open under the same
//         key and secret to the same codec, payload and label; under another
//         key, or with any one byte flipped, or truncated, it must be
//         Corruption.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "memokey/envelope.h"

namespace {

const memokey::Secret& FixedSecret() {
  static const memokey::Secret secret("memokey-fuzz-secret-0123456789abcdef");
  return secret;
}

constexpr std::size_t kMaxPayload = std::size_t{1} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view rest = memokey_fuzz::Text(data + 1, size - 1);
  const memokey::Secret& secret = FixedSecret();

  if ((mode & 1) == 0) {
    memokey::Codec codec{};
    std::string payload;
    std::string label;
    const memokey::Status status =
        memokey::OpenEnvelope("fuzz/key", rest, secret, &codec, &payload, &label, kMaxPayload);
    std::string peeked;
    if (memokey::PeekEnvelopeLabel(rest, &peeked)) {
      FUZZ_CHECK(peeked.size() <= memokey::kMaxEnvelopeLabelBytes);
    }
    if (status.ok()) {
      // Only sealed values open: the input must be what sealing produces
      // (compressed or not, so try both thresholds), label included.
      FUZZ_CHECK(memokey::PeekEnvelopeLabel(rest, &peeked) && peeked == label);
      std::string plain;
      std::string packed;
      FUZZ_CHECK(memokey::SealEnvelope("fuzz/key", codec, payload, secret, &plain,
                                       std::string::npos, label)
                     .ok());
      FUZZ_CHECK(
          memokey::SealEnvelope("fuzz/key", codec, payload, secret, &packed, 0, label).ok());
      FUZZ_CHECK(rest == plain || rest == packed);
    } else {
      FUZZ_CHECK(status.code() == memokey::Status::Code::kCorruption);
    }
    return 0;
  }

  // Seal and reopen. Layout: [mode][codec][threshold][key_len][key...][payload...]
  if (rest.size() < 3) return 0;
  const auto codec = static_cast<memokey::Codec>(static_cast<std::uint8_t>(rest[0]) % 3);
  const std::size_t threshold = static_cast<std::uint8_t>(rest[1]) * std::size_t{16};
  const std::size_t key_len = 1 + static_cast<std::uint8_t>(rest[2]) % 64;
  const std::string_view body = rest.substr(3);
  const std::string key(body.substr(0, key_len));
  const std::string_view payload = body.substr(std::min(key_len, body.size()));
  // The codec byte's top bit asks for a label: the key spelled in letters.
  std::string label;
  if ((static_cast<std::uint8_t>(rest[0]) & 0x80) != 0) {
    for (char c : key) label += static_cast<char>('a' + static_cast<std::uint8_t>(c) % 26);
  }

  std::string sealed;
  FUZZ_CHECK(
      memokey::SealEnvelope(key, codec, payload, secret, &sealed, threshold, label).ok());
  FUZZ_CHECK(sealed.size() >= memokey::kEnvelopeOverhead + (label.empty() ? 0 : 2 + label.size()));

  memokey::Codec got_codec{};
  std::string got;
  std::string got_label;
  FUZZ_CHECK(memokey::OpenEnvelope(key, sealed, secret, &got_codec, &got, &got_label).ok());
  FUZZ_CHECK(got_codec == codec && got == payload && got_label == label);
  std::string peeked;
  FUZZ_CHECK(memokey::PeekEnvelopeLabel(sealed, &peeked) && peeked == label);

  // Another key: a value copied under another key is never accepted.
  FUZZ_CHECK(memokey::OpenEnvelope(key + "x", sealed, secret, &got_codec, &got).code() ==
             memokey::Status::Code::kCorruption);
  // Another secret.
  const memokey::Secret other("another-secret-0123456789abcdef");
  FUZZ_CHECK(memokey::OpenEnvelope(key, sealed, other, &got_codec, &got).code() ==
             memokey::Status::Code::kCorruption);
  // One flipped bit, at a position the input chooses.
  std::string flipped = sealed;
  const std::size_t at = (payload.empty() ? 0 : static_cast<std::uint8_t>(payload[0])) * 131u %
                         flipped.size();
  flipped[at] = static_cast<char>(flipped[at] ^ (1 << (size % 8)));
  FUZZ_CHECK(memokey::OpenEnvelope(key, flipped, secret, &got_codec, &got).code() ==
             memokey::Status::Code::kCorruption);
  // Truncated.
  FUZZ_CHECK(memokey::OpenEnvelope(key, std::string_view(sealed).substr(0, sealed.size() - 1),
                                   secret, &got_codec, &got)
                 .code() == memokey::Status::Code::kCorruption);
  return 0;
}
