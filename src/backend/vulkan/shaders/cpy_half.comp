#version 450
// A copy of contiguous f32 into f16 (default) or bf16 (TO_BF16), both
// rounded to nearest even as the CPU's from_f32 does (bf16: NaN kept a
// quiet NaN). One thread per pair of elements, that is per word of dst
// (od counts halves and is even: the host checks).
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { uint d[]; };
layout(std430, binding = 1) readonly buffer S { float s[]; };

layout(push_constant) uniform Params {
    uint od, os, n;
} p;

uint half_of(float f)
{
#ifdef TO_BF16
    uint u = floatBitsToUint(f);
    if (isnan(f))
        return (u >> 16) | 64u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
#else // ia__f32_to_f16 (src/tensor/dtype.c): packHalf2x16's rounding is the driver's choice
    uint x = floatBitsToUint(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);
    if (ax >= 0x477ff000u)
        return sign | 0x7c00u;
    if (ax >= 0x38800000u)
        return sign | (((ax + 0xfffu + ((ax >> 13) & 1u)) - (112u << 23)) >> 13);
    if (ax <= 0x33000000u)
        return sign;
    uint e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u, shift = 126u - e;
    uint q = m >> shift, rem = m & ((1u << shift) - 1u), hw = 1u << (shift - 1u);
    if (rem > hw || (rem == hw && (q & 1u) != 0u))
        q++;
    return sign | q;
#endif
}

void main()
{
    uint w = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    uint i = 2u * w;
    if (i >= p.n)
        return;
    uint lo = half_of(s[p.os + i]);
    if (i + 1u < p.n) {
        d[p.od / 2u + w] = lo | (half_of(s[p.os + i + 1u]) << 16);
    } else { // the last, odd element: keep the other half of its word
        d[p.od / 2u + w] = (d[p.od / 2u + w] & 0xffff0000u) | lo;
    }
}
