// Compiled with -mavx512f (lib/CMakeLists.txt); only called when the CPU has AVX-512F.
#define MEMOKEY_XXH3_VARIANT Xxh3Avx512
#define MEMOKEY_XXH3_NAME "avx512"
#include "xxh3_variant.inc"
