/*
 * One attention task (tg_attend_group_args in tg.h) in 512-bit registers. Keys come transposed in
 * blocks of sixteen positions (tg.h), so a block's sixteen scores for a head are one vector built by
 * head_dim multiply-adds of a broadcast query value with one key load each, no horizontal sums; two
 * heads and up to eight blocks at a time keep up to sixteen independent accumulators (the FMA latency hidden) and
 * share each key load. Then a vector exp (Cephes expf's reduction and polynomial) for the softmax,
 * and the weighted value sums with every head of the group and up to 64 dims in registers, over
 * even and odd positions in separate accumulators when they fit (again two chains per register).
 * Odd head dims use masked loads for the values. An fp16 cache is widened as it is loaded (vcvtph2ps
 * from half as many bytes), so both cache types share every other instruction.
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

/* Sixteen plane elements from `at` (masked: lanes off m read nothing and are 0), widened from fp16
 * for an F16 plane; F16 is a constant in every caller, so each path compiles to its one load. */
INL __m512 load_plane(const void *plane, int64_t at, const int F16) {
    if (F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)plane + at)));
    return _mm512_loadu_ps((const float *)plane + at);
}
INL __m512 load_plane_masked(const void *plane, int64_t at, __mmask16 m, const int F16) {
    if (F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)plane + at));
    return _mm512_maskz_loadu_ps(m, (const float *)plane + at);
}

/* key blocks one scores pass reads at once: two heads' accumulators, the keys and the query values
 * (2 x 8 + 8 + 2) fit the 32 vector registers */
#define SCORE_BLOCKS 8

/* Scores of heads [h0, h0 + NH) for key blocks [b0, b0 + NB): lane i of accumulator (h, b) is
 * q_h . k_{16 (b0 + b) + i}, summed over d in order with one multiply-add per dimension. */
INL void scores_blocks(const tg_attend_group_args *g, int64_t padded, float scale, int64_t h0, const int NH,
                       int64_t b0, const int NB, const int F16) {
    const int64_t dim = g->head_dim, first = b0 * dim * TG_ATTN_BLOCK;
    __m512 acc[2][SCORE_BLOCKS];
    for (int h = 0; h < NH; h++)
        for (int b = 0; b < NB; b++) acc[h][b] = _mm512_setzero_ps();
    for (int64_t d = 0; d < dim; d++) {
        __m512 k[SCORE_BLOCKS];
        for (int b = 0; b < NB; b++) k[b] = load_plane(g->keys, first + (b * dim + d) * TG_ATTN_BLOCK, F16);
        for (int h = 0; h < NH; h++) {
            const __m512 qd = _mm512_set1_ps(g->q[(h0 + h) * dim + d]);
            for (int b = 0; b < NB; b++) acc[h][b] = _mm512_fmadd_ps(qd, k[b], acc[h][b]);
        }
    }
    const __m512 s = _mm512_set1_ps(scale);
    for (int h = 0; h < NH; h++)
        for (int b = 0; b < NB; b++)
            _mm512_storeu_ps(g->scores + (h0 + h) * padded + (b0 + b) * TG_ATTN_BLOCK, _mm512_mul_ps(acc[h][b], s));
}

/* scores[h][t] = q_h . k_t * scale for every visible block (the last one's lanes past `visible`
 * are overwritten by the softmax's padding). The blocks go in passes of at most SCORE_BLOCKS, as
 * even as they split: a pass of one block had two accumulator chains, FMA latency bound, and cost
 * two thirds of a four-block pass (a fifth of nano's attention at 80 positions). Each lane still sums
 * its dot product over d in order, so how the blocks are grouped does not change a bit. */
