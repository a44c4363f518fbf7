#version 450
// Rotary positions: one thread per rotated pair (or passed-through element)
// of each (head, token) row. The angle is position x frequency in f32 (the
// frequencies computed on the host in double, then rounded), reduced by
// quadrant in three parts of pi/2 and its sine and cosine taken by Cephes'
// polynomials: accurate for angles in the thousands, where GLSL's sin and
// cos promise nothing outside [-pi, pi].
layout(local_size_x = 256) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer A { float a[]; };
layout(std430, binding = 2) readonly buffer P { int pos[]; };
layout(std430, binding = 3) readonly buffer F { float freq[]; };

layout(push_constant) uniform Params {
    uint od, oa, op, of;
    uint nh, nt, half_dims, n_dims, hd, neox;
    uint as1, as2, ds1, ds2; // head and token strides in elements
} p;

void sincos_reduced(float x, out float s, out float c)
{
    float j = round(x * 0.63661977236758134); // quadrant: x / (pi / 2)
    precise float r = ((x - j * 1.5703125) - j * 4.837512969970703125e-4) - j * 7.54978995489188216e-8;
    float z = r * r;
    float sr = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
    float cr = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
    int q = int(j) & 3;
    s = q == 0 ? sr : q == 1 ? cr : q == 2 ? -sr : -cr;
    c = q == 0 ? cr : q == 1 ? -sr : q == 2 ? -cr : sr;
}

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
    float s, c;
    sincos_reduced(float(pos[p.op + t]) * freq[p.of + j], s, c);
    float x0 = a[src + i0], x1 = a[src + i1];
    d[dst + i0] = x0 * c - x1 * s;
    d[dst + i1] = x0 * s + x1 * c;
}
