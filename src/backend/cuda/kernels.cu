/*
 * The CUDA backend's kernels and their launchers (cuda-impl.h). Plain CUDA
 * C++ without libraries: cuBLAS does the large products (cuda.c); what is
 * here is everything around them, written to compute the numbers the CPU
 * backend computes (src/backend/cpu/ops.c) where the op harness or a
 * model comparison needs it: norm statistics in double, rope's angles in
 * double and its rotation without fused multiply-adds, activations
 * quantized to 8 bits exactly as the CPU's matmul quantizes them, block
 * weights decoded as tensor/dtype.c decodes them. Tensors arrive as
 * cu_view (device pointer, shape, byte strides), so every kernel takes
 * views with any strides the node allows.
 *
 * Kernels, by what they are for:
 *   eltwise     add, mul, scale, activations, GLU: one thread per element
 *   rows        softmax, LayerNorm, RMSNorm: one block per row
 *   rope        one thread per rotated pair
 *   attention   flash-attention style: a block of 4 warps, one query each,
 *               over tiles of 32 keys staged in shared memory, online
 *               softmax, so no score matrix exists anywhere
 *   get_rows, cpy, dequant, convert: one thread per element, the dtype a
 *               template parameter (dq<T>, the only decoder of each format)
 *   quant_q8    one warp per block of 32 activations
 *   mmv         decoding (M <= 8 rows): one warp per output column, every
 *               weight row read once; block formats multiply 8-bit
 *               activations in integers (dp4a)
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <type_traits>

#include "cuda-impl.h"

namespace {

constexpr unsigned FULL = 0xffffffffu;

/* A 1D grid over n items, grid-stride loops inside (the grid stays below
 * its 2^31 limit and small launches stay one wave). */
inline unsigned blocks_for(int64_t n, int threads)
{
    const int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > (1 << 20) ? (1 << 20) : b);
}

inline cudaError_t launched() { return cudaGetLastError(); }

/* ---------------------------------------------------------------- values */

__device__ __forceinline__ float half_at(const char *p)
{
    return __half2float(__ushort_as_half(*(const unsigned short *)p));
}

__device__ __forceinline__ float bf16_at(const char *p)
{
    return __uint_as_float((unsigned)*(const unsigned short *)p << 16);
}

