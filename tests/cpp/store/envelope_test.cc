// The value envelope: round trips, every kind of tampering is Corruption,
// decompression is bounded, and the per-user secret file.

#include "memokey/envelope.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "store_test_util.h"

namespace {

using memokey::Codec;
using memokey::LoadSecret;
using memokey::OpenEnvelope;
using memokey::SealEnvelope;
using memokey::Secret;
using memokey::Status;
using memokey_store_test::ChildSucceeded;
using memokey_store_test::MakeValue;
using memokey_store_test::ModeOf;
using memokey_store_test::TempDir;

const Secret& TestSecret() {
  static const Secret secret("a test secret of enough length");
  return secret;
}

std::string Seal(std::string_view key, std::string_view payload, Codec codec = Codec::kRaw,
                 std::size_t threshold = memokey::kDefaultCompressThreshold) {
  std::string out;
  Status s = SealEnvelope(key, codec, payload, TestSecret(), &out, threshold);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

Status Open(std::string_view key, std::string_view sealed, std::string* payload,
            Codec* codec = nullptr, std::size_t max_payload = memokey::kDefaultMaxPayload) {
  Codec ignored;
  return OpenEnvelope(key, sealed, TestSecret(), codec != nullptr ? codec : &ignored, payload,
                      max_payload);
}

std::string Compressible(std::size_t size) {
  std::string out;
  while (out.size() < size) out += "memokey value " + std::to_string(out.size() % 97) + "; ";
  out.resize(size);
  return out;
}

TEST(Envelope, RoundTripsEveryCodec) {
  for (Codec codec : {Codec::kRaw, Codec::kCbor, Codec::kPickle5}) {
    for (const std::string& payload :
         {std::string(), std::string("x"), std::string("\0\1\2", 3), Compressible(5000)}) {
      const std::string sealed = Seal("key", payload, codec);
      std::string got;
      Codec got_codec = Codec::kRaw;
      ASSERT_TRUE(Open("key", sealed, &got, &got_codec).ok());
      EXPECT_EQ(got, payload);
      EXPECT_EQ(got_codec, codec);
    }
  }
}

TEST(Envelope, LayoutAndCompression) {
  const std::string small = Seal("k", "hello");
  ASSERT_EQ(small.size(), memokey::kEnvelopeOverhead + 5);
  EXPECT_EQ(small.substr(0, 4), "MKEV");
  EXPECT_EQ(small[4], 1);  // version
  EXPECT_EQ(small[5], 0);  // raw
  EXPECT_EQ(small[6], 0);  // not compressed
  EXPECT_EQ(small.substr(24, 5), "hello");

  const std::string text = Compressible(100 * 1024);
  const std::string packed = Seal("k", text, Codec::kCbor);
  EXPECT_EQ(packed[6], 1);
  EXPECT_LT(packed.size(), text.size() / 4);
  std::string got;
  ASSERT_TRUE(Open("k", packed, &got).ok());
  EXPECT_TRUE(got == text);

  // Below the threshold, or when zstd does not shrink it: stored as is.
  EXPECT_EQ(Seal("k", text, Codec::kRaw, text.size() + 1)[6], 0);
  const std::string noise = MakeValue(99, 100 * 1024);
  const std::string sealed_noise = Seal("k", noise);
  EXPECT_EQ(sealed_noise[6], 0);
  EXPECT_EQ(sealed_noise.size(), noise.size() + memokey::kEnvelopeOverhead);
}

TEST(Envelope, EveryFlippedBitIsCorruption) {
  for (const std::string& sealed :
       {Seal("key", "a small payload"), Seal("key", Compressible(3000), Codec::kRaw, 1024)}) {
    std::string got;
    ASSERT_TRUE(Open("key", sealed, &got).ok());
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      for (int mask : {0x01, 0x80}) {
        std::string bad = sealed;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        Status s = Open("key", bad, &got);
        ASSERT_EQ(s.code(), Status::Code::kCorruption) << "byte " << i << " mask " << mask;
      }
    }
  }
}

TEST(Envelope, TruncatedOrExtendedIsCorruption) {
  const std::string sealed = Seal("key", Compressible(2000), Codec::kRaw, 1024);
  std::string got;
  for (std::size_t n = 0; n < sealed.size(); ++n) {
    ASSERT_EQ(Open("key", sealed.substr(0, n), &got).code(), Status::Code::kCorruption) << n;
  }
  EXPECT_EQ(Open("key", sealed + "x", &got).code(), Status::Code::kCorruption);
}

TEST(Envelope, ValueUnderAnotherKeyIsCorruption) {
  const std::string a = Seal("key-a", "value a");
  const std::string b = Seal("key-b", "value b");
  std::string got;
  EXPECT_EQ(Open("key-b", a, &got).code(), Status::Code::kCorruption);
  EXPECT_EQ(Open("key-a", b, &got).code(), Status::Code::kCorruption);
  // The key length is part of the MAC input: no shifting bytes between the
  // key and the record.
  EXPECT_EQ(Open("key-", a, &got).code(), Status::Code::kCorruption);
  ASSERT_TRUE(Open("key-a", a, &got).ok());
  EXPECT_EQ(got, "value a");
}

TEST(Envelope, OtherSecretIsCorruption) {
  const std::string sealed = Seal("k", "v");
  Secret other("another secret, also long enough");
  std::string got;
  Codec codec;
  EXPECT_EQ(OpenEnvelope("k", sealed, other, &codec, &got).code(), Status::Code::kCorruption);
  const Secret copy = TestSecret();  // copies verify the same
  EXPECT_TRUE(OpenEnvelope("k", sealed, copy, &codec, &got).ok());
  Secret moved = Secret(TestSecret());
  EXPECT_TRUE(OpenEnvelope("k", sealed, moved, &codec, &got).ok());
}

TEST(Envelope, OneSecretManyThreads) {
  const Secret secret("shared by every thread here");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string sealed, payload;
      Codec codec;
      for (int i = 0; i < 300; ++i) {
        const std::string key = "k" + std::to_string(t) + "/" + std::to_string(i);
        const std::string value = MakeValue(static_cast<std::uint64_t>(i), 16 + i * 20);
        if (!SealEnvelope(key, Codec::kCbor, value, secret, &sealed, 512).ok() ||
            !OpenEnvelope(key, sealed, secret, &codec, &payload).ok() || payload != value) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Envelope, BadArguments) {
  std::string out;
  EXPECT_EQ(SealEnvelope("k", Codec::kRaw, "v", Secret(), &out).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(SealEnvelope("k", static_cast<Codec>(7), "v", TestSecret(), &out).code(),
            Status::Code::kInvalidArgument);
  Codec codec;
  EXPECT_EQ(OpenEnvelope("k", Seal("k", "v"), Secret(), &codec, &out).code(),
            Status::Code::kInvalidArgument);
}

TEST(Envelope, DecompressedSizeIsBounded) {
  // 64 MiB of zeros seal to a few KiB.
  const std::string zeros(64 << 20, '\0');
  const std::string sealed = Seal("k", zeros);
  ASSERT_LT(sealed.size(), 64u * 1024);
  std::string got;
  Status s = Open("k", sealed, &got, nullptr, 1 << 20);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("limit"), std::string::npos) << s.message();
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(Open("k", sealed, &got).ok());
  EXPECT_EQ(got.size(), zeros.size());
}

// Even with the secret, a record whose length field understates its zstd
// frame is refused before anything larger than the stated length is written.
TEST(Envelope, FrameLargerThanItsLengthFieldIsCorruption) {
  const std::string text = Compressible(1 << 20);
  std::string frame(ZSTD_compressBound(text.size()), '\0');
  frame.resize(ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 3));
  for (std::uint64_t claimed : {std::uint64_t{1000}, std::uint64_t{(1 << 20) + 1}}) {
    std::string record = "MKEV";
    record += std::string("\x01\x00\x01\x00", 4);
    for (std::uint64_t v : {std::uint64_t{frame.size()}, claimed}) {
      for (int i = 0; i < 8; ++i) record += static_cast<char>(v >> (8 * i));
    }
    record += frame;
    std::string mac_input;
    for (int i = 0; i < 8; ++i) mac_input += static_cast<char>(std::uint64_t{1} >> (8 * i));
    mac_input += "k" + record;
    unsigned char mac[32];
    unsigned int mac_len = 0;
    const std::string_view secret = TestSecret().bytes();
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(mac_input.data()), mac_input.size(), mac, &mac_len);
    record.append(reinterpret_cast<const char*>(mac), mac_len);
    std::string got;
    EXPECT_EQ(Open("k", record, &got).code(), Status::Code::kCorruption) << claimed;
  }
}

