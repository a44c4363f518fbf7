/* The CPU kernels compiled for avx512 (see kernels.inc). */
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")
#define KSUF avx512
#define KNAME "avx512"
#include "backend/cpu/kernels.inc"
