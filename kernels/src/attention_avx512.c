/*
 * One attention task (tg_attend_group_args in tg.h) in 512-bit registers: scores sixteen positions
 * at a time with one shuffle tree for their sums (the group's heads share each block of sixteen key
 * rows while it is in L1), a vector exp (Cephes expf's reduction and polynomial) for the
 * softmax, and the weighted value sums with every head of the group and up to 64 dims in
 * registers, so each value row is read once per 64 dims. Odd head dims use masked loads.
 */
#include <immintrin.h>
#include <math.h>

#include "tg.h"

#define INL static inline __attribute__((always_inline))

INL __mmask16 tail_mask(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* exp(x) for x <= 0; 0 below -87 (where expf is within a denormal of 0) and for -inf or NaN */
INL __m512 exp_nonpositive(__m512 x) {
    const __m512 floor = _mm512_set1_ps(-87.0f);
    const __mmask16 live = _mm512_cmp_ps_mask(x, floor, _CMP_GE_OQ);
    x = _mm512_max_ps(x, floor);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(live, y, _mm512_castsi512_ps(e));
}

/* Sixteen vectors' sums in one vector, by a tree of 128-bit and in-lane shuffles (15 adds). Lane l
 * holds the sum of v[TRANSPOSE16[l]]: fill v[i] with position TRANSPOSE16[i] to get lane l = l. */
static const int TRANSPOSE16[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};
INL __m512 sums16(const __m512 *v) {
    __m512 s[8], u[4], w[2];
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
    for (int i = 0; i < 4; i++)
        u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(s[2 * i], s[2 * i + 1], 0xDD));
    for (int i = 0; i < 2; i++)
        w[i] = _mm512_add_ps(_mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0x44),
                             _mm512_shuffle_ps(u[2 * i], u[2 * i + 1], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_ps(w[0], w[1], 0x88), _mm512_shuffle_ps(w[0], w[1], 0xDD));
}

/* Sixteen positions t0.. of one head's scores. Key rows are walked by pointer steps (sixteen row
 * pointers would not fit the registers); in the last, partial block the walk stops at the last
 * visible row, so no key row past the cache is read, and the softmax's padding overwrites the rest. */
INL void scores_block16(const tg_attend_group_args *g, const float *q, int64_t t0, float scale, float *out,
                        int partial) {
    const int64_t dim = g->head_dim, stride = g->kv_stride;
    __m512 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; d += 16) {
        const __mmask16 m = tail_mask(dim - d);
        const __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
        const float *k = g->keys + t0 * stride + d;
        for (int i = 0; i < 16; i++) {
            acc[i] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k), acc[i]);
            if (!partial || t0 + i + 1 < g->visible) k += stride;
        }
    }
    __m512 ordered[16];
    for (int i = 0; i < 16; i++) ordered[i] = acc[TRANSPOSE16[i]];
    _mm512_storeu_ps(out + t0, _mm512_mul_ps(sums16(ordered), _mm512_set1_ps(scale)));
}

/* scores[h][t] = q_h . k_t * scale, sixteen positions at a time (one horizontal sum tree for all
 * sixteen), every head of the group on a block before the next, so the block's key rows are read
 * from memory once and from L1 by the other heads */
static void scores_group(const tg_attend_group_args *g, int64_t padded, float scale) {
    for (int64_t t0 = 0; t0 < g->visible; t0 += 16) {
        const int partial = t0 + 16 > g->visible;
        for (int64_t h = 0; h < g->group; h++) {
            const float *q = g->q + h * g->head_dim;
            float *out = g->scores + h * padded;
            if (partial) scores_block16(g, q, t0, scale, out, 1);
            else scores_block16(g, q, t0, scale, out, 0);
        }
    }
}

/* out[h][d0 .. d0 + 16 NV) = sum_t w[h][t] v_t for heads [h0, h0 + NH) */
INL void values_block(const tg_attend_group_args *g, int64_t padded, int64_t h0, int NH, int64_t d0, int NV) {
    const int64_t dim = g->head_dim;
    __mmask16 m[4];
    for (int u = 0; u < NV; u++) m[u] = tail_mask(dim - d0 - 16 * u);
    __m512 acc[4][4];
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) acc[h][u] = _mm512_setzero_ps();
    for (int64_t t = 0; t < g->visible; t++) {
        const float *v = g->values + t * g->kv_stride + d0;
        __m512 vv[4];
        for (int u = 0; u < NV; u++) vv[u] = _mm512_maskz_loadu_ps(m[u], v + 16 * u);
        for (int h = 0; h < NH; h++) {
            const __m512 w = _mm512_set1_ps(g->scores[(h0 + h) * padded + t]);
            for (int u = 0; u < NV; u++) acc[h][u] = _mm512_fmadd_ps(w, vv[u], acc[h][u]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) _mm512_mask_storeu_ps(g->out + (h0 + h) * dim + d0 + 16 * u, m[u], acc[h][u]);
}

/* exp(s - max) normalized to sum 1, over a padded score row whose padding holds -inf */
static void softmax_row(float *s, int64_t padded) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t t = 0; t < padded; t += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + t));
    const __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t t = 0; t < padded; t += 16) {
        const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(s + t), max));
        sum = _mm512_add_ps(sum, e);
        _mm512_storeu_ps(s + t, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int64_t t = 0; t < padded; t += 16) _mm512_storeu_ps(s + t, _mm512_mul_ps(_mm512_loadu_ps(s + t), inv));
}

#define BY_HEADS(NH_VAR, CALL)    \
    switch (NH_VAR) {             \
    case 1: CALL(1); break;       \
    case 2: CALL(2); break;       \
    case 3: CALL(3); break;       \
    default: CALL(4); break;      \
    }

void tg_avx512_attend_group(const tg_attend_group_args *g) {
    const int64_t dim = g->head_dim;
    const int64_t padded = (g->visible + TG_ATTN_PAD - 1) / TG_ATTN_PAD * TG_ATTN_PAD;
    const float scale = 1.0f / sqrtf((float)dim);
    scores_group(g, padded, scale);
    for (int64_t h = 0; h < g->group; h++) {
        float *s = g->scores + h * padded;
        for (int64_t t = g->visible; t < padded; t++) s[t] = -INFINITY;
        softmax_row(s, padded);
    }
    for (int64_t h0 = 0; h0 < g->group; h0 += 4) {
        const int64_t nh = g->group - h0 < 4 ? g->group - h0 : 4;
        for (int64_t d0 = 0; d0 < dim; d0 += 64) {
            const int64_t nv = (dim - d0 + 15) / 16 < 4 ? (dim - d0 + 15) / 16 : 4;
#define VALUES_NV(NH)                                     \
    switch (nv) {                                         \
    case 1: values_block(g, padded, h0, NH, d0, 1); break; \
    case 2: values_block(g, padded, h0, NH, d0, 2); break; \
    case 3: values_block(g, padded, h0, NH, d0, 3); break; \
    default: values_block(g, padded, h0, NH, d0, 4); break; \
    }
            BY_HEADS(nh, VALUES_NV)
#undef VALUES_NV
        }
    }
}
