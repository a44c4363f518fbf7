#version 450
// get_rows.comp for tables in another storage type (dequant.glsl; T_*
// names it): rows of rb bytes from byte ot of the table.
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer T { uint tab[]; };
layout(std430, binding = 2) readonly buffer I { int ids[]; };
#define DQ tab
#include "dequant.glsl"

layout(push_constant) uniform Params {
    uint od, ot, oi;
    uint ne0, n, rows, rb;
} p;

void main()
{
    uint x = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (x >= p.ne0 * p.n)
        return;
    uint r = x / p.ne0, c = x % p.ne0;
    uint row = min(uint(ids[p.oi + r]), p.rows - 1u); // checked on the host too
    d[p.od + x] = dq(p.ot + row * p.rb, c);
}
