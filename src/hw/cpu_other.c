/* CPU features on architectures without a probe of their own: none known. */
#if !defined(__x86_64__) && !defined(__i386__) && !defined(__aarch64__)
#include "hw/hw-impl.h"

void ia__cpu_features(ia_cpu_info *ci)
{
    IA_HW_SET(ci->feature_probe, "no feature probe for %s", ci->arch);
}
#endif
