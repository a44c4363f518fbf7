#version 450
// Rotary positions: one thread per rotated pair (or passed-through element)
// of each (head, token) row. The cosine and sine of each (token, pair) come
// from the host, computed in double and rounded as the CPU backend does it
// (GLSL's sin and cos promise nothing outside [-pi, pi], and the angles
// reach the thousands); the rotation is not contracted into FMAs either,
// so both backends give the same floats.
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 3) readonly buffer F { float cs[]; }; // (cos, sin) per (token, pair)

layout(push_constant) uniform Params {
    uint od, oa, op, of;
    uint nh, nt, half_dims, n_dims, hd, neox;
    uint as1, as2, ds1, ds2; // head and token strides in elements
} p;

void main()
{
    uint per_row = p.half_dims + (p.hd - p.n_dims);
    uint x = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    if (x >= per_row * p.nh * p.nt)
        return;
    uint row = x / per_row, j = x % per_row, h = row % p.nh, t = row / p.nh;
    uint src = p.oa + t * p.as2 + h * p.as1, dst = p.od + t * p.ds2 + h * p.ds1;
    if (j >= p.half_dims) { // past n_dims: unchanged
        uint e = p.n_dims + (j - p.half_dims);
        d[dst + e] = a[src + e];
        return;
    }
    uint i0 = p.neox != 0u ? j : 2u * j, i1 = p.neox != 0u ? j + p.half_dims : 2u * j + 1u;
    uint k = p.of + 2u * (t * p.half_dims + j);
    float c = cs[k], s = cs[k + 1u], x0 = a[src + i0], x1 = a[src + i1];
    precise float r0 = x0 * c - x1 * s, r1 = x0 * s + x1 * c;
    d[dst + i0] = r0;
    d[dst + i1] = r1;
}
