#version 450
// Attention, one workgroup per (head, query): scores against the query's
// keys into shared memory, softmax, then the weighted sum of the values.
// q (hd, H, nq), k and v (hd, Hk, nkv) f32 with any head and token strides
// (views of a fused QKV); dst (hd, H, nq) contiguous. With n_seqs > 0 the
// tokens are packed sequences, offs (n_seqs + 1) i32 their bounds. With
// KV_F16, k and v are f16 (a KV cache), offsets and strides in halves.
// A relative-position bias (MPNet's), per head and relative position, comes
// from the host as the CPU backend builds it.
layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer Q { float q[]; };
#ifdef KV_F16
layout(std430, binding = 2) readonly buffer K { uint k16[]; };
layout(std430, binding = 3) readonly buffer V { uint v16[]; };
float kload(uint i)
{
    vec2 h = unpackHalf2x16(k16[i >> 1]);
    return (i & 1u) != 0u ? h.y : h.x;
}
float vload(uint i)
{
    vec2 h = unpackHalf2x16(v16[i >> 1]);
    return (i & 1u) != 0u ? h.y : h.x;
}
#else
layout(std430, binding = 2) readonly buffer K { float k[]; };
layout(std430, binding = 3) readonly buffer V { float v[]; };
float kload(uint i) { return k[i]; }
float vload(uint i) { return v[i]; }
#endif
layout(std430, binding = 4) readonly buffer O { int offs[]; };
layout(std430, binding = 5) readonly buffer RB { float rb[]; }; // the position bias, from the host

layout(push_constant) uniform Params {
    uint od, oq, ok, ov, oo;      // first elements
    uint hd, H, Hk, nq, nkv;
    uint qs1, qs2, ks1, ks2, vs1, vs2; // head and token strides, in elements
    uint mask, window, n_seqs;
    int pos_q0;
    float scale;
    uint ob, span, bias; // with bias: head h's bias at relative position r is rb[ob + h span + r - rmin]
    int rmin;
} p;

const uint MAX_KEYS = 2048u; // the backend refuses longer (sequences)
shared float sc[MAX_KEYS];
shared float red[64];

float reduce(float x, bool take_max)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1u) {
        if (t < s)
            red[t] = take_max ? max(red[t], red[t + s]) : red[t] + red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint h = gl_WorkGroupID.x, i = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    uint g = h / (p.H / p.Hk);
    uint first = 0u, last = p.nkv;
    int qp = p.pos_q0 + int(i);
    if (p.n_seqs > 0u) { // the sequence holding token i
        uint lo = 0u, hi = p.n_seqs;
        while (hi - lo > 1u) {
            uint mid = (lo + hi) / 2u;
            if (uint(offs[p.oo + mid]) <= i)
                lo = mid;
            else
                hi = mid;
        }
        first = uint(offs[p.oo + lo]);
        last = uint(offs[p.oo + lo + 1u]);
        qp = int(i - first);
    }
    uint qb = p.oq + i * p.qs2 + h * p.qs1;
    float mx = -3.4e38;
    for (uint j = first + t; j < last; j += 64u) {
        int kp = int(j - first);
        // masks: 0 none, 1 causal, 2 sliding (causal, the last window), 3 local (|kp - qp| <= window)
        bool seen = p.mask == 0u || (p.mask == 3u ? abs(kp - qp) <= int(p.window)
                                                  : kp <= qp && (p.mask == 1u || kp > qp - int(p.window)));
        float s = -3.4e38;
        if (seen) {
            uint kb = p.ok + j * p.ks2 + g * p.ks1;
            float dot = 0.0;
            for (uint e = 0u; e < p.hd; e++)
                dot += q[qb + e] * kload(kb + e);
            s = dot * p.scale;
            if (p.bias != 0u)
                s += rb[p.ob + h * p.span + uint(kp - qp - p.rmin)];
        }
        sc[j - first] = s;
        mx = max(mx, s);
    }
    mx = reduce(mx, true);
    float sum = 0.0;
    for (uint j = first + t; j < last; j += 64u) {
        float s = sc[j - first];
        float e = s <= -3.0e38 ? 0.0 : exp(s - mx);
        sc[j - first] = e;
        sum += e;
    }
    sum = reduce(sum, false);
    uint db = p.od + (i * p.H + h) * p.hd;
    for (uint e = t; e < p.hd; e += 64u) {
        float o = 0.0;
        for (uint j = first; j < last; j++)
            o += sc[j - first] * vload(p.ov + j * p.vs2 + g * p.vs1 + e);
        d[db + e] = o / sum;
    }
}
