/*
 * Arm instruction-set features from the kernel's hwcaps (getauxval), which
 * already mean "the hardware has it and the OS enabled it". Names follow
 * /proc/cpuinfo's Features line, plus "neon" for Advanced SIMD.
 */
#if defined(__aarch64__)
#include <sys/auxv.h>

#include "hw/hw-impl.h"

void ia__cpu_features(ia_cpu_info *ci)
{
    unsigned long h = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    ia__cpu_add_feature(ci, "neon", h & (1ul << 1), true);      /* HWCAP_ASIMD */
    ia__cpu_add_feature(ci, "fphp", h & (1ul << 9), true);      /* HWCAP_FPHP */
    ia__cpu_add_feature(ci, "asimdhp", h & (1ul << 10), true);  /* HWCAP_ASIMDHP */
    ia__cpu_add_feature(ci, "asimddp", h & (1ul << 20), true);  /* HWCAP_ASIMDDP */
    ia__cpu_add_feature(ci, "sve", h & (1ul << 22), true);      /* HWCAP_SVE */
    ia__cpu_add_feature(ci, "sve2", h2 & (1ul << 1), true);     /* HWCAP2_SVE2 */
    ia__cpu_add_feature(ci, "i8mm", h2 & (1ul << 13), true);    /* HWCAP2_I8MM */
    ia__cpu_add_feature(ci, "bf16", h2 & (1ul << 14), true);    /* HWCAP2_BF16 */
    ia__cpu_add_feature(ci, "sme", h2 & (1ul << 23), true);     /* HWCAP2_SME */
    ia__cpu_add_feature(ci, "avx2", false, false);
    ia__cpu_add_feature(ci, "avx512f", false, false);
    IA_HW_SET(ci->feature_probe, "getauxval(AT_HWCAP, AT_HWCAP2)");
}
#endif
