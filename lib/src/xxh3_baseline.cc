#define MEMOKEY_XXH3_VARIANT Xxh3Baseline
#define MEMOKEY_XXH3_NAME "baseline"
#include "xxh3_variant.inc"

namespace memokey::internal {

const Xxh3Functions& Xxh3Best() {
#if defined(__x86_64__)
  // Initialized once (thread-safe static): a constant from then on.
  static const Xxh3Functions& best =
      __builtin_cpu_supports("avx2") ? Xxh3Avx2() : Xxh3Baseline();
  return best;
#else
  return Xxh3Baseline();
#endif
}

}  // namespace memokey::internal
