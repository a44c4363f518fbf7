#version 450
// A copy into f32 from another storage type (dequant.glsl; T_* names it),
// both contiguous: rows of ne0 elements, rb bytes each, from byte ot of the
// source. One thread per element of dst.
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer S { uint src[]; };
#define DQ src
#include "dequant.glsl"

layout(push_constant) uniform Params {
    uint od, ot, ne0, n, rb;
} p;

void main()
{
    uint x = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (x >= p.n)
        return;
    d[p.od + x] = dq(p.ot + (x / p.ne0) * p.rb, x % p.ne0);
}