/* f32 to bf16 as ia__f32_to_bf16 (and ggml): nearest even, a NaN made quiet. */
__device__ __forceinline__ unsigned short to_bf16(float f)
{
    const unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (unsigned short)((u >> 16) | 64);
    return (unsigned short)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* Store f as type t at p (f32, f16, bf16; i32 and i8 truncate toward zero,
 * saturating, NaN to 0, as the engine's from_f32). */
__device__ __forceinline__ void store(char *p, int t, float f)
{
    switch (t) {
    case CU_F16: *(__half *)p = __float2half_rn(f); break;
    case CU_BF16: *(unsigned short *)p = to_bf16(f); break;
    case CU_I32:
        *(int32_t *)p = f != f ? 0 : f >= 0x1p31f ? INT32_MAX : f <= -0x1p31f ? INT32_MIN : (int32_t)f;
        break;
    case CU_I8: *(int8_t *)p = (int8_t)(f != f ? 0 : f >= 127.0f ? 127 : f <= -128.0f ? -128 : (int)f); break;
    default: *(float *)p = f;
    }
}

__device__ __forceinline__ int type_size(int t)
{
    return t == CU_F16 || t == CU_BF16 ? 2 : t == CU_I8 ? 1 : 4;
}

/* Round f as type t would hold it (the activations of a half-precision
 * matmul). */
__device__ __forceinline__ float round_to(int t, float f)
{
    if (t == CU_F16)
        return __half2float(__float2half_rn(f));
    if (t == CU_BF16)
        return __uint_as_float((unsigned)to_bf16(f) << 16);
    return f;
}

/* Sub-block j's 6-bit scale and min of q4_K / q5_K (ia__k4_scale_min). */
__device__ __forceinline__ void k4_scale_min(const unsigned char *s, int j, float *sc, float *mn)
{
    if (j < 4) {
        *sc = (float)(s[j] & 63);
        *mn = (float)(s[j + 4] & 63);
    } else {
        *sc = (float)((s[j + 4] & 0xf) | (s[j - 4] >> 6) << 4);
        *mn = (float)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/* Block formats: elements and bytes per block (tensor/dtype.h); plain
 * types are blocks of one. */
template <int T> struct fmt { static constexpr int elems = 1; };
template <> struct fmt<CU_Q8_0> { static constexpr int elems = 32, bytes = 34; };
template <> struct fmt<CU_Q4_0> { static constexpr int elems = 32, bytes = 18; };
template <> struct fmt<CU_Q4_1> { static constexpr int elems = 32, bytes = 20; };
template <> struct fmt<CU_Q4_K> { static constexpr int elems = 256, bytes = 144; };
template <> struct fmt<CU_Q5_K> { static constexpr int elems = 256, bytes = 176; };
template <> struct fmt<CU_Q6_K> { static constexpr int elems = 256, bytes = 210; };

/* Element k of a row of type T at row, as f32, decoded as the dtype's
 * to_f32 decodes it (tensor/dtype.c, dtype-kquants.c): the same products
 * and sums, each rounded once (__fmul_rn / __fadd_rn keep nvcc from fusing
 * them), so a table read here and on the CPU gives the same floats. */
template <int T> __device__ __forceinline__ float dq(const char *row, int64_t k)
{
    if constexpr (T == CU_F32)
        return ((const float *)row)[k];
    else if constexpr (T == CU_F16)
        return half_at(row + 2 * k);
    else if constexpr (T == CU_BF16)
        return bf16_at(row + 2 * k);
    else if constexpr (T == CU_I32)
        return (float)((const int32_t *)row)[k];
    else if constexpr (T == CU_I8)
        return (float)((const int8_t *)row)[k];
    else {
        const char *b = row + (k / fmt<T>::elems) * fmt<T>::bytes;
        const int e = (int)(k % fmt<T>::elems);
        const unsigned char *u = (const unsigned char *)b;
        if constexpr (T == CU_Q8_0) {
            return __fmul_rn((float)(int8_t)u[2 + e], half_at(b));
        } else if constexpr (T == CU_Q4_0) {
            const int q = e < 16 ? u[2 + e] & 15 : u[2 + e - 16] >> 4;
            return __fmul_rn((float)(q - 8), half_at(b));
        } else if constexpr (T == CU_Q4_1) {
            const int q = e < 16 ? u[4 + e] & 15 : u[4 + e - 16] >> 4;
            return __fadd_rn(__fmul_rn((float)q, half_at(b)), half_at(b + 2));
        } else if constexpr (T == CU_Q4_K || T == CU_Q5_K) {
            /* d, dmin, scales[12], (q5_K: qh[32]), qs[128]: elements 64i + l
             * (l < 32) in the low nibbles of qs[32i + l], 64i + 32 + l in the
             * high ones; q5_K's fifth bits in qh[l], bit 2i and 2i + 1 */
            const int i = e / 64, hi = (e / 32) & 1, l = e % 32;
            float sc, mn;
            k4_scale_min(u + 4, 2 * i + hi, &sc, &mn);
            const unsigned char *qs = u + (T == CU_Q5_K ? 48 : 16);
            int q = (qs[32 * i + l] >> (4 * hi)) & 15;
            if constexpr (T == CU_Q5_K)
                q += ((u[16 + l] >> (2 * i + hi)) & 1) << 4;
            const float d1 = __fmul_rn(half_at(b), sc), m1 = __fmul_rn(half_at(b + 2), mn);
            return __fsub_rn(__fmul_rn(d1, (float)q), m1);
        } else { /* q6_K: ql[128], qh[64], scales[16], d; halves of 128 */
            const int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
            const unsigned char *ql = u + 64 * h, *qh = u + 128 + 32 * h;
            int lo = quarter & 1 ? ql[l + 32] : ql[l];
            lo = quarter >= 2 ? lo >> 4 : lo & 15;
            const int q = (lo | ((qh[l] >> (2 * quarter)) & 3) << 4) - 32;
            const int sc = (int8_t)u[192 + 8 * h + l / 16 + 2 * quarter];
            return __fmul_rn(__fmul_rn(half_at(b + 208), (float)sc), (float)q);
        }
    }
}

/* Call f(std::integral_constant<int, T>) for the runtime dtype t (every
 * type dq decodes); cudaErrorInvalidValue for another. */
template <typename F> cudaError_t by_type(int t, F f)
{
    switch (t) {
    case CU_F32: return f(std::integral_constant<int, CU_F32>());
    case CU_F16: return f(std::integral_constant<int, CU_F16>());
    case CU_BF16: return f(std::integral_constant<int, CU_BF16>());
    case CU_I32: return f(std::integral_constant<int, CU_I32>());
    case CU_I8: return f(std::integral_constant<int, CU_I8>());
    case CU_Q8_0: return f(std::integral_constant<int, CU_Q8_0>());
    case CU_Q4_0: return f(std::integral_constant<int, CU_Q4_0>());
    case CU_Q4_1: return f(std::integral_constant<int, CU_Q4_1>());
    case CU_Q4_K: return f(std::integral_constant<int, CU_Q4_K>());
    case CU_Q5_K: return f(std::integral_constant<int, CU_Q5_K>());
    case CU_Q6_K: return f(std::integral_constant<int, CU_Q6_K>());
    default: return cudaErrorInvalidValue;
    }
}

/* Element (i0, i1, i2, i3) of a view. */
__device__ __forceinline__ char *at(const cu_view &v, int64_t i0, int64_t i1, int64_t i2, int64_t i3)
{
    return v.p + i0 * v.nb[0] + i1 * v.nb[1] + i2 * v.nb[2] + i3 * v.nb[3];
}

/* Row r (of ne1 ne2 ne3) of a view. */
__device__ __forceinline__ char *row_at(const cu_view &v, const int64_t ne[4], int64_t r)
{
    const int64_t i1 = r % ne[1], q = r / ne[1];
    return v.p + i1 * v.nb[1] + (q % ne[2]) * v.nb[2] + (q / ne[2]) * v.nb[3];
}

__device__ __forceinline__ float act_f(float x, int act)
{
    switch (act) {
    case CU_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case CU_ACT_GELU_TANH: {
        const float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + tanhf(u));
    }
    case CU_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case CU_ACT_SILU: return x / (1.0f + expf(-x));
    default: return x;
    }
}

template <typename V> __device__ __forceinline__ V warp_sum(V v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL, v, o));
    return v;
}

/* A block's sum or max (blockDim.x a multiple of 32, at most 1024); every
 * thread gets it. */
template <typename V, bool MAX> __device__ V block_reduce(V v)
{
    __shared__ V part[32];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if constexpr (MAX)
        v = warp_max(v);
    else
        v = warp_sum(v);
    __syncthreads(); /* part[] of an earlier call is read */
    if (lane == 0)
        part[w] = v;
    __syncthreads();
    v = lane < nw ? part[lane] : (MAX ? (V)-INFINITY : (V)0);
    if constexpr (MAX)
        v = warp_max(v);
    else
        v = warp_sum(v);
    return v;
}

/* --------------------------------------------------------- elementwise */

__global__ void eltwise_kernel(int op, cu_view d, cu_view a, cu_view b, int act, float f, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i0 = i % d.ne[0], r = i / d.ne[0], i1 = r % d.ne[1], q = r / d.ne[1];
        const int64_t i2 = q % d.ne[2], i3 = q / d.ne[2];
        float out;
        if (op == CU_GLU) {
            const float gate = *(const float *)at(a, i0, i1, i2, i3);
            const float up = b.p ? *(const float *)at(b, i0, i1, i2, i3) : *(const float *)at(a, i0 + d.ne[0], i1, i2, i3);
            out = act_f(gate, act) * up;
        } else {
            const float x = *(const float *)at(a, i0, i1, i2, i3);
            if (op == CU_ADD || op == CU_MUL) {
                const float y = *(const float *)at(b, b.ne[0] == 1 ? 0 : i0, b.ne[1] == 1 ? 0 : i1,
                                                   b.ne[2] == 1 ? 0 : i2, b.ne[3] == 1 ? 0 : i3);
                out = op == CU_ADD ? x + y : x * y;
            } else {
                out = op == CU_SCALE ? x * f : act_f(x, act);
            }
        }
        *(float *)at(d, i0, i1, i2, i3) = out;
    }
}