// --- labels (version 2) -------------------------------------------------------

std::string SealLabelled(std::string_view key, std::string_view payload, std::string_view label,
                         std::size_t threshold = memokey::kDefaultCompressThreshold) {
  std::string out;
  Status s = SealEnvelope(key, Codec::kCbor, payload, TestSecret(), &out, threshold, label);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// A record (header, label, payload) with a valid MAC for `key`, built here
// rather than by SealEnvelope: what a holder of the secret could write.
std::string WithMac(std::string_view key, std::string record) {
  std::string mac_input;
  for (int i = 0; i < 8; ++i) mac_input += static_cast<char>(std::uint64_t{key.size()} >> (8 * i));
  mac_input += key;
  mac_input += record;
  unsigned char mac[32];
  unsigned int mac_len = 0;
  const std::string_view secret = TestSecret().bytes();
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(mac_input.data()), mac_input.size(), mac, &mac_len);
  record.append(reinterpret_cast<const char*>(mac), mac_len);
  return record;
}

// The 24-byte header of an uncompressed raw payload of n bytes.
std::string Header(std::uint8_t version, std::uint64_t n) {
  std::string h = "MKEV";
  h += static_cast<char>(version);
  h += std::string("\x00\x00\x00", 3);
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 8; ++i) h += static_cast<char>(n >> (8 * i));
  }
  return h;
}

