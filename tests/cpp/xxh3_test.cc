// memokey's compiled-in XXH3 variants (lib/src/xxh3.h) agree with libxxhash,
// one shot and streaming, and a state may pass between variants.

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>
#include <vector>

#include "xxh3.h"

namespace {

using memokey::internal::Xxh3Functions;
using memokey::internal::Xxh3State;

std::vector<std::uint8_t> Canonical(XXH128_hash_t hash) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, hash);
  return std::vector<std::uint8_t>(c.digest, c.digest + 16);
}

std::vector<const Xxh3Functions*> Variants() {
  std::vector<const Xxh3Functions*> variants{&memokey::internal::Xxh3Baseline(),
                                             &memokey::internal::Xxh3Best()};
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) variants.push_back(&memokey::internal::Xxh3Avx2());
  if (__builtin_cpu_supports("avx512f")) variants.push_back(&memokey::internal::Xxh3Avx512());
#endif
  return variants;
}

TEST(Xxh3, EveryVariantMatchesLibxxhash) {
  std::mt19937_64 rng(5);
  std::vector<std::uint8_t> data((std::size_t{17} << 20) + 123);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  const std::size_t sizes[] = {0,    1,    3,     16,    17,      128,     129,
                               240,  241,  1024,  4096,  65537,   1 << 20, (16 << 20) - 1,
                               16 << 20, data.size()};
  for (const Xxh3Functions* v : Variants()) {
    for (std::size_t size : sizes) {
      const auto expected = Canonical(XXH3_128bits(data.data(), size));
      std::uint8_t out[16];
      v->hash(data.data(), size, out);
      EXPECT_EQ(std::vector<std::uint8_t>(out, out + 16), expected) << v->name << " " << size;
    }
  }
}

TEST(Xxh3, StreamingAcrossVariantsMatchesOneShot) {
  std::mt19937_64 rng(6);
  std::vector<std::uint8_t> data((std::size_t{18} << 20) + 7);
  for (auto& b : data) b = static_cast<std::uint8_t>(rng());
  const auto expected = Canonical(XXH3_128bits(data.data(), data.size()));
  const auto variants = Variants();
  // Pieces of irregular sizes, each update by the next variant in turn, and
  // one piece above the AVX-512 threshold.
  const std::size_t pieces[] = {13, 1, 4096, 100000, 17 << 20};
  auto state = std::make_unique<Xxh3State>();
  variants[0]->reset(state.get());
  std::size_t offset = 0;
  std::size_t turn = 0;
  for (std::size_t piece : pieces) {
    variants[turn++ % variants.size()]->update(state.get(), data.data() + offset, piece);
    offset += piece;
  }
  variants[turn % variants.size()]->update(state.get(), data.data() + offset, data.size() - offset);
  std::uint8_t out[16];
  variants.back()->digest(state.get(), out);
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 16), expected);
}

}  // namespace
