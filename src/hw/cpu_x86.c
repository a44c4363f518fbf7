/*
 * x86 instruction-set features from cpuid, each checked against the
 * register state the OS enabled (XGETBV/XCR0): a feature whose registers
 * the kernel does not save is not usable even if the processor has it.
 * Names follow /proc/cpuinfo so tests can compare the two.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <string.h>

#include "hw/hw-impl.h"

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void ia__cpu_features(ia_cpu_info *ci)
{
    unsigned a, b, c, d;
    unsigned max = __get_cpuid_max(0, NULL);
    unsigned ecx1 = 0, edx1 = 0, ebx7 = 0, ecx7 = 0, edx7 = 0, eax71 = 0;
    if (max >= 1 && __get_cpuid(1, &a, &b, &c, &d)) {
        ecx1 = c;
        edx1 = d;
    }
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        ebx7 = b;
        ecx7 = c;
        edx7 = d;
        unsigned sub = a;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            eax71 = a;
        }
    }
    bool osxsave = ecx1 & (1u << 27);
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    bool os_avx = (xcr0 & 0x6) == 0x6;                  /* XMM, YMM */
    bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;    /* opmask, ZMM */
    bool os_amx = (xcr0 & 0x60000) == 0x60000;          /* TILECFG, TILEDATA */
    /* Linux enables AMX tile data per process on request
     * (arch_prctl ARCH_REQ_XCOMP_PERM); XCR0 shows the kernel supports it. */
    ia__cpu_add_feature(ci, "sse4_2", ecx1 & (1u << 20), true);
    ia__cpu_add_feature(ci, "avx", ecx1 & (1u << 28), os_avx);
    ia__cpu_add_feature(ci, "fma", ecx1 & (1u << 12), os_avx);
    ia__cpu_add_feature(ci, "f16c", ecx1 & (1u << 29), os_avx);
    ia__cpu_add_feature(ci, "avx2", ebx7 & (1u << 5), os_avx);
    ia__cpu_add_feature(ci, "avx512f", ebx7 & (1u << 16), os_avx512);
    ia__cpu_add_feature(ci, "avx512dq", ebx7 & (1u << 17), os_avx512);
    ia__cpu_add_feature(ci, "avx512bw", ebx7 & (1u << 30), os_avx512);
    ia__cpu_add_feature(ci, "avx512vl", ebx7 & (1u << 31), os_avx512);
    ia__cpu_add_feature(ci, "avx512_vnni", ecx7 & (1u << 11), os_avx512);
    ia__cpu_add_feature(ci, "avx512_bf16", eax71 & (1u << 5), os_avx512);
    ia__cpu_add_feature(ci, "avx512_fp16", edx7 & (1u << 23), os_avx512);
    ia__cpu_add_feature(ci, "avx_vnni", eax71 & (1u << 4), os_avx);
    ia__cpu_add_feature(ci, "amx_tile", edx7 & (1u << 24), os_amx);
    ia__cpu_add_feature(ci, "amx_bf16", edx7 & (1u << 22), os_amx);
    ia__cpu_add_feature(ci, "amx_int8", edx7 & (1u << 25), os_amx);
    ia__cpu_add_feature(ci, "neon", false, false);
    (void)edx1;
    IA_HW_SET(ci->feature_probe, "cpuid + xgetbv (XCR0=0x%llx)", (unsigned long long)xcr0);
    if (!ci->vendor[0] && __get_cpuid(0, &a, &b, &c, &d)) {
        char v[13];
        memcpy(v, &b, 4);
        memcpy(v + 4, &d, 4);
        memcpy(v + 8, &c, 4);
        v[12] = '\0';
        IA_HW_SET(ci->vendor, "%s", v);
    }
}
#endif
