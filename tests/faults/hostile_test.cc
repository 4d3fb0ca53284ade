// Hostile values at the memo level: whatever is planted in the store — a
// flipped byte, a valid value copied from another key, an unsigned pickle,
// a pickle-codec envelope sealed with another secret, a CBOR payload that
// decodes to the wrong type — is a counted miss (MemoStats::rejected), never
// decoded into a result, and the function's own result is returned and
// re-stored. (memo_test covers the single tampered-byte case; this goes
// through every planting an attacker with store access could try.)

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "memokey/envelope.h"
#include "memokey/memo.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace {

constexpr const char* kSecret = "hostile-test-secret-0123456789abcdef";

class HostileMemo : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<memokey::Store> s;
    ASSERT_TRUE(memokey::OpenStore("memory://?max_bytes=16M", &s).ok());
    store_ = std::shared_ptr<memokey::Store>(std::move(s));
  }
  memokey::MemoOptions Options() {
    memokey::MemoOptions o;
    o.secret = kSecret;
    o.key_namespace = "hostile";
    return o;
  }
  std::shared_ptr<memokey::Store> store_;
};

TEST_F(HostileMemo, EveryPlantedValueIsACountedMissNeverAResult) {
  int calls = 0;
  auto square = memokey::memoize(
      store_, "hostile.square",
      [&calls](std::int64_t x) {
        ++calls;
        return x * x;
      },
      Options());
  EXPECT_EQ(square(3), 9);
  EXPECT_EQ(square(4), 16);
  ASSERT_EQ(calls, 2);
  const std::string k3 = square.key(3).hex();
  const std::string k4 = square.key(4).hex();
  std::string v3, v4;
  ASSERT_TRUE(store_->Get(k3, &v3).ok());
  ASSERT_TRUE(store_->Get(k4, &v4).ok());

  memokey::Secret other("attacker-secret-0123456789abcdef");
  std::string forged_pickle;
  // A pickle that would run os.system('touch /tmp/pwned') if ever unpickled.
  const std::string pickle = "cos\nsystem\n(S'touch /tmp/memokey-pwned'\ntR.";
  ASSERT_TRUE(
      memokey::SealEnvelope(k3, memokey::Codec::kPickle5, pickle, other, &forged_pickle).ok());
  std::string wrong_type;  // validly sealed (leaked secret) but not an integer
  ASSERT_TRUE(memokey::SealEnvelope(k3, memokey::Codec::kCbor,
                                    std::string("\x63"
                                                "abc",
                                                4),
                                    memokey::Secret(kSecret), &wrong_type)
                  .ok());
  std::string flipped = v3;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x01);
  std::string truncated = v3.substr(0, v3.size() - 1);
  std::string flipped_mac = v3;
  flipped_mac.back() = static_cast<char>(flipped_mac.back() ^ 0x80);

  const std::pair<const char*, std::string> plants[] = {
      {"flipped payload byte", flipped},
      {"flipped MAC byte", flipped_mac},
      {"truncated", truncated},
      {"value of another key (swapped)", v4},
      {"unsigned raw pickle", pickle},
      {"pickle envelope sealed with another secret", forged_pickle},
      {"signed CBOR of the wrong type", wrong_type},
      {"empty", ""},
      {"garbage", std::string(1000, '\xff')},
  };
  std::uint64_t rejected = square.stats().rejected;
  for (const auto& [what, planted] : plants) {
    SCOPED_TRACE(what);
    if (!planted.empty()) {
      ASSERT_TRUE(store_->Put(k3, planted).ok());
    } else {
      ASSERT_TRUE(store_->Put(k3, std::string(1, '\0')).ok());
    }
    const int before = calls;
    EXPECT_EQ(square(3), 9);                           // the true result
    EXPECT_EQ(calls, before + 1);                      // recomputed, not taken from the store
    EXPECT_EQ(square.stats().rejected, rejected + 1);  // counted
    rejected = square.stats().rejected;
    std::string now;
    ASSERT_TRUE(store_->Get(k3, &now).ok());
    EXPECT_EQ(now, v3);  // the planted value was replaced by a good one
    EXPECT_EQ(square(3), 9);
    EXPECT_EQ(calls, before + 1);  // and that one is a hit
  }
  EXPECT_EQ(square(4), 16);
}

TEST_F(HostileMemo, TheSecretSeparatesUsersSharingAStore) {
  auto mine = memokey::memoize(
      store_, "hostile.id", [](std::int64_t x) { return x; }, Options());
  memokey::MemoOptions theirs_options = Options();
  theirs_options.secret = "someone-elses-secret-0123456789abcdef";
  int their_calls = 0;
  auto theirs = memokey::memoize(
      store_, "hostile.id",
      [&their_calls](std::int64_t x) {
        ++their_calls;
        return x + 1000;  // a different (malicious) function under the same name
      },
      theirs_options);
  EXPECT_EQ(theirs(1), 1001);  // they write first, under the same key
  EXPECT_EQ(mine(1), 1);       // their value fails our MAC: recomputed
  EXPECT_EQ(mine.stats().rejected, 1u);
}

}  // namespace