/* ------------------------------------------------------------------ rows */

/* One block per row; each thread keeps to its own elements (j = tid,
 * tid + blockDim...), so dst may be src0 or the residual. */
__global__ void rows_kernel(int op, cu_view d, cu_view a, cu_view res, const float *w, const float *b, float f)
{
    const int64_t r = blockIdx.x, n = d.ne[0];
    float *o = (float *)row_at(d, d.ne, r);
    const float *x = (const float *)row_at(a, d.ne, r);
    const float *y = res.p ? (const float *)row_at(res, d.ne, r) : nullptr;
    if (op == CU_SOFTMAX) { /* as the CPU: exp of x f - max, summed in double, times 1 / sum */
        float mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            mx = fmaxf(mx, x[j] * f);
        mx = block_reduce<float, true>(mx);
        double sum = 0;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            const float e = expf(x[j] * f - mx);
            o[j] = e;
            sum += e;
        }
        const float inv = (float)(1.0 / block_reduce<double, false>(sum));
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            o[j] *= inv;
        return;
    }
    if (op == CU_RMSNORM) {
        double sq = 0;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            sq += (double)x[j] * x[j];
        const float fi = (float)(1.0 / sqrt(block_reduce<double, false>(sq) / (double)n + (double)f));
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            o[j] = w ? x[j] * fi * w[j] : x[j] * fi;
        return;
    }
    /* LayerNorm: statistics in double, as the CPU's */
    double sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        const float v = y ? x[j] + y[j] : x[j];
        o[j] = v;
        sum += v;
    }
    const double mean = block_reduce<double, false>(sum) / (double)n;
    double sq = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        sq += (o[j] - mean) * (o[j] - mean);
    const double inv = 1.0 / sqrt(block_reduce<double, false>(sq) / (double)n + (double)f);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float v = (float)((o[j] - mean) * inv);
        if (w)
            v *= w[j];
        if (b)
            v += b[j];
        o[j] = v;
    }
}

/* ------------------------------------------------------------------ rope */

/* Item x of (token, head) rows: a rotated pair (x % per_row < half) or an
 * element past n_dims passed through (when d is not a). The angle in
 * double and its cosine and sine rounded to f32, then the rotation in f32
 * without fused multiply-adds: the CPU backend's floats (ops.c op_rope). */
__global__ void rope_kernel(cu_view d, cu_view a, const int32_t *pos, const float *ff, const double *inv_freq,
                            int n_dims, int neox, int per_row, int64_t n)
{
    const int half = n_dims / 2;
    const int64_t nh = a.ne[1];
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = x / per_row, h = row % nh, t = row / nh;
        const int j = (int)(x % per_row);
        const float *src = (const float *)(a.p + h * a.nb[1] + t * a.nb[2]);
        float *dst = (float *)(d.p + h * d.nb[1] + t * d.nb[2]);
        if (j >= half) {
            const int e = n_dims + (j - half);
            dst[e] = src[e];
            continue;
        }
        const double th = (double)pos[t] * (inv_freq[j] / (ff ? (double)ff[j] : 1.0));
        const float c = (float)cos(th), s = (float)sin(th);
        const int i0 = neox ? j : 2 * j, i1 = neox ? j + half : 2 * j + 1;
        const float x0 = src[i0], x1 = src[i1];
        dst[i0] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
        dst[i1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
    }
}