INL void scores_group(const tg_attend_group_args *g, int64_t padded, float scale, const int F16) {
    const int64_t blocks = padded / TG_ATTN_BLOCK;
    const int64_t passes = (blocks + SCORE_BLOCKS - 1) / SCORE_BLOCKS;
    const int64_t per_pass = (blocks + passes - 1) / passes;
    for (int64_t h0 = 0; h0 < g->group; h0 += 2) {
        const int two = g->group - h0 >= 2;
        for (int64_t b0 = 0; b0 < blocks; b0 += per_pass) {
            const int64_t nb = blocks - b0 < per_pass ? blocks - b0 : per_pass;
#define SCORES_NB(NH)                                                \
    switch (nb) {                                                    \
    case 1: scores_blocks(g, padded, scale, h0, NH, b0, 1, F16); break;   \
    case 2: scores_blocks(g, padded, scale, h0, NH, b0, 2, F16); break;   \
    case 3: scores_blocks(g, padded, scale, h0, NH, b0, 3, F16); break;   \
    case 4: scores_blocks(g, padded, scale, h0, NH, b0, 4, F16); break;   \
    case 5: scores_blocks(g, padded, scale, h0, NH, b0, 5, F16); break;   \
    case 6: scores_blocks(g, padded, scale, h0, NH, b0, 6, F16); break;   \
    case 7: scores_blocks(g, padded, scale, h0, NH, b0, 7, F16); break;   \
    default: scores_blocks(g, padded, scale, h0, NH, b0, 8, F16); break;  \
    }
            if (two) {
                SCORES_NB(2)
            } else {
                SCORES_NB(1)
            }
#undef SCORES_NB
        }
    }
}

/* out[h][d0 .. d0 + 16 NV) = sum_t w[h][t] v_t for heads [h0, h0 + NH); with P = 2, even and odd
 * positions sum into separate accumulators (added at the end) so twice as many chains run at once */
INL void values_block(const tg_attend_group_args *g, int64_t padded, int64_t h0, const int NH, int64_t d0,
                      const int NV, const int F16) {
    const int64_t dim = g->head_dim;
    const int P = NH * NV <= 8 ? 2 : 1;
    __mmask16 m[4];
    for (int u = 0; u < NV; u++) m[u] = tail_mask(dim - d0 - 16 * u);
    __m512 acc[2][4][4];
    for (int p = 0; p < P; p++)
        for (int h = 0; h < NH; h++)
            for (int u = 0; u < NV; u++) acc[p][h][u] = _mm512_setzero_ps();
    int64_t t = 0;
    for (; t + P <= g->visible; t += P)
        for (int p = 0; p < P; p++) {
            const int64_t v = (t + p) * dim + d0;
            __m512 vv[4];
            for (int u = 0; u < NV; u++) vv[u] = load_plane_masked(g->values, v + 16 * u, m[u], F16);
            for (int h = 0; h < NH; h++) {
                const __m512 w = _mm512_set1_ps(g->scores[(h0 + h) * padded + t + p]);
                for (int u = 0; u < NV; u++) acc[p][h][u] = _mm512_fmadd_ps(w, vv[u], acc[p][h][u]);
            }
        }
    for (; t < g->visible; t++) {
        const int64_t v = t * dim + d0;
        for (int h = 0; h < NH; h++) {
            const __m512 w = _mm512_set1_ps(g->scores[(h0 + h) * padded + t]);
            for (int u = 0; u < NV; u++)
                acc[0][h][u] = _mm512_fmadd_ps(w, load_plane_masked(g->values, v + 16 * u, m[u], F16), acc[0][h][u]);
        }
    }
    for (int h = 0; h < NH; h++)
        for (int u = 0; u < NV; u++) {
            const __m512 sum = P == 2 ? _mm512_add_ps(acc[0][h][u], acc[1][h][u]) : acc[0][h][u];
            _mm512_mask_storeu_ps(g->out + (h0 + h) * dim + d0 + 16 * u, m[u], sum);
        }
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
        for (int64_t d0 = 0; d0 < dim; d0 += 64) {
            const int64_t nv = (dim - d0 + 15) / 16 < 4 ? (dim - d0 + 15) / 16 : 4;
#define VALUES_NV(NH)                                     \
    switch (nv) {                                         \
    case 1: values_block(g, padded, h0, NH, d0, 1, F16); break; \
    case 2: values_block(g, padded, h0, NH, d0, 2, F16); break; \
    case 3: values_block(g, padded, h0, NH, d0, 3, F16); break; \
    default: values_block(g, padded, h0, NH, d0, 4, F16); break; \
    }
            BY_HEADS(nh, VALUES_NV)
#undef VALUES_NV
        }
    }
}

void tg_avx512_attend_group(const tg_attend_group_args *g) {
    if (g->kv_type == TG_KV_F16) attend_group(g, 1);
    else attend_group(g, 0);
}