std::string LabelField(std::string_view label) {
  std::string f;
  f += static_cast<char>(label.size() & 0xFF);
  f += static_cast<char>(label.size() >> 8);
  f += label;
  return f;
}

Status OpenLabelled(std::string_view key, std::string_view sealed, std::string* payload,
                    std::string* label) {
  Codec codec;
  return OpenEnvelope(key, sealed, TestSecret(), &codec, payload, label);
}

TEST(EnvelopeLabel, RoundTripsAndLayout) {
  const std::string label = "sim\x1fmodels.fit:train";
  for (const std::string& payload : {std::string(), std::string("hello"), Compressible(5000)}) {
    const std::string sealed = SealLabelled("key", payload, label);
    EXPECT_EQ(sealed.substr(0, 4), "MKEV");
    EXPECT_EQ(sealed[4], 2);  // labelled version
    EXPECT_EQ(sealed.substr(24, 2 + label.size()), LabelField(label));
    std::string got, got_label;
    ASSERT_TRUE(OpenLabelled("key", sealed, &got, &got_label).ok());
    EXPECT_TRUE(got == payload);
    EXPECT_EQ(got_label, label);
    std::string peeked;
    ASSERT_TRUE(memokey::PeekEnvelopeLabel(sealed, &peeked));
    EXPECT_EQ(peeked, label);
    // The label-less OpenEnvelope opens it too.
    ASSERT_TRUE(Open("key", sealed, &got).ok());
    EXPECT_TRUE(got == payload);
  }
  const std::string small = SealLabelled("k", "hello", label);
  EXPECT_EQ(small.size(), memokey::kEnvelopeOverhead + 2 + label.size() + 5);
  EXPECT_EQ(small.substr(26 + label.size(), 5), "hello");
  // A label of the maximal length.
  const std::string longest(memokey::kMaxEnvelopeLabelBytes, 'n');
  std::string got, got_label;
  ASSERT_TRUE(OpenLabelled("k", SealLabelled("k", "v", longest), &got, &got_label).ok());
  EXPECT_EQ(got_label, longest);
}

TEST(EnvelopeLabel, NoLabelWritesVersionOneByteForByte) {
  std::string with_empty;
  ASSERT_TRUE(SealEnvelope("k", Codec::kRaw, "hello", TestSecret(), &with_empty,
                           memokey::kDefaultCompressThreshold, "")
                  .ok());
  EXPECT_EQ(with_empty, Seal("k", "hello"));
  EXPECT_EQ(with_empty, WithMac("k", Header(1, 5) + "hello"));
  std::string got, label = "stale";
  ASSERT_TRUE(OpenLabelled("k", with_empty, &got, &label).ok());
  EXPECT_EQ(label, "");
  ASSERT_TRUE(memokey::PeekEnvelopeLabel(with_empty, &label));
  EXPECT_EQ(label, "");
}