/* ------------------------------------------------------------- attention */

constexpr int ATT_WARPS = 4;                  /* queries per block */
constexpr int ATT_TK = 32;                    /* keys per tile: one per lane for the scores */
constexpr int ATT_E = CU_ATT_MAX_HD / 32;     /* output elements per lane */

struct attn_args {
    cu_view d, q, k, v;
    cu_attn p;
    int64_t hd, H, Hk, nq, nkv;
};

template <typename KV> __device__ __forceinline__ float kv_load(const KV *p) { return (float)*p; }
template <> __device__ __forceinline__ float kv_load<__half>(const __half *p) { return __half2float(*p); }

/* Packed sequences' offsets checked once per node: 0 = off[0] <= ... <=
 * off[n_seqs] = n_tokens (the CPU backend's read_offsets). The attention
 * kernel clamps whatever it reads, so bad offsets only set the flag. */
__global__ void offsets_kernel(const int32_t *off, int n_seqs, int64_t n_tok, int *flag, int node)
{
    bool ok = off[0] == 0 && off[n_seqs] == n_tok;
    for (int s = 0; s < n_seqs && ok; s++)
        ok = off[s + 1] >= off[s];
    if (!ok)
        atomicCAS(flag, 0, CU_FLAG(CU_BAD_OFFSETS, node));
}

template <typename KV> __global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(attn_args a)
{
    extern __shared__ float sm[];
    const int hd = (int)a.hd, ldk = hd + 1; /* K rows padded: lane j reads row j without bank conflicts */
    float *Ks = sm, *Vs = Ks + ATT_TK * ldk, *Qs = Vs + ATT_TK * hd;
    __shared__ int64_t range[ATT_WARPS][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t h = blockIdx.y, i = (int64_t)blockIdx.x * ATT_WARPS + warp, g = h / (a.H / a.Hk);
    const cu_attn &p = a.p;
    const bool active = i < a.nq;
    /* this query's keys j0..j1 and position, as the CPU's op_attention */
    int64_t first = 0, end = a.nkv, qpos = p.pos_q0 + i, j0 = 0, j1 = -1;
    if (active) {
        if (p.off) { /* the sequence holding token i; positions from its start */
            int lo = 0, hi = p.n_seqs;
            while (hi - lo > 1) {
                const int mid = (lo + hi) / 2;
                if (p.off[mid] <= i)
                    lo = mid;
                else
                    hi = mid;
            }
            first = min(max((int64_t)p.off[lo], (int64_t)0), a.nkv);
            end = min(max((int64_t)p.off[lo + 1], first), a.nkv);
            qpos = i - first;
        }
        j0 = first, j1 = end - 1;
        if (p.mask == 1 || p.mask == 2) /* causal, sliding */
            j1 = min(first + qpos, end - 1);
        if (p.mask == 2)
            j0 = max(first, first + qpos - p.window + 1);
        if (p.mask == 3) { /* local: window either side */
            j0 = max(first, first + qpos - p.window);
            j1 = min(end - 1, first + qpos + p.window);
        }
        const float *qr = (const float *)(a.q.p + h * a.q.nb[1] + i * a.q.nb[2]);
        for (int e = lane; e < hd; e += 32)
            Qs[warp * hd + e] = qr[e];
    }
    if (lane == 0) {
        const bool any = active && j0 <= j1;
        range[warp][0] = any ? j0 : INT64_MAX;
        range[warp][1] = any ? j1 : -1;
    }
    __syncthreads();
    int64_t lo = INT64_MAX, hi = -1; /* the keys any of the block's queries sees */
    for (int w = 0; w < ATT_WARPS; w++)
        lo = min(lo, range[w][0]), hi = max(hi, range[w][1]);
    const KV *kb = (const KV *)a.k.p, *vb = (const KV *)a.v.p;
    const int64_t ks1 = a.k.nb[1] / (int64_t)sizeof(KV), ks2 = a.k.nb[2] / (int64_t)sizeof(KV);
    const int64_t vs1 = a.v.nb[1] / (int64_t)sizeof(KV), vs2 = a.v.nb[2] / (int64_t)sizeof(KV);
    float m = -INFINITY, l = 0, acc[ATT_E];
#pragma unroll
    for (int t = 0; t < ATT_E; t++)
        acc[t] = 0;
    for (int64_t t0 = lo; t0 <= hi; t0 += ATT_TK) {
        const int nk = (int)min((int64_t)ATT_TK, hi - t0 + 1);
        for (int x = threadIdx.x; x < nk * hd; x += blockDim.x) {
            const int j = x / hd, e = x % hd;
            Ks[j * ldk + e] = kv_load(kb + g * ks1 + (t0 + j) * ks2 + e);
            Vs[j * hd + e] = kv_load(vb + g * vs1 + (t0 + j) * vs2 + e);
        }
        __syncthreads();
        if (active && t0 <= j1 && t0 + nk - 1 >= j0) { /* warp-uniform */
            const int64_t jj = t0 + lane;
            float s = -INFINITY;
            if (lane < nk && jj >= j0 && jj <= j1) {
                const float *kr = Ks + lane * ldk, *qr = Qs + warp * hd;
                float dot = 0;
                for (int e = 0; e < hd; e++)
                    dot += qr[e] * kr[e];
                s = dot * p.scale;
                if (p.bias) { /* relative position r = key - query, as the CPU's */
                    const int64_t r = (jj - first) - qpos;
                    s += p.bias == 1 ? p.tab[h * p.tab_s0 + p.bucket[r - p.rmin] * p.tab_s1]
                                     : -(p.tab[h * p.tab_s0] * (float)(r < 0 ? -r : r));
                }
            }
            const float tm = warp_max(s);
            if (tm > -INFINITY) {
                const float mn = fmaxf(m, tm), corr = expf(m - mn), pr = expf(s - mn);
                l = l * corr + warp_sum(pr);
#pragma unroll
                for (int t = 0; t < ATT_E; t++)
                    acc[t] *= corr;
                for (int j = 0; j < nk; j++) {
                    const float pj = __shfl_sync(FULL, pr, j);
                    if (pj != 0.0f) {
#pragma unroll
                        for (int t = 0; t < ATT_E; t++) {
                            const int e = lane + 32 * t;
                            if (e < hd)
                                acc[t] += pj * Vs[j * hd + e];
                        }
                    }
                }
                m = mn;
            }
        }
        __syncthreads();
    }
    if (!active)
        return;
    float *o = (float *)(a.d.p + h * a.d.nb[1] + i * a.d.nb[2]);
    const float inv = l > 0 ? 1.0f / l : 0.0f; /* a query that sees no key: zeros, as the CPU */
#pragma unroll
    for (int t = 0; t < ATT_E; t++) {
        const int e = lane + 32 * t;
        if (e < hd)
            o[e] = acc[t] * inv;
    }
}

/* ------------------------------------------------ get_rows, cpy, dequant */

template <int T> __global__ void get_rows_kernel(cu_view d, cu_view tab, const int32_t *ids, int64_t n, int *flag, int node)
{
    const int64_t ne0 = d.ne[0];
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < n * ne0; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = x / ne0, c = x % ne0;
        const int32_t id = ids[i];
        if (id < 0 || id >= tab.ne[1]) {
            atomicCAS(flag, 0, CU_FLAG(CU_BAD_ROW_ID, node));
            continue;
        }
        *(float *)(d.p + i * d.nb[1] + c * d.nb[0]) = dq<T>(tab.p + id * tab.nb[1], c);
    }
}

