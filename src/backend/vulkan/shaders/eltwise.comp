#version 450
// add (op 0), mul (1), scale (2), unary (3), glu (4): one thread per
// element of dst; src1 (add, mul) broadcast along the dims where it has 1;
// glu: act(src0) * src1 (flags bit 0), or of src0's rows [gate | up] halves.
layout(local_size_x = 256) in;
#include "common.glsl"

void main()
{
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 256u;
    uint n = p.ne0 * p.ne1 * p.ne2 * p.ne3;
    if (i >= n)
        return;
    float r;
    if (p.op == 4u) {
        uint row = i / p.ne0, c = i % p.ne0;
        bool pair = (p.flags & 1u) != 0u;
        float gate = pair ? b1[p.off1 + i] : b1[p.off1 + row * 2u * p.ne0 + c];
        float up = pair ? b2[p.off2 + i] : b1[p.off1 + row * 2u * p.ne0 + p.ne0 + c];
        b0[p.off0 + i] = activate(gate, p.act) * up;
        return;
    }
    float a = b1[p.off1 + i];
    if (p.op <= 1u) {
        uint i0 = i % p.ne0, i1 = (i / p.ne0) % p.ne1, i2 = (i / (p.ne0 * p.ne1)) % p.ne2,
             i3 = i / (p.ne0 * p.ne1 * p.ne2);
        uint j = (p.bn0 == 1u ? 0u : i0) +
                 p.bn0 * ((p.bn1 == 1u ? 0u : i1) + p.bn1 * ((p.bn2 == 1u ? 0u : i2) + p.bn2 * (p.bn3 == 1u ? 0u : i3)));
        float b = b2[p.off2 + j];
        r = p.op == 0u ? a + b : a * b;
    } else if (p.op == 2u) {
        r = a * p.f;
    } else {
        r = activate(a, p.act);
    }
    b0[p.off0 + i] = r;
}