// Version 1 records as writers before labels made them (built by hand, not
// by today's SealEnvelope) still open.
TEST(EnvelopeLabel, VersionOneStillOpens) {
  const std::string v1 = WithMac("old-key", Header(1, 9) + "old value");
  std::string got, label = "x";
  ASSERT_TRUE(OpenLabelled("old-key", v1, &got, &label).ok());
  EXPECT_EQ(got, "old value");
  EXPECT_EQ(label, "");
  ASSERT_TRUE(Open("old-key", v1, &got).ok());
}

TEST(EnvelopeLabel, TamperedLabelIsCorruption) {
  const std::string label = "ns\x1fmod:f";
  const std::string sealed = SealLabelled("key", "payload", label);
  std::string got, got_label;
  ASSERT_TRUE(OpenLabelled("key", sealed, &got, &got_label).ok());
  // Every bit of the length field and the label.
  for (std::size_t i = 24; i < 26 + label.size(); ++i) {
    for (int mask : {0x01, 0x20, 0x80}) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_EQ(OpenLabelled("key", bad, &got, &got_label).code(), Status::Code::kCorruption)
          << "byte " << i << " mask " << mask;
    }
  }
  // Another function's label of the same length, MAC left as it was: the
  // peek (unauthenticated) believes it, OpenEnvelope does not.
  std::string swapped = sealed;
  swapped.replace(26, label.size(), "ns\x1fmod:g");
  std::string peeked;
  ASSERT_TRUE(memokey::PeekEnvelopeLabel(swapped, &peeked));
  EXPECT_EQ(peeked, "ns\x1fmod:g");
  EXPECT_EQ(OpenLabelled("key", swapped, &got, &got_label).code(), Status::Code::kCorruption);
  // Dropping the label (back to version 1 with the same MAC) fails too.
  std::string dropped = sealed;
  dropped.erase(24, 2 + label.size());
  dropped[4] = 1;
  EXPECT_EQ(OpenLabelled("key", dropped, &got, &got_label).code(), Status::Code::kCorruption);
}

TEST(EnvelopeLabel, EveryFlippedBitIsCorruption) {
  for (const std::string& sealed : {SealLabelled("key", "a small payload", "f"),
                                    SealLabelled("key", Compressible(3000), "g", 1024)}) {
    std::string got, label;
    ASSERT_TRUE(OpenLabelled("key", sealed, &got, &label).ok());
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      std::string bad = sealed;
      bad[i] = static_cast<char>(bad[i] ^ 0x04);
      ASSERT_EQ(OpenLabelled("key", bad, &got, &label).code(), Status::Code::kCorruption) << i;
    }
  }
}

TEST(EnvelopeLabel, OversizeOrNonTextLabelIsRefused) {
  std::string out = "untouched";
  const std::string too_long(memokey::kMaxEnvelopeLabelBytes + 1, 'n');
  Status s = SealEnvelope("k", Codec::kRaw, "v", TestSecret(), &out, 1024, too_long);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("exceeds the limit of 255"), std::string::npos) << s.message();
  for (const std::string& bad : {std::string("\xff"), std::string("a\xc3"),
                                 std::string("\xed\xa0\x80"), std::string("\xc0\xaf")}) {
    s = SealEnvelope("k", Codec::kRaw, "v", TestSecret(), &out, 1024, bad);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("UTF-8"), std::string::npos) << s.message();
  }
  // Multi-byte text is fine.
  EXPECT_TRUE(
      SealEnvelope("k", Codec::kRaw, "v", TestSecret(), &out, 1024, "f\xc3\xa9\xe2\x82\xac").ok());
}

// Records with a valid MAC whose label field is out of bounds are refused
// without reading past the record.
TEST(EnvelopeLabel, MalformedLabelledHeaderIsCorruption) {
  std::string got, label;
  // Length field above the limit.
  const std::string long_label(300, 'n');
  Status s =
      OpenLabelled("k", WithMac("k", Header(2, 1) + LabelField(long_label) + "v"), &got, &label);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("label length"), std::string::npos) << s.message();
  // Length field past the end of the record.
  std::string past = Header(2, 0) + LabelField("abc");
  past[24] = 100;
  EXPECT_EQ(OpenLabelled("k", WithMac("k", past), &got, &label).code(), Status::Code::kCorruption);
  // Not UTF-8, though sealed with the secret.
  EXPECT_EQ(
      OpenLabelled("k", WithMac("k", Header(2, 1) + LabelField("\xff") + "v"), &got, &label).code(),
      Status::Code::kCorruption);
  // Unknown version.
  EXPECT_EQ(OpenLabelled("k", WithMac("k", Header(3, 1) + "v"), &got, &label).code(),
            Status::Code::kCorruption);
  std::string peeked;
  EXPECT_FALSE(memokey::PeekEnvelopeLabel(Header(3, 1) + "v", &peeked));
  EXPECT_FALSE(memokey::PeekEnvelopeLabel(Header(2, 1) + LabelField(long_label), &peeked));
  EXPECT_FALSE(memokey::PeekEnvelopeLabel(Header(2, 1) + LabelField("\xff"), &peeked));
  EXPECT_FALSE(memokey::PeekEnvelopeLabel("not an envelope at all, no", &peeked));
}

