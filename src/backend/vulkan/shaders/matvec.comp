#version 450
// matmul.comp for the few rows of a decode step (M < 8, where its 16 x 16
// tiles would compute 16 rows): one thread per output, K in order. The same
// weights (W_F16, W_BF16) and activations (X_F16) as matmul.comp.
layout(local_size_x = 64) in;
#include "common.glsl"
#include "weights.glsl"

void main()
{
    uint K = p.ne2, N = p.ne0, M = p.ne1;
    uint col = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y;
    if (col >= N || row >= M)
        return;
    float acc = 0.0;
    for (uint k = 0u; k < K; k++) {
        float xv = b1[p.off1 + row * K + k];
#ifdef X_F16 // precision fp16: the activations rounded to f16 too
        xv = unpackHalf2x16(packHalf2x16(vec2(xv, 0.0))).x;
#endif
        acc += xv * wload(p.off2 + col * K + k);
    }
    if ((p.flags & 1u) != 0u)
        acc += b3[p.off3 + col];
    b0[p.off0 + row * N + col] = activate(acc, p.act);
}
