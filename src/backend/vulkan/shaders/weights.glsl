// f32, f16 or bf16 weights (W_F16 / W_BF16: pairs in 32-bit words) in b2,
// element i as f32: for matmul.comp and matvec.comp.
#ifdef W_F16
layout(std430, binding = 2) readonly buffer W16 { uint w16[]; };
float wload(uint i)
{
    vec2 h = unpackHalf2x16(w16[i >> 1]);
    return (i & 1u) != 0u ? h.y : h.x;
}
#elif defined(W_BF16)
layout(std430, binding = 2) readonly buffer W16 { uint w16[]; };
float wload(uint i) { return uintBitsToFloat(((w16[i >> 1] >> ((i & 1u) * 16u)) & 0xffffu) << 16); }
#else
float wload(uint i) { return b2[i]; }
#endif
