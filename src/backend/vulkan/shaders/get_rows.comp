#version 450
// dst (ne0, n) = rows ids (n) i32 of the f32 table (ne0, rows); one thread
// per element of dst.
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer T { float tab[]; };
layout(std430, binding = 2) readonly buffer I { int ids[]; };

layout(push_constant) uniform Params {
    uint od, ot, oi;
    uint ne0, n, rows;
} p;

void main()
{
    uint x = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (x >= p.ne0 * p.n)
        return;
    uint r = x / p.ne0, c = x % p.ne0;
    uint row = min(uint(ids[p.oi + r]), p.rows - 1u); // checked on the host too
    d[p.od + x] = tab[p.ot + row * p.ne0 + c];
}
