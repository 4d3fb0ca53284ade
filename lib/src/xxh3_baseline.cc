#define MEMOKEY_XXH3_VARIANT Xxh3Baseline
#define MEMOKEY_XXH3_NAME "baseline"
#include "xxh3_variant.inc"

namespace memokey::internal {

#if defined(__x86_64__)
namespace {

// AVX-512 for cache-sized inputs, AVX2 for larger ones (see xxh3.h).
const Xxh3Functions& ForSize(std::size_t size) {
  return size < kXxh3Avx512MaxBytes ? Xxh3Avx512() : Xxh3Avx2();
}

void HashBySize(const void* data, std::size_t size, std::uint8_t out[16]) {
  ForSize(size).hash(data, size, out);
}

void UpdateBySize(Xxh3State* state, const void* data, std::size_t size) {
  ForSize(size).update(state, data, size);
}

constexpr Xxh3Functions kAvx512OrAvx2{HashBySize, Reset, UpdateBySize, Digest, "avx512+avx2"};

}  // namespace
#endif

const Xxh3Functions& Xxh3Best() {
#if defined(__x86_64__)
  // Initialized once (a thread-safe static): a constant from then on.
  static const Xxh3Functions& best = __builtin_cpu_supports("avx512f") ? kAvx512OrAvx2
                                     : __builtin_cpu_supports("avx2") ? Xxh3Avx2()
                                                                      : Xxh3Baseline();
  return best;
#else
  return Xxh3Baseline();
#endif
}

}  // namespace memokey::internal
