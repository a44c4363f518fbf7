// Element k of a row of weights in one of the storage types, the row
// starting at byte `row` of the word buffer DQ (the including shader
// declares it), as the CPU's to_f32 computes it (src/tensor/dtype*.c; the
// same operations in the same order, not contracted into FMAs): define one
// of T_F16, T_BF16, T_I8, T_Q8_0, T_Q4_0, T_Q4_1, T_Q4_K, T_Q5_K, T_Q6_K.
uint dq_byte(uint i) { return (DQ[i >> 2] >> ((i & 3u) * 8u)) & 255u; }
float dq_half(uint i) { return unpackHalf2x16(dq_byte(i) | (dq_byte(i + 1u) << 8)).x; }
int dq_sbyte(uint i) { return bitfieldExtract(int(dq_byte(i)), 0, 8); }

#if defined(T_Q4_K) || defined(T_Q5_K)
// sub-block j's 6-bit scale and min from the 12 packed bytes at s
void dq_scale_min(uint s, uint j, out uint sc, out uint mn)
{
    if (j < 4u) {
        sc = dq_byte(s + j) & 63u;
        mn = dq_byte(s + j + 4u) & 63u;
    } else {
        sc = (dq_byte(s + j + 4u) & 15u) | ((dq_byte(s + j - 4u) >> 6) << 4);
        mn = (dq_byte(s + j + 4u) >> 4) | ((dq_byte(s + j) >> 6) << 4);
    }
}
#endif

float dq(uint row, uint k)
{
#if defined(T_F16)
    return dq_half(row + 2u * k);
#elif defined(T_BF16)
    return uintBitsToFloat((dq_byte(row + 2u * k) | (dq_byte(row + 2u * k + 1u) << 8)) << 16);
#elif defined(T_I8)
    return float(dq_sbyte(row + k));
#elif defined(T_Q8_0)
    uint b = row + (k / 32u) * 34u;
    return float(dq_sbyte(b + 2u + k % 32u)) * dq_half(b);
#elif defined(T_Q4_0) || defined(T_Q4_1)
#if defined(T_Q4_0)
    uint b = row + (k / 32u) * 18u, qs = b + 2u;
#else
    uint b = row + (k / 32u) * 20u, qs = b + 4u;
#endif
    uint j = k % 32u, v = dq_byte(qs + j % 16u), q = j < 16u ? v & 15u : v >> 4;
#if defined(T_Q4_0)
    return float(int(q) - 8) * dq_half(b);
#else
    precise float r = float(q) * dq_half(b);
    r = r + dq_half(b + 2u);
    return r;
#endif
#elif defined(T_Q4_K) || defined(T_Q5_K)
#if defined(T_Q4_K)
    uint b = row + (k / 256u) * 144u, qs = b + 16u;
#else
    uint b = row + (k / 256u) * 176u, qh = b + 16u, qs = b + 48u;
#endif
    uint e = k % 256u, j = e / 32u, l = e % 32u; // sub-block j of 32
    uint sc, mn;
    dq_scale_min(b + 4u, j, sc, mn);
    uint v = dq_byte(qs + 32u * (j / 2u) + l), q = (j & 1u) == 0u ? v & 15u : v >> 4;
#if defined(T_Q5_K)
    q += ((dq_byte(qh + l) >> j) & 1u) << 4;
#endif
    precise float d1 = dq_half(b) * float(sc), m1 = dq_half(b + 2u) * float(mn);
    precise float r = d1 * float(q);
    r = r - m1;
    return r;
#elif defined(T_Q6_K)
    uint b = row + (k / 256u) * 210u, e = k % 256u, h = e / 128u, r128 = e % 128u;
    uint quarter = r128 / 32u, l = r128 % 32u; // element l + 32 quarter of half h
    uint ql = b + 64u * h, qh = b + 128u + 32u * h, sc = b + 192u + 8u * h;
    uint lo = dq_byte(ql + l + 32u * (quarter & 1u));
    lo = quarter < 2u ? lo & 15u : lo >> 4;
    uint hi = (dq_byte(qh + l) >> (2u * quarter)) & 3u;
    int q = int(lo | (hi << 4)) - 32;
    precise float d1 = dq_half(b + 208u) * float(dq_sbyte(sc + l / 16u + 2u * quarter));
    return d1 * float(q);
#else
#error no storage type defined
#endif
}
