/*
 * The k-quants q4_K, q5_K and q6_K: 256-element super-blocks whose
 * sub-blocks carry their own scales (and, for q4_K and q5_K, mins),
 * themselves quantized against one f16 scale per super-block.
 *
 * Quantization is ggml's reference algorithm (quantize_row_q*_K_ref, which
 * llama.cpp's quantizer uses when no importance matrix is given), re-derived
 * here with every float operation in the same order, so the bytes are the
 * same: a weighted least-squares fit of each sub-block's scale (and min)
 * over a sweep of candidate scales, then the scales quantized to 6 or 8
 * bits, then the values re-rounded against the quantized scales.
 * Sub-blocks whose quantized scale comes out zero keep the values of the
 * first fit, as in the reference. Dequantization is the reference's
 * arithmetic, unfused (see dtype.c).
 */
#include <math.h>
#include <string.h>

#include "tensor/dtype.h"

/* no fused multiply-add: see dtype.c */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Round to nearest, ties to even, by adding 1.5 * 2^23: exact for
 * |f| < 2^22. Outside that (never for finite inputs of sane blocks, but
 * possible for infinities and NaN) the result is whatever the same bit
 * trick gives, which is what the reference gives. */
static inline int nearest_int(float f)
{
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/*
 * Fit value = scale * L - min_neg (L in 0..nmax) to the n values x with
 * weights w, minimising the weighted squared error over the scales
 * (nmax + rmin + rdelta*k) / (max - min), k = 0..nstep, each refined by
 * least squares. The min is never above zero. Returns the scale and sets
 * *min_neg (>= 0) and L. (ggml: make_qkx2_quants without use_mad.)
 */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *min_neg, float rmin, float rdelta, int nstep)
{
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *min_neg = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best += w[i] * (diff * diff);
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *min_neg = -min;
    return scale;
}

/*
 * The part q4_K and q5_K share: per sub-block of 32 a scale/min fit
 * weighted by av_x + |x| (av_x the sub-block's RMS), the 8 scales and 8
 * mins quantized to 6 bits against their maxima (d, dmin = max / 63), then
 * the values L (0..nmax) re-rounded against the quantized pairs.
 */
static void kquant_fit(const float *x, int nmax, float rmin, int nstep, uint8_t L[IA_QK_K],
                       uint16_t *d_out, uint16_t *dmin_out, uint8_t packed[12])
{
    float scales[8], mins[8], w[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mins[j], rmin, 0.1f, nstep);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }

    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        /* the reference stores the rounded value in a uint8_t, then caps */
        ls[j] = (uint8_t)nearest_int(inv_scale * scales[j]);
        lm[j] = (uint8_t)nearest_int(inv_min * mins[j]);
        if (ls[j] > 63)
            ls[j] = 63;
        if (lm[j] > 63)
            lm[j] = 63;
    }
    for (int j = 0; j < 4; j++) {
        packed[j] = (uint8_t)(ls[j] | (ls[j + 4] >> 4) << 6);
        packed[j + 4] = (uint8_t)(lm[j] | (lm[j + 4] >> 4) << 6);
        packed[j + 8] = (uint8_t)((ls[j + 4] & 0xf) | (lm[j + 4] & 0xf) << 4);
    }
    *d_out = ia__f32_to_f16(max_scale / 63.f);
    *dmin_out = ia__f32_to_f16(max_min / 63.f);

    float d_all = ia__f16_to_f32(*d_out), dmin_all = ia__f16_to_f32(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        ia__k4_scale_min(packed, j, &sc, &mn);
        float d = d_all * sc;
        if (d == 0.0f)
            continue; /* keeps the first fit's L */
        float dm = dmin_all * mn;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clampi(nearest_int((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

/* ----------------------------------------------------------------- q4_K */

void ia__q4_K_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q4_K *y = dst;
    uint8_t L[IA_QK_K];
    for (int64_t b = 0; b < n / IA_QK_K; b++, src += IA_QK_K) {
        kquant_fit(src, 15, -1.0f, 20, L, &y[b].d, &y[b].dmin, y[b].scales);
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++)
                y[b].qs[32 * j + l] = (uint8_t)(L[64 * j + l] | L[64 * j + 32 + l] << 4);
    }
}

void ia__q4_K_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q4_K *x = src;
    for (int64_t b = 0; b < n / IA_QK_K; b++) {
        float d = ia__f16_to_f32(x[b].d), dmin = ia__f16_to_f32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, mn;
            ia__k4_scale_min(x[b].scales, j, &sc, &mn);
            float d1 = d * sc, m1 = dmin * mn;
            ia__k4_scale_min(x[b].scales, j + 1, &sc, &mn);
            float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) {
                float v = d1 * (q[l] & 0xf);
                *dst++ = v - m1;
            }
            for (int l = 0; l < 32; l++) {
                float v = d2 * (q[l] >> 4);
                *dst++ = v - m2;
            }
        }
    }
}