template <int T> __global__ void cpy_kernel(cu_view d, cu_view a, int64_t n)
{
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i0 = x % a.ne[0], r = x / a.ne[0];
        const int64_t i1 = r % a.ne[1], q = r / a.ne[1], i2 = q % a.ne[2], i3 = q / a.ne[2];
        const char *row = a.p + i1 * a.nb[1] + i2 * a.nb[2] + i3 * a.nb[3];
        /* plain types: element i0 through nb[0] (a transposed view) */
        const float v = fmt<T>::elems > 1 ? dq<T>(row, i0) : dq<T>(row + i0 * a.nb[0], 0);
        store(at(d, i0, i1, i2, i3), d.type, v);
    }
}

/* out (N x K) = rows of w as out_type. */
template <int T> __global__ void dequant_kernel(char *out, int out_type, cu_view w, int64_t K, int64_t n)
{
    const int osz = type_size(out_type);
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = x / K, k = x % K;
        const float v = fmt<T>::elems > 1 ? dq<T>(w.p + r * w.nb[1], k) : dq<T>(w.p + r * w.nb[1] + k * w.nb[0], 0);
        store(out + x * osz, out_type, v);
    }
}

/* x rows as out_type, plain. */
__global__ void convert_kernel(char *out, int out_type, cu_view x, int64_t n)
{
    const int64_t K = x.ne[0];
    const int osz = type_size(out_type);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        store(out + i * osz, out_type, *(const float *)(x.p + (i / K) * x.nb[1] + (i % K) * 4));
}

/* ------------------------------------------------- activations to 8 bits */

/* One warp per block of 32 (lane = element), the CPU's quantizer
 * (qmatmul-quant.inc quant_block): d = amax / 127 and 1 / d in IEEE f32,
 * x / d rounded to nearest even. Writes q8 (d, s, quants) and/or out (the
 * values q d as out_type). */
__global__ void quant_q8_kernel(char *q8, char *out, int out_type, cu_view x, int64_t nbk, int64_t nblocks)
{
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x >> 5);
    float *dq8 = (float *)q8, *sq8 = dq8 + nblocks;
    int8_t *qs = (int8_t *)q8 + CU_Q8_QS(nblocks);
    const int osz = type_size(out_type);
    for (int64_t b = blockIdx.x * (int64_t)(blockDim.x >> 5) + (threadIdx.x >> 5); b < nblocks; b += warps) {
        const int64_t m = b / nbk, kb = b % nbk;
        const float v = ((const float *)(x.p + m * x.nb[1]))[32 * kb + lane];
        const bool bad = __any_sync(FULL, !isfinite(v));
        const float amax = warp_max(fabsf(v));
        float d = 0;
        int q = 0;
        if (bad) {
            d = __int_as_float(0x7fc00000); /* NaN reaches every output of the block */
        } else if (amax >= 1e-30f) {
            d = __fdiv_rn(amax, 127.0f);
            const float id = __fdiv_rn(1.0f, d);
            q = __float2int_rn(__fmul_rn(v, id));
        }
        const int sum = warp_sum(q);
        if (q8) {
            qs[32 * b + lane] = (int8_t)q;
            if (lane == 0) {
                dq8[b] = d;
                sq8[b] = __fmul_rn(d, (float)sum);
            }
        }
        if (out)
            store(out + (m * nbk * 32 + 32 * kb + lane) * osz, out_type, __fmul_rn((float)q, d));
    }
}

