#version 450
// matmul.comp for weights dequantized as they are read (dequant.glsl: i8
// and the k-quants; T_* names the type): W rows of bn0 bytes from byte off2
// of b2, x in b1, the bias in b3 (flags bit 0). 16 x 16 tiles of dst per
// workgroup, K in steps of 16 through shared memory.
layout(local_size_x = 16, local_size_y = 16) in;
#include "common.glsl"
layout(std430, binding = 2) readonly buffer B2u { uint wq[]; };
#define DQ wq
#include "dequant.glsl"

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
        xs[ty][tx] = row < M && k < K ? b1[p.off1 + row * K + k] : 0.0;
        ws[ty][tx] = wrow < N && k < K ? dq(p.off2 + wrow * p.bn0, k) : 0.0;
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