TEST(EnvelopeLabel, TruncatedIsCorruptionAndPeekNeedsTheLabel) {
  const std::string label = "a label";
  const std::string sealed = SealLabelled("key", Compressible(2000), label, 100);
  std::string got, got_label, peeked;
  for (std::size_t n = 0; n < sealed.size(); ++n) {
    const std::string_view prefix = std::string_view(sealed).substr(0, n);
    ASSERT_EQ(OpenLabelled("key", prefix, &got, &got_label).code(), Status::Code::kCorruption) << n;
    const bool whole_label = n >= 26 + label.size();
    ASSERT_EQ(memokey::PeekEnvelopeLabel(prefix, &peeked), whole_label) << n;
    if (whole_label) {
      ASSERT_EQ(peeked, label);
    }
  }
  EXPECT_EQ(OpenLabelled("key", sealed + "x", &got, &got_label).code(), Status::Code::kCorruption);
  // kEnvelopePeekBytes of a large value are enough.
  const std::string longest(memokey::kMaxEnvelopeLabelBytes, 'z');
  const std::string big = SealLabelled("key", MakeValue(5, 10000), longest);
  ASSERT_TRUE(memokey::PeekEnvelopeLabel(big.substr(0, memokey::kEnvelopePeekBytes), &peeked));
  EXPECT_EQ(peeked, longest);
}

TEST(EnvelopeLabel, FunctionLabel) {
  using memokey::FunctionLabel;
  EXPECT_EQ(FunctionLabel(std::nullopt, "mod:f"), "mod:f");
  EXPECT_EQ(FunctionLabel(std::string("sim"), "mod:f"), "sim\x1fmod:f");
  EXPECT_EQ(FunctionLabel(std::string(""), "mod:f"), "\x1fmod:f");
  // Too long: a prefix of whole characters, "~" and a digest of the whole.
  const std::string long_a = std::string(300, 'a') + "\xc3\xa9" + "one";
  const std::string long_b = std::string(300, 'a') + "\xc3\xa9" + "two";
  const std::string la = FunctionLabel(std::string("ns"), long_a);
  const std::string lb = FunctionLabel(std::string("ns"), long_b);
  EXPECT_LE(la.size(), memokey::kMaxEnvelopeLabelBytes);
  EXPECT_NE(la, lb);
  EXPECT_EQ(la.substr(0, 3), "ns\x1f");
  EXPECT_EQ(la[la.size() - 17], '~');
  EXPECT_EQ(la, FunctionLabel(std::string("ns"), long_a));  // stable
  // Cut inside a multi-byte character: the whole character goes.
  const std::string accents = [] {
    std::string s;
    for (int i = 0; i < 200; ++i) s += "\xc3\xa9";
    return s;
  }();
  const std::string lc = FunctionLabel(std::nullopt, accents);
  std::string out;
  EXPECT_TRUE(SealEnvelope("k", Codec::kRaw, "v", TestSecret(), &out, 1024, lc).ok()) << lc;
  EXPECT_EQ(lc.size() % 2, 1u);  // 2-byte characters, then "~" + 16 hex digits
}

// --- secrets ------------------------------------------------------------------

class SecretTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Save("XDG_CONFIG_HOME");
    Save("MEMOKEY_SECRET");
    Save("HOME");
    ::setenv("XDG_CONFIG_HOME", (home_ / "config").c_str(), 1);
    ::setenv("HOME", home_.path().c_str(), 1);
    ::unsetenv("MEMOKEY_SECRET");
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void Save(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    saved_.emplace_back(name, value != nullptr ? std::optional<std::string>(value) : std::nullopt);
  }
  std::string SecretPath() const { return home_ / "config/memokey/secret"; }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  TempDir home_;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(SecretTest, ConfiguredAndEnvironment) {
  Secret secret;
  EXPECT_EQ(LoadSecret("too short", &secret).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(LoadSecret("  configured secret value  \n", &secret).ok());
  EXPECT_EQ(secret.bytes(), "configured secret value");
  ::setenv("MEMOKEY_SECRET", "secret from the environment", 1);
  ASSERT_TRUE(LoadSecret(std::nullopt, &secret).ok());
  EXPECT_EQ(secret.bytes(), "secret from the environment");
  ASSERT_TRUE(LoadSecret("configured wins over env", &secret).ok());
  EXPECT_EQ(secret.bytes(), "configured wins over env");
  EXPECT_FALSE(std::filesystem::exists(SecretPath()));
}

TEST_F(SecretTest, FileIsCreatedPrivateAndReused) {
  Secret first;
  ASSERT_TRUE(LoadSecret(std::nullopt, &first).ok());
  EXPECT_EQ(first.bytes().size(), 64u);  // 32 random bytes in hex
  EXPECT_EQ(ModeOf(SecretPath()), 0600u);
  EXPECT_EQ(ModeOf(home_ / "config/memokey"), 0700u);
  EXPECT_EQ(ReadAll(SecretPath()), std::string(first.bytes()) + "\n");
  Secret second;
  ASSERT_TRUE(LoadSecret(std::nullopt, &second).ok());
  EXPECT_EQ(first.bytes(), second.bytes());
  // Nothing left behind but the secret.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(home_ / "config/memokey")) {
    static_cast<void>(entry);
    ++files;
  }
  EXPECT_EQ(files, 1);

  // The default location without XDG_CONFIG_HOME.
  ::unsetenv("XDG_CONFIG_HOME");
  Secret third;
  ASSERT_TRUE(LoadSecret(std::nullopt, &third).ok());
  EXPECT_TRUE(std::filesystem::exists(home_ / ".config/memokey/secret"));
  EXPECT_NE(third.bytes(), first.bytes());
}

TEST_F(SecretTest, ReadableByOthersIsRefused) {
  Secret secret;
  ASSERT_TRUE(LoadSecret(std::nullopt, &secret).ok());
  ASSERT_EQ(::chmod(SecretPath().c_str(), 0644), 0);
  Status s = LoadSecret(std::nullopt, &secret);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("chmod 600"), std::string::npos) << s.message();
}

// The secret's directory gets the owner and mode checks of every private
// directory (private_dir.h): writable by others, or another user's, is refused.
TEST_F(SecretTest, DirectoryOthersControlIsRefused) {
  const std::string dir = home_ / "config/memokey";
  ASSERT_EQ(::mkdir((home_ / "config").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  Secret secret;
  Status s = LoadSecret(std::nullopt, &secret);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find(dir + " is writable by group or others"), std::string::npos)
      << s.message();
  EXPECT_FALSE(std::filesystem::exists(SecretPath()));
  if (::geteuid() == 0) {
    ASSERT_EQ(::chmod(dir.c_str(), 0700), 0);
    ASSERT_EQ(::chown(dir.c_str(), 4242, 4242), 0);
    s = LoadSecret(std::nullopt, &secret);
    EXPECT_EQ(s.code(), Status::Code::kIOError);
    EXPECT_NE(s.message().find(dir + " belongs to another user"), std::string::npos) << s.message();
    EXPECT_FALSE(std::filesystem::exists(SecretPath()));
  }
}

TEST_F(SecretTest, RacingProcessesAgree) {
  constexpr int kChildren = 8;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char byte;
      static_cast<void>(::read(go[0], &byte, 1));  // returns when the parent closes the pipe
      Secret secret;
      if (!LoadSecret(std::nullopt, &secret).ok()) ::_exit(1);
      std::ofstream(home_ / ("seen" + std::to_string(c))) << secret.bytes();
      ::_exit(0);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);
  for (pid_t pid : children) EXPECT_TRUE(ChildSucceeded(pid));
  const std::string expected = ReadAll(SecretPath());
  ASSERT_EQ(expected.size(), 65u);
  for (int c = 0; c < kChildren; ++c) {
    EXPECT_EQ(ReadAll(home_ / ("seen" + std::to_string(c))) + "\n", expected) << c;
  }
}

}  // namespace