/* -------------------------------------------------- matrix-vector (M <= 8) */

constexpr int MMV_WARPS = 4; /* output columns per block */

struct mmv_args {
    cu_view d, x, w;
    const float *xd, *xs; /* q8: per block d and s, M x nbk */
    const int8_t *xq;     /* and the quants, 32 a block */
    const float *bias;
    int act, x_type;
    int64_t K, N, M;
};

__device__ __forceinline__ void mmv_out(const mmv_args &a, int64_t n, float (&acc)[CU_MMV_MAX])
{
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int m = 0; m < CU_MMV_MAX; m++) {
        if (m >= a.M)
            break;
        const float s = warp_sum(acc[m]);
        if (lane == 0)
            *(float *)(a.d.p + m * a.d.nb[1] + n * 4) = act_f(s + (a.bias ? a.bias[n] : 0.0f), a.act);
    }
}

/* Weights read as floats (f32, f16, bf16, i8, k-quants): lane l takes
 * elements l, l + 32, ... of the row; VEC: 8 adjacent ones at a time
 * (f32, f16, bf16 rows on 16 bytes, x rows too). */
template <int T, bool VEC> __global__ void __launch_bounds__(MMV_WARPS * 32) mmv_f_kernel(mmv_args a)
{
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * MMV_WARPS + (threadIdx.x >> 5);
    if (n >= a.N)
        return;
    const char *wr = a.w.p + n * a.w.nb[1];
    float acc[CU_MMV_MAX] = {0};
    if constexpr (VEC) {
        for (int64_t k = 8 * (int64_t)lane; k < a.K; k += 256) {
            float wv[8];
            if constexpr (T == CU_F32) {
                const float4 u = *(const float4 *)(wr + 4 * k), v = *(const float4 *)(wr + 4 * k + 16);
                wv[0] = u.x, wv[1] = u.y, wv[2] = u.z, wv[3] = u.w, wv[4] = v.x, wv[5] = v.y, wv[6] = v.z, wv[7] = v.w;
            } else {
                const uint4 u = *(const uint4 *)(wr + 2 * k);
                const unsigned h[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
                for (int j = 0; j < 4; j++) { /* element 2j in the low half */
                    if constexpr (T == CU_F16) {
                        wv[2 * j] = __half2float(__ushort_as_half((unsigned short)(h[j] & 0xffffu)));
                        wv[2 * j + 1] = __half2float(__ushort_as_half((unsigned short)(h[j] >> 16)));
                    } else {
                        wv[2 * j] = __uint_as_float(h[j] << 16), wv[2 * j + 1] = __uint_as_float(h[j] & 0xffff0000u);
                    }
                }
            }
#pragma unroll
            for (int m = 0; m < CU_MMV_MAX; m++) {
                if (m >= a.M)
                    break;
                const float *xr = (const float *)(a.x.p + m * a.x.nb[1]) + k;
                const float4 u = *(const float4 *)xr, v = *(const float4 *)(xr + 4);
                const float xv[8] = {u.x, u.y, u.z, u.w, v.x, v.y, v.z, v.w};
#pragma unroll
                for (int j = 0; j < 8; j++)
                    acc[m] += wv[j] * round_to(a.x_type, xv[j]);
            }
        }
    } else {
        for (int64_t k = lane; k < a.K; k += 32) {
            const float wv = fmt<T>::elems > 1 ? dq<T>(wr, k) : dq<T>(wr + k * a.w.nb[0], 0);
#pragma unroll
            for (int m = 0; m < CU_MMV_MAX; m++) {
                if (m >= a.M)
                    break;
                acc[m] += wv * round_to(a.x_type, ((const float *)(a.x.p + m * a.x.nb[1]))[k]);
            }
        }
    }
    mmv_out(a, n, acc);
}

/* Four bytes at a 2-byte-aligned p (q8_0 and q4_0 blocks are 34 and 18
 * bytes: their quants sit on 2-byte boundaries). */
__device__ __forceinline__ int ld_a2(const unsigned char *p)
{
    const unsigned short *s = (const unsigned short *)p;
    return (int)((unsigned)s[0] | (unsigned)s[1] << 16);
}

/* q8_0, q4_0, q4_1 weights against the 8-bit activations: lane l takes
 * blocks l, l + 32, ...; per block an exact integer dot product (dp4a),
 * then acc += dw dx isum (+ q4_1's m s, or q4_0's offset -8 dw s), as
 * the CPU's kernels add a block. */
template <int T> __global__ void __launch_bounds__(MMV_WARPS * 32) mmv_q_kernel(mmv_args a)
{
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * MMV_WARPS + (threadIdx.x >> 5);
    if (n >= a.N)
        return;
    const int64_t nbk = a.K / 32;
    const unsigned char *wr = (const unsigned char *)a.w.p + n * a.w.nb[1];
    float acc[CU_MMV_MAX] = {0};
    for (int64_t b = lane; b < nbk; b += 32) {
        const unsigned char *blk = wr + b * fmt<T>::bytes;
        const float dw = half_at((const char *)blk);
        int wq[8];
        if constexpr (T == CU_Q8_0) {
#pragma unroll
            for (int j = 0; j < 8; j++)
                wq[j] = ld_a2(blk + 2 + 4 * j);
        } else {
            const unsigned char *qs = blk + (T == CU_Q4_1 ? 4 : 2);
#pragma unroll
            for (int j = 0; j < 4; j++) { /* element 4j.. in the low nibbles, 16 + 4j.. in the high ones */
                const int v = T == CU_Q4_1 ? *(const int *)(qs + 4 * j) : ld_a2(qs + 4 * j);
                wq[j] = v & 0x0f0f0f0f;
                wq[j + 4] = (v >> 4) & 0x0f0f0f0f;
            }
        }
        const float mw = T == CU_Q4_1 ? half_at((const char *)blk + 2) : T == CU_Q4_0 ? -8.0f * dw : 0.0f;
#pragma unroll
        for (int m = 0; m < CU_MMV_MAX; m++) {
            if (m >= a.M)
                break;
            const int64_t xb = m * nbk + b;
            const int4 *xq = (const int4 *)(a.xq + 32 * xb);
            const int4 u = xq[0], v = xq[1];
            const int xw[8] = {u.x, u.y, u.z, u.w, v.x, v.y, v.z, v.w};
            int isum = 0;
#pragma unroll
            for (int j = 0; j < 8; j++)
                isum = __dp4a(wq[j], xw[j], isum);
            acc[m] = fmaf(dw * a.xd[xb], (float)isum, acc[m]);
            if constexpr (T != CU_Q8_0)
                acc[m] = fmaf(mw, a.xs[xb], acc[m]);
        }
    }
    mmv_out(a, n, acc);
}

__global__ void bias_act_kernel(cu_view d, const float *bias, int act, int64_t n)
{
    const int64_t N = d.ne[0];
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float *o = (float *)(d.p + (i / N) * d.nb[1]) + i % N;
        *o = act_f(*o + (bias ? bias[i % N] : 0.0f), act);
    }
}

