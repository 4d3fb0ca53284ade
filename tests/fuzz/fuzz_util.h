// tests/fuzz/fuzz_util.h — shared by the libFuzzer harnesses.
//
// FUZZ_CHECK aborts with a message: libFuzzer (and the replay driver) report
// an abort as a crash, so a broken invariant is a finding like a memory error.

#ifndef MEMOKEY_TESTS_FUZZ_FUZZ_UTIL_H_
#define MEMOKEY_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "memokey/cbor_writer.h"

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace memokey_fuzz {

inline memokey::ByteSpan Bytes(const std::uint8_t* data, std::size_t size) {
  return memokey::ByteSpan(data, size);
}
inline std::string_view Text(const std::uint8_t* data, std::size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace memokey_fuzz

#endif  // MEMOKEY_TESTS_FUZZ_FUZZ_UTIL_H_
