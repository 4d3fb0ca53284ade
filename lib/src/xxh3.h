// XXH3-128, compiled from libxxhash's header into memokey itself, in
// baseline (SSE2), AVX2 and AVX-512 variants chosen at run time.
//
// Why not libxxhash's exported functions: Debian's library is built for
// baseline SSE2 (half the speed on large inputs), and its x86 dispatcher
// always picks AVX-512 where present. Measured on the AMD EPYC cores of our
// machines (bench/RESULTS.md), AVX-512 is fastest while the input stays in
// cache, but on inputs streamed from memory (64 MiB) it runs at 0.6x of AVX2.
// Xxh3Best() therefore chooses per call by size. All variants compute the
// same function over the same state layout, so a streaming state may be
// updated by any of them. The algorithm and its output are the library's: the
// same header, with XXH_INLINE_ALL.

#ifndef MEMOKEY_SRC_XXH3_H_
#define MEMOKEY_SRC_XXH3_H_

#include <cstddef>
#include <cstdint>

namespace memokey::internal {

// Storage for an XXH3 streaming state (XXH3_state_t), which each variant
// checks fits.
struct alignas(64) Xxh3State {
  unsigned char storage[1024];
};

struct Xxh3Functions {
  // One shot; out receives the canonical (big-endian) 16-byte digest.
  void (*hash)(const void* data, std::size_t size, std::uint8_t out[16]);
  void (*reset)(Xxh3State* state);
  void (*update)(Xxh3State* state, const void* data, std::size_t size);
  void (*digest)(const Xxh3State* state, std::uint8_t out[16]);
  const char* name;
};

const Xxh3Functions& Xxh3Baseline();
#if defined(__x86_64__)
const Xxh3Functions& Xxh3Avx2();
const Xxh3Functions& Xxh3Avx512();
#endif
// Inputs at least this large are hashed with AVX2 even where AVX-512 exists.
inline constexpr std::size_t kXxh3Avx512MaxBytes = std::size_t{16} << 20;
// The fastest variant this CPU runs; chosen on the first call.
const Xxh3Functions& Xxh3Best();

}  // namespace memokey::internal

#endif  // MEMOKEY_SRC_XXH3_H_