int64_t nel(const cu_view &v) { return v.ne[0] * v.ne[1] * v.ne[2] * v.ne[3]; }

} // namespace

/* --------------------------------------------------------------- launchers */

extern "C" {

cudaError_t cu_eltwise(cudaStream_t s, int op, cu_view d, cu_view a, cu_view b, int act, float f)
{
    const int64_t n = nel(d);
    if (n)
        eltwise_kernel<<<blocks_for(n, 256), 256, 0, s>>>(op, d, a, b, act, f, n);
    return launched();
}

cudaError_t cu_rows(cudaStream_t s, int op, cu_view d, cu_view a, cu_view res, const float *w, const float *b, float f)
{
    const int64_t rows = d.ne[1] * d.ne[2] * d.ne[3];
    if (rows > INT32_MAX)
        return cudaErrorInvalidConfiguration;
    const int threads = d.ne[0] >= 1024 ? 512 : d.ne[0] >= 256 ? 256 : d.ne[0] > 64 ? 128 : 32;
    if (rows && d.ne[0])
        rows_kernel<<<(unsigned)rows, threads, 0, s>>>(op, d, a, res, w, b, f);
    return launched();
}

cudaError_t cu_rope(cudaStream_t s, cu_view d, cu_view a, const int32_t *pos, const float *ff,
                    const double *inv_freq, int n_dims, int neox)
{
    const bool same = d.p == a.p && d.nb[1] == a.nb[1] && d.nb[2] == a.nb[2];
    const int per_row = n_dims / 2 + (same ? 0 : (int)(a.ne[0] - n_dims));
    const int64_t n = (int64_t)per_row * a.ne[1] * a.ne[2];
    if (n)
        rope_kernel<<<blocks_for(n, 256), 256, 0, s>>>(d, a, pos, ff, inv_freq, n_dims, neox, per_row, n);
    return launched();
}

cudaError_t cu_attention(cudaStream_t s, cu_view d, cu_view q, cu_view k, cu_view v, const cu_attn *p)
{
    attn_args a = {d, q, k, v, *p, q.ne[0], q.ne[1], k.ne[1], q.ne[2], k.ne[2]};
    if (a.hd > CU_ATT_MAX_HD || a.H > 65535 || !a.nq)
        return a.nq ? cudaErrorInvalidValue : launched();
    if (p->off)
        offsets_kernel<<<1, 1, 0, s>>>(p->off, p->n_seqs, a.nq, p->flag, p->node);
    const size_t smem = (size_t)(ATT_TK * (a.hd + 1) + ATT_TK * a.hd + ATT_WARPS * a.hd) * sizeof(float);
    const dim3 grid((unsigned)((a.nq + ATT_WARPS - 1) / ATT_WARPS), (unsigned)a.H);
    /* past 48 KiB (head sizes above 128) a kernel must ask for its shared memory */
    const void *fn = k.type == CU_F16 ? (const void *)attention_kernel<__half> : (const void *)attention_kernel<float>;
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e)
            return e;
    }
    if (k.type == CU_F16)
        attention_kernel<__half><<<grid, ATT_WARPS * 32, smem, s>>>(a);
    else
        attention_kernel<float><<<grid, ATT_WARPS * 32, smem, s>>>(a);
    return launched();
}

