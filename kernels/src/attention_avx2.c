/*
 * One attention task (tg_attend_group_args in tg.h) in 256-bit registers: the same steps as
 * attention_avx512.c (scores eight positions at a time with one hadd tree for their sums, a vector
 * exp, the value sums with every head of the group in registers, 16 dims at a time so the
 * accumulators fit the 16 registers). Odd head dims use masked loads and stores.
 */
#include <immintrin.h>
#include <math.h>

#include "tg.h"

#define INL static inline __attribute__((always_inline))

static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* lanes [0, n) set, for any n (clamped to 0..8) */
INL __m256i tail_mask(int64_t n) {
    const int64_t c = n >= 8 ? 8 : n <= 0 ? 0 : n;
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - c));
}

INL float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INL float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp(x) for x <= 0; 0 below -87 (where expf is within a denormal of 0) and for -inf or NaN */
INL __m256 exp_nonpositive(__m256 x) {
    const __m256 floor = _mm256_set1_ps(-87.0f);
    const __m256 live = _mm256_cmp_ps(x, floor, _CMP_GE_OQ);
    x = _mm256_max_ps(x, floor);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(live, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

/* Eight vectors' sums in one vector, lane i = sum of v[i] (two rounds of hadd, one cross-half add). */
INL __m256 sums8(const __m256 *v) {
    const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
    const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/* Eight positions t0.. of one head's scores, key rows walked by pointer steps; in the last, partial
 * block the walk stops at the last visible row (no read past the cache; the padding overwrites). */
INL void scores_block8(const tg_attend_group_args *g, const float *q, int64_t t0, float scale, float *out,
                       int partial) {
    const int64_t dim = g->head_dim, stride = g->kv_stride;
    __m256 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d += 8) {
        const __m256i m = tail_mask(dim - d);
        const __m256 qv = _mm256_maskload_ps(q + d, m);
        const float *k = g->keys + t0 * stride + d;
        for (int i = 0; i < 8; i++) {
            acc[i] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k, m), acc[i]);
            if (!partial || t0 + i + 1 < g->visible) k += stride;
        }
    }
    _mm256_storeu_ps(out + t0, _mm256_mul_ps(sums8(acc), _mm256_set1_ps(scale)));
}

/* scores[h][t] = q_h . k_t * scale, eight positions at a time, every head of the group on a block
 * before the next (its key rows stay in L1) */
static void scores_group(const tg_attend_group_args *g, int64_t padded, float scale) {
    for (int64_t t0 = 0; t0 < g->visible; t0 += 8) {
        const int partial = t0 + 8 > g->visible;
        for (int64_t h = 0; h < g->group; h++) {
            const float *q = g->q + h * g->head_dim;
            float *out = g->scores + h * padded;
            if (partial) scores_block8(g, q, t0, scale, out, 1);
            else scores_block8(g, q, t0, scale, out, 0);
        }
    }
}

/* out[h][d0 .. d0 + 8 NV) = sum_t w[h][t] v_t for heads [h0, h0 + NH) */
INL void values_block(const tg_attend_group_args *g, int64_t padded, int64_t h0, int NH, int64_t d0, int NV) {
    const int64_t dim = g->head_dim;
    __m256i m[2];
    for (int u = 0; u < NV; u++) m[u] = tail_mask(dim - d0 - 8 * u);
    __m256 acc[4][2];
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) acc[h][u] = _mm256_setzero_ps();
    for (int64_t t = 0; t < g->visible; t++) {
        const float *v = g->values + t * g->kv_stride + d0;
        __m256 vv[2];
        for (int u = 0; u < NV; u++) vv[u] = _mm256_maskload_ps(v + 8 * u, m[u]);
        for (int h = 0; h < NH; h++) {
            const __m256 w = _mm256_broadcast_ss(g->scores + (h0 + h) * padded + t);
            for (int u = 0; u < NV; u++) acc[h][u] = _mm256_fmadd_ps(w, vv[u], acc[h][u]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) _mm256_maskstore_ps(g->out + (h0 + h) * dim + d0 + 8 * u, m[u], acc[h][u]);
}

/* exp(s - max) normalized to sum 1, over a padded score row whose padding holds -inf */
static void softmax_row(float *s, int64_t padded) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int64_t t = 0; t < padded; t += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(s + t));
    const __m256 max = _mm256_set1_ps(hmax(mx));
    __m256 sum = _mm256_setzero_ps();
    for (int64_t t = 0; t < padded; t += 8) {
        const __m256 e = exp_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + t), max));
        sum = _mm256_add_ps(sum, e);
        _mm256_storeu_ps(s + t, e);
    }
    const __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (int64_t t = 0; t < padded; t += 8) _mm256_storeu_ps(s + t, _mm256_mul_ps(_mm256_loadu_ps(s + t), inv));
}

#define BY_HEADS(NH_VAR, CALL) \
    switch (NH_VAR) {          \
    case 1: CALL(1); break;    \
    case 2: CALL(2); break;    \
    case 3: CALL(3); break;    \
    default: CALL(4); break;   \
    }

void tg_avx2_attend_group(const tg_attend_group_args *g) {
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
        for (int64_t d0 = 0; d0 < dim; d0 += 16) {
#define VALUES_NV(NH)                                            \
    if (dim - d0 > 8) values_block(g, padded, h0, NH, d0, 2); \
    else values_block(g, padded, h0, NH, d0, 1);
            BY_HEADS(nh, VALUES_NV)
#undef VALUES_NV
        }
    }
}
