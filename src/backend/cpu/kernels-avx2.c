/* The CPU kernels compiled for avx2 (see kernels.inc). */
#pragma GCC target("avx2,fma,f16c")
#define KSUF avx2
#define KNAME "avx2"
#include "backend/cpu/kernels.inc"
