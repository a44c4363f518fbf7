#version 450
// The activations of a matmul on q8_0 / q4_0 / q4_1 weights, quantized as
// the CPU backend does it (src/backend/cpu/qmatmul-quant.inc), so both
// multiply the same integers: per block of 32, d = max |x| / 127, q =
// x * (1 / d) rounded to nearest even, s = d * sum(q); d = 0 and zeros for
// a block below 1e-30, d = NaN for one holding an infinity or NaN.
// x (K, M) from b1 at off1; the blocks to dst (b0, as words): d of every
// block, then s, then the quants, 8 words a block. One thread per block.
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 0) buffer B0u { uint q[]; };

void main()
{
    uint K = p.ne2, M = p.ne1, nb = M * (K / 32u);
    uint b = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64u;
    if (b >= nb)
        return;
    uint x0 = p.off1 + (b / (K / 32u)) * K + (b % (K / 32u)) * 32u;
    precise float amax = 0.0, chk = 0.0;
    for (uint j = 0u; j < 32u; j++) {
        float v = b1[x0 + j];
        amax = max(amax, abs(v));
        chk += v - v; // NaN once any value is not finite
    }
    float d = 0.0;
    int sum = 0;
    uint words[8] = uint[8](0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
    if (chk != 0.0 || isnan(chk)) {
        d = uintBitsToFloat(0x7fc00000u);
    } else if (amax >= 1e-30) {
        precise float dd = amax / 127.0;
        precise float id = 1.0 / dd;
        d = dd;
        for (uint j = 0u; j < 32u; j++) {
            precise float v = b1[x0 + j] * id;
            int qj = int(roundEven(v));
            sum += qj;
            words[j >> 2] |= uint(qj & 255) << ((j & 3u) * 8u);
        }
    }
    q[b] = floatBitsToUint(d);
    q[nb + b] = floatBitsToUint(d * float(sum));
    for (uint w = 0u; w < 8u; w++)
        q[2u * nb + 8u * b + w] = words[w];
}
