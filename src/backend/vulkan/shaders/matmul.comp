#version 450
// dst (N, M) = act(x (K, M) . W (K, N)^T + bias): 16 x 16 tiles of dst per
// workgroup, K in steps of 16 through shared memory. x in b1, W in b2 (f32,
// or with W_F16 / W_BF16 f16 / bf16 pairs in 32-bit words), the bias in b3
// (flags bit 0). X_F16: the activations rounded to f16 as they are read.
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
#include "weights.glsl"

shared float xs[16][17];
shared float ws[16][17];

void main()
{
    uint K = p.ne2, N = p.ne0, M = p.ne1;
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint col = gl_WorkGroupID.x * 16u + tx; // output column (W row)
    uint row = gl_WorkGroupID.y * 16u + ty; // output row (x row)
    uint wrow = gl_WorkGroupID.x * 16u + ty;
    float acc = 0.0;
    for (uint k0 = 0u; k0 < K; k0 += 16u) {
        uint k = k0 + tx;
        float xv = row < M && k < K ? b1[p.off1 + row * K + k] : 0.0;
#ifdef X_F16 // precision fp16: the activations rounded to f16 too
        xv = unpackHalf2x16(packHalf2x16(vec2(xv, 0.0))).x;
#endif
        xs[ty][tx] = xv;
        ws[ty][tx] = wrow < N && k < K ? wload(p.off2 + wrow * K + k) : 0.0;
        barrier();
        for (uint kk = 0u; kk < 16u; kk++)
            acc += xs[ty][kk] * ws[tx][kk];
        barrier();
    }
    if (row < M && col < N) {
        if ((p.flags & 1u) != 0u)
            acc += b3[p.off3 + col];
        b0[p.off0 + row * N + col] = activate(acc, p.act);
    }
}
