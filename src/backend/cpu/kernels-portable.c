/* The CPU kernels compiled for portable (see kernels.inc). */

#define KSUF portable
#define KNAME "portable"
#include "backend/cpu/kernels.inc"
