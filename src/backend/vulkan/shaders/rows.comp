#version 450
// One workgroup per row of ne0 elements: softmax(src0 * f) (op 0),
// LayerNorm(src0 + src1) * src2 + src3 with eps f (op 1), or RMSNorm
// src0 / sqrt(mean(src0^2) + f) * src2 (op 2); flags bit 0: src1, bit 1:
// src2, bit 2: src3 present.
layout(local_size_x = 128) in;
#include "common.glsl"

shared float red[128];

float reduce_sum(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = 64u; s > 0u; s >>= 1u) {
        if (t < s)
            red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float reduce_max(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = 64u; s > 0u; s >>= 1u) {
        if (t < s)
            red[t] = max(red[t], red[t + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= p.ne1 * p.ne2 * p.ne3)
        return;
    uint n = p.ne0, t = gl_LocalInvocationID.x;
    uint d = p.off0 + r * n, a = p.off1 + r * n, b = p.off2 + r * n;
    if (p.op == 0u) {
        float m = -3.4e38;
        for (uint j = t; j < n; j += 128u)
            m = max(m, b1[a + j] * p.f);
        m = reduce_max(m);
        float s = 0.0;
        for (uint j = t; j < n; j += 128u) {
            float e = exp(b1[a + j] * p.f - m);
            b0[d + j] = e;
            s += e;
        }
        s = reduce_sum(s);
        for (uint j = t; j < n; j += 128u)
            b0[d + j] /= s;
        return;
    }
    if (p.op == 2u) {
        float q = 0.0;
        for (uint j = t; j < n; j += 128u)
            q += b1[a + j] * b1[a + j];
        float inv = inversesqrt(reduce_sum(q) / float(n) + p.f);
        for (uint j = t; j < n; j += 128u)
            b0[d + j] = b1[a + j] * inv * ((p.flags & 2u) != 0u ? b3[p.off3 + j] : 1.0);
        return;
    }
    float s = 0.0;
    for (uint j = t; j < n; j += 128u) {
        float v = b1[a + j] + ((p.flags & 1u) != 0u ? b2[b + j] : 0.0);
        b0[d + j] = v;
        s += v;
    }
    float mean = reduce_sum(s) / float(n);
    float q = 0.0;
    for (uint j = t; j < n; j += 128u) {
        float c = b0[d + j] - mean;
        q += c * c;
    }
    float inv = inversesqrt(reduce_sum(q) / float(n) + p.f);
    for (uint j = t; j < n; j += 128u) {
        float v = (b0[d + j] - mean) * inv;
        if ((p.flags & 2u) != 0u)
            v *= b3[p.off3 + j];
        if ((p.flags & 4u) != 0u)
            v += b4[p.off4 + j];
        b0[d + j] = v;
    }
}