/* ----------------------------------------------------------------- q5_K */

void ia__q5_K_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q5_K *y = dst;
    uint8_t L[IA_QK_K];
    for (int64_t b = 0; b < n / IA_QK_K; b++, src += IA_QK_K) {
        kquant_fit(src, 31, -0.5f, 15, L, &y[b].d, &y[b].dmin, y[b].scales);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int j = 0; j < 4; j++) {
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * j + l], hi = L[64 * j + 32 + l];
                if (lo > 15) {
                    lo -= 16;
                    y[b].qh[l] |= (uint8_t)(1u << (2 * j));
                }
                if (hi > 15) {
                    hi -= 16;
                    y[b].qh[l] |= (uint8_t)(2u << (2 * j));
                }
                y[b].qs[32 * j + l] = (uint8_t)(lo | hi << 4);
            }
        }
    }
}

void ia__q5_K_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q5_K *x = src;
    for (int64_t b = 0; b < n / IA_QK_K; b++) {
        float d = ia__f16_to_f32(x[b].d), dmin = ia__f16_to_f32(x[b].dmin);
        const uint8_t *ql = x[b].qs, *qh = x[b].qh;
        for (int j = 0; j < 8; j += 2, ql += 32) {
            uint8_t sc, mn, u1 = (uint8_t)(1u << j), u2 = (uint8_t)(2u << j);
            ia__k4_scale_min(x[b].scales, j, &sc, &mn);
            float d1 = d * sc, m1 = dmin * mn;
            ia__k4_scale_min(x[b].scales, j + 1, &sc, &mn);
            float d2 = d * sc, m2 = dmin * mn;
            for (int l = 0; l < 32; l++) {
                float v = d1 * ((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0));
                *dst++ = v - m1;
            }
            for (int l = 0; l < 32; l++) {
                float v = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0));
                *dst++ = v - m2;
            }
        }
    }
}

/* ----------------------------------------------------------------- q6_K */

/*
 * Fit value = scale * (L - 32), L in 0..63, to 16 values, weighted by x^2:
 * the scale that puts the largest-magnitude value at -32 and 18 nearby
 * ones, each refined by least squares, the best kept. (ggml:
 * make_qx_quants(16, 32, x, L, 1, NULL).)
 */
static float fit_scale_sym(const float *x, int8_t *L)
{
    enum { n = 16, nmax = 32 };
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < 1e-15f) { /* all (nearly) zero */
        memset(L, 0, n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

void ia__q6_K_from_f32(const float *src, void *dst, int64_t n)
{
    ia_block_q6_K *y = dst;
    int8_t L[IA_QK_K];
    float scales[16];
    for (int64_t b = 0; b < n / IA_QK_K; b++, src += IA_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int s = 0; s < 16; s++) {
            scales[s] = fit_scale_sym(src + 16 * s, L + 16 * s);
            if (fabsf(scales[s]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[s]);
                max_scale = scales[s];
            }
        }
        memset(&y[b], 0, sizeof y[b]);
        if (max_abs_scale < 1e-15f)
            continue; /* all zero, d included */

        float iscale = -128.f / max_scale;
        y[b].d = ia__f32_to_f16(1 / iscale);
        for (int s = 0; s < 16; s++) {
            int v = nearest_int(iscale * scales[s]);
            /* capped at 127; the reference's int-to-int8 store wraps */
            y[b].scales[s] = (int8_t)(uint8_t)((unsigned)(v < 127 ? v : 127) & 0xff);
        }
        float d_all = ia__f16_to_f32(y[b].d);
        for (int s = 0; s < 16; s++) {
            float d = d_all * y[b].scales[s];
            if (d == 0.0f)
                continue; /* keeps the first fit's L */
            for (int i = 0; i < 16; i++)
                L[16 * s + i] = (int8_t)(clampi(nearest_int(src[16 * s + i] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xf) | (Lh[l + 64] & 0xf) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xf) | (Lh[l + 96] & 0xf) << 4);
                qh[l] = (uint8_t)(Lh[l] >> 4 | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                  (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}

void ia__q6_K_to_f32(const void *src, float *dst, int64_t n)
{
    const ia_block_q6_K *x = src;
    for (int64_t b = 0; b < n / IA_QK_K; b++) {
        float d = ia__f16_to_f32(x[b].d);
        for (int h = 0; h < 2; h++, dst += 128) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = ((ql[l] & 0xf) | (qh[l] & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 0xf) | (qh[l] >> 2 & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | (qh[l] >> 6 & 3) << 4) - 32;
                float d1 = d * sc[s], d2 = d * sc[s + 2], d3 = d * sc[s + 4], d4 = d * sc[s + 6];
                dst[l] = d1 * q1;
                dst[l + 32] = d2 * q2;
                dst[l + 64] = d3 * q3;
                dst[l + 96] = d4 * q4;
            }
        }
    }
}
