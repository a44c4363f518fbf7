/* The CPU kernels compiled for avx2 (see kernels.inc). */
/* Clang ignores GCC's pragma; its own attribute pragma does the same. */
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,f16c")
#endif
#include <immintrin.h>
#define KAVX2 1
#define KSUF avx2
#define KNAME "avx2"
#include "backend/cpu/kernels.inc"

#ifdef __clang__
#pragma clang attribute pop
#endif
