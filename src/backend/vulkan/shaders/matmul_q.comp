#version 450
// dst (N, M) = act(x (K, M) . W (K, N)^T + bias) on q8_0 (Q8_0), q4_0
// (Q4_0) or q4_1 (Q4_1, the default) weights as GGUF stores them (b2, read as words;
// off2 counts bytes), against the activations quant_q8.comp made (b1, from
// word 0). Each output adds its blocks in order, block by block as the
// CPU backend's kernels do (qmatmul-avx2.c dot8_*): exact integer sums,
// then acc = fma(dw dx, sum, acc) (q4_1 + fma(m, s, acc); q4_0's offset of
// 8 as fma(-8 dw, s, acc)), so both give the same floats where fma is
// fused. One thread per output.
layout(local_size_x = 64) in;
#include "common.glsl"
layout(std430, binding = 1) readonly buffer B1u { uint xq[]; };
layout(std430, binding = 2) readonly buffer B2u { uint wq[]; };

#if !defined(Q8_0) && !defined(Q4_0)
#define Q4_1 // the default build of this file
#endif
#if defined(Q8_0)
const uint BLOCK_BYTES = 34u;
#elif defined(Q4_0)
const uint BLOCK_BYTES = 18u;
#else
const uint BLOCK_BYTES = 20u;
#endif

uint wbyte(uint i) { return (wq[i >> 2] >> ((i & 3u) * 8u)) & 255u; }
float whalf(uint i) { return unpackHalf2x16(wbyte(i) | (wbyte(i + 1u) << 8)).x; }
int xbyte(uint w0, uint j) { return bitfieldExtract(int(xq[w0 + (j >> 2)]), int((j & 3u) * 8u), 8); }

void main()
{
    uint K = p.ne2, N = p.ne0, M = p.ne1, nbk = K / 32u, nb = M * nbk;
    uint col = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y;
    if (col >= N || row >= M)
        return;
    precise float acc = 0.0;
    for (uint b = 0u; b < nbk; b++) {
        uint xb = row * nbk + b, w0 = 2u * nb + 8u * xb;
        uint wb = p.off2 + (col * nbk + b) * BLOCK_BYTES;
        float dw = whalf(wb), dx = uintBitsToFloat(xq[xb]);
        int isum = 0;
#if defined(Q8_0)
        for (uint j = 0u; j < 32u; j++)
            isum += bitfieldExtract(int(wbyte(wb + 2u + j)), 0, 8) * xbyte(w0, j);
        acc = fma(dw * dx, float(isum), acc);
#else
        uint qs = wb + BLOCK_BYTES - 16u;
        for (uint j = 0u; j < 16u; j++) {
            uint v = wbyte(qs + j);
            isum += int(v & 15u) * xbyte(w0, j) + int(v >> 4) * xbyte(w0, j + 16u);
        }
        float sx = uintBitsToFloat(xq[nb + xb]);
        acc = fma(dw * dx, float(isum), acc);
#if defined(Q4_0)
        acc = fma(dw * -8.0, sx, acc);
#else
        acc = fma(whalf(wb + 2u), sx, acc);
#endif
#endif
    }
    if ((p.flags & 1u) != 0u)
        acc += b3[p.off3 + col];
    b0[p.off0 + row * N + col] = activate(acc, p.act);
}