cudaError_t cu_get_rows(cudaStream_t s, cu_view d, cu_view tab, const int32_t *ids, int *flag, int node)
{
    const int64_t n = d.ne[1];
    return by_type(tab.type, [&](auto t) {
        if (n * d.ne[0])
            get_rows_kernel<decltype(t)::value><<<blocks_for(n * d.ne[0], 256), 256, 0, s>>>(d, tab, ids, n, flag, node);
        return launched();
    });
}

cudaError_t cu_cpy(cudaStream_t s, cu_view d, cu_view a)
{
    const int64_t n = nel(a);
    return by_type(a.type, [&](auto t) {
        if (n)
            cpy_kernel<decltype(t)::value><<<blocks_for(n, 256), 256, 0, s>>>(d, a, n);
        return launched();
    });
}

cudaError_t cu_dequant(cudaStream_t s, void *out, int out_type, cu_view w)
{
    const int64_t K = w.ne[0], n = K * w.ne[1];
    return by_type(w.type, [&](auto t) {
        if (n)
            dequant_kernel<decltype(t)::value><<<blocks_for(n, 256), 256, 0, s>>>((char *)out, out_type, w, K, n);
        return launched();
    });
}

cudaError_t cu_convert(cudaStream_t s, void *out, int out_type, cu_view x, int q8)
{
    const int64_t n = x.ne[0] * x.ne[1];
    if (!n)
        return launched();
    if (q8) {
        const int64_t blocks = n / 32;
        quant_q8_kernel<<<blocks_for(blocks * 32, 256), 256, 0, s>>>(nullptr, (char *)out, out_type, x, x.ne[0] / 32,
                                                                     blocks);
    } else {
        convert_kernel<<<blocks_for(n, 256), 256, 0, s>>>((char *)out, out_type, x, n);
    }
    return launched();
}

cudaError_t cu_quant_q8(cudaStream_t s, void *q8, cu_view x)
{
    const int64_t blocks = x.ne[0] / 32 * x.ne[1];
    if (blocks)
        quant_q8_kernel<<<blocks_for(blocks * 32, 256), 256, 0, s>>>((char *)q8, nullptr, CU_F32, x, x.ne[0] / 32,
                                                                     blocks);
    return launched();
}

cudaError_t cu_mmv(cudaStream_t s, cu_view d, cu_view x, cu_view w, const void *q8, const float *bias, int act,
                   int x_type)
{
    mmv_args a = {d, x, w, nullptr, nullptr, nullptr, bias, act, x_type, x.ne[0], w.ne[1], x.ne[1]};
    if (a.M > CU_MMV_MAX)
        return cudaErrorInvalidValue;
    if (!a.N || !a.M)
        return launched();
    const unsigned grid = (unsigned)((a.N + MMV_WARPS - 1) / MMV_WARPS);
    const int t = w.type;
    if (t == CU_Q8_0 || t == CU_Q4_0 || t == CU_Q4_1) {
        const int64_t nb = a.M * (a.K / 32);
        a.xd = (const float *)q8, a.xs = a.xd + nb, a.xq = (const int8_t *)q8 + CU_Q8_QS(nb);
        if (t == CU_Q8_0)
            mmv_q_kernel<CU_Q8_0><<<grid, MMV_WARPS * 32, 0, s>>>(a);
        else if (t == CU_Q4_0)
            mmv_q_kernel<CU_Q4_0><<<grid, MMV_WARPS * 32, 0, s>>>(a);
        else
            mmv_q_kernel<CU_Q4_1><<<grid, MMV_WARPS * 32, 0, s>>>(a);
        return launched();
    }
    /* 8 adjacent elements per load where rows allow it */
    bool vec = (t == CU_F32 || t == CU_F16 || t == CU_BF16) && a.K % 8 == 0 && (uintptr_t)w.p % 16 == 0 &&
               w.nb[1] % 16 == 0 && w.nb[0] == (t == CU_F32 ? 4 : 2) && (uintptr_t)x.p % 16 == 0 && x.nb[1] % 16 == 0;
    return by_type(t, [&](auto tt) {
        constexpr int T = decltype(tt)::value;
        if constexpr (T == CU_F32 || T == CU_F16 || T == CU_BF16)
            if (vec) {
                mmv_f_kernel<T, true><<<grid, MMV_WARPS * 32, 0, s>>>(a);
                return launched();
            }
        mmv_f_kernel<T, false><<<grid, MMV_WARPS * 32, 0, s>>>(a);
        return launched();
    });
}

cudaError_t cu_bias_act(cudaStream_t s, cu_view d, const float *bias, int act)
{
    const int64_t n = d.ne[0] * d.ne[1];
    if (n && (bias || act != CU_ACT_NONE))
        bias_act_kernel<<<blocks_for(n, 256), 256, 0, s>>>(d, bias, act, n);
    return launched();
}

} /* extern "C" */
