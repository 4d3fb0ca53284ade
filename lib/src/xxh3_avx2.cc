// Compiled with -mavx2 (lib/CMakeLists.txt); only called when the CPU has AVX2.
#define MEMOKEY_XXH3_VARIANT Xxh3Avx2
#define MEMOKEY_XXH3_NAME "avx2"
#include "xxh3_variant.inc"
