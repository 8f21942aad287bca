/*
 * One attention task (tg_attend_group_args in tg.h) in 256-bit registers: the same steps as
 * attention_avx512.c (a key block's scores as multiply-adds of broadcast query values with the
 * transposed keys, two registers a block, two heads and two blocks at a time; a vector exp; the value
 * sums with every head of the group in registers, 16 dims at a time so the accumulators fit the 16
 * registers). Odd head dims use masked loads and stores for the values. An fp16 cache is widened as it
 * is loaded (F16C), so both cache types share every other instruction.
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

/* Eight plane elements from `at`, widened from fp16 for an F16 plane (F16 is a constant in every
 * caller); the masked form reads only lanes [0, n), the rest 0 (AVX2 has no 16-bit masked load, so an
 * fp16 tail goes through a small buffer: only head dims that are not a multiple of 8 reach it). */
INL __m256 load_plane(const void *plane, int64_t at, const int F16) {
    if (F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)plane + at)));
    return _mm256_loadu_ps((const float *)plane + at);
}
INL __m256 load_plane_masked(const void *plane, int64_t at, int64_t n, __m256i m, const int F16) {
    if (!F16) return _mm256_maskload_ps((const float *)plane + at, m);
    if (n >= 8) return load_plane(plane, at, 1);
    uint16_t tail[8] = {0};
    for (int64_t i = 0; i < n; i++) tail[i] = ((const uint16_t *)plane)[at + i];
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)tail));
}

/* Scores of heads [h0, h0 + NH) for key blocks [b0, b0 + NB), each block two registers of eight
 * positions, summed over d in order with one multiply-add per dimension. */
INL void scores_blocks(const tg_attend_group_args *g, int64_t padded, float scale, int64_t h0, const int NH,
                       int64_t b0, const int NB, const int F16) {
    const int64_t dim = g->head_dim, first = b0 * dim * TG_ATTN_BLOCK;
    __m256 acc[2][2][2];
    for (int h = 0; h < NH; h++)
        for (int b = 0; b < NB; b++) acc[h][b][0] = acc[h][b][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < dim; d++) {
        __m256 k[2][2];
        for (int b = 0; b < NB; b++) {
            k[b][0] = load_plane(g->keys, first + (b * dim + d) * TG_ATTN_BLOCK, F16);
            k[b][1] = load_plane(g->keys, first + (b * dim + d) * TG_ATTN_BLOCK + 8, F16);
        }
        for (int h = 0; h < NH; h++) {
            const __m256 qd = _mm256_broadcast_ss(g->q + (h0 + h) * dim + d);
            for (int b = 0; b < NB; b++) {
                acc[h][b][0] = _mm256_fmadd_ps(qd, k[b][0], acc[h][b][0]);
                acc[h][b][1] = _mm256_fmadd_ps(qd, k[b][1], acc[h][b][1]);
            }
        }
    }
    const __m256 s = _mm256_set1_ps(scale);
    for (int h = 0; h < NH; h++)
        for (int b = 0; b < NB; b++) {
            float *out = g->scores + (h0 + h) * padded + (b0 + b) * TG_ATTN_BLOCK;
            _mm256_storeu_ps(out, _mm256_mul_ps(acc[h][b][0], s));
            _mm256_storeu_ps(out + 8, _mm256_mul_ps(acc[h][b][1], s));
        }
}

/* scores[h][t] = q_h . k_t * scale for every visible block (the last one's lanes past `visible`
 * are overwritten by the softmax's padding) */
INL void scores_group(const tg_attend_group_args *g, int64_t padded, float scale, const int F16) {
    const int64_t blocks = padded / TG_ATTN_BLOCK;
    for (int64_t h0 = 0; h0 < g->group; h0 += 2) {
        const int two = g->group - h0 >= 2;
        for (int64_t b0 = 0; b0 < blocks; b0 += 2) {
            const int nb2 = blocks - b0 >= 2;
            if (two && nb2) scores_blocks(g, padded, scale, h0, 2, b0, 2, F16);
            else if (two) scores_blocks(g, padded, scale, h0, 2, b0, 1, F16);
            else if (nb2) scores_blocks(g, padded, scale, h0, 1, b0, 2, F16);
            else scores_blocks(g, padded, scale, h0, 1, b0, 1, F16);
        }
    }
}

/* out[h][d0 .. d0 + 8 NV) = sum_t w[h][t] v_t for heads [h0, h0 + NH) */
INL void values_block(const tg_attend_group_args *g, int64_t padded, int64_t h0, int NH, int64_t d0, int NV,
                      const int F16) {
    const int64_t dim = g->head_dim;
    __m256i m[2];
    for (int u = 0; u < NV; u++) m[u] = tail_mask(dim - d0 - 8 * u);
    __m256 acc[4][2];
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) acc[h][u] = _mm256_setzero_ps();
    for (int64_t t = 0; t < g->visible; t++) {
        const int64_t v = t * dim + d0;
        __m256 vv[2];
        for (int u = 0; u < NV; u++) vv[u] = load_plane_masked(g->values, v + 8 * u, dim - d0 - 8 * u, m[u], F16);
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

INL void attend_group(const tg_attend_group_args *g, const int F16) {
    const int64_t dim = g->head_dim;
    const int64_t padded = (g->visible + TG_ATTN_BLOCK - 1) / TG_ATTN_BLOCK * TG_ATTN_BLOCK;
    const float scale = 1.0f / sqrtf((float)dim);
    scores_group(g, padded, scale, F16);
    for (int64_t h = 0; h < g->group; h++) {
        float *s = g->scores + h * padded;
        for (int64_t t = g->visible; t < padded; t++) s[t] = -INFINITY;
        softmax_row(s, padded);
    }
    for (int64_t h0 = 0; h0 < g->group; h0 += 4) {
        const int64_t nh = g->group - h0 < 4 ? g->group - h0 : 4;
        for (int64_t d0 = 0; d0 < dim; d0 += 16) {
#define VALUES_NV(NH)                                            \
    if (dim - d0 > 8) values_block(g, padded, h0, NH, d0, 2, F16); \
    else values_block(g, padded, h0, NH, d0, 1, F16);
            BY_HEADS(nh, VALUES_NV)
#undef VALUES_NV
        }
    }
}

void tg_avx2_attend_group(const tg_attend_group_args *g) {
    if (g->kv_type == TG_KV_F16) attend_group(g, 1);
    else attend_group(g, 0);
}
