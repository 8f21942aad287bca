/*
 * AVX-512 VNNI multi-row GEMV for small M (batched decode) on the 2-bit formats (TQ2_0, I2_S):
 * each packed 32-byte group of a weight row is loaded and masked once and then meets every
 * activation row of the tile (up to MT_MAX) in vpdpbusd, so the weight bytes and their decoding
 * are shared by all M rows. Built in the AVX-512 static library with its flags (binding.gyp).
 *
 * Only rows whose blocks all carry one scale come here (small_m.c checks; real BitNet files have
 * one scale per tensor): a row is then one segment and the result is the reference's single
 * fold, tg_acc_segment(0, d, sum(c q) - sum(q)) * xscale, exactly the M = 1 GEMV's bits.
 *
 * The masking is the M = 1 kernel's: the group broadcast to both halves of a zmm, a different
 * 2-bit field kept in each half, so the codes stay shifted left by their field position and
 * one arithmetic shift per int32 lane at the end removes the scale (each lane sees one field).
 */
#include <immintrin.h>

#include "tg.h"

#define MT_MAX 8         /* activation rows per pass: 2 x 8 accumulators + the weight's 2 stay in registers */
#define DRAIN_GROUPS 2048 /* scaled lanes stay below 2^31: 2 x 4 x (3 << 6) x 127 per group */

static __m512i halves8(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi8((char)lo), _mm256_set1_epi8((char)hi), 1);
}

static __m512i halves32(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
}

/* One weight row against MT activation rows; isum[j] = sum over the row of code * q_j. */
static inline __attribute__((always_inline)) void row_tile(const tg_ternary_args *a, const uint8_t *row, int64_t j0,
                                                           const int MT, int32_t *isum) {
    const int i2s = a->type == TG_I2_S;
    const int s0 = i2s ? 6 : 0, s1 = i2s ? 4 : 2, s2 = i2s ? 2 : 4, s3 = i2s ? 0 : 6;
    const __m512i mask_lo = halves8(3 << s0, 3 << s1), mask_hi = halves8(3 << s2, 3 << s3);
    const __m512i shift_lo = halves32(s0, s1), shift_hi = halves32(s2, s3);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    __m512i lo[MT_MAX], hi[MT_MAX];
    for (int j = 0; j < MT; j++) lo[j] = hi[j] = _mm512_setzero_si512(), isum[j] = 0;
    for (int64_t g = 0; g < groups; g++) {
        if (g % DRAIN_GROUPS == DRAIN_GROUPS - 1)
            for (int j = 0; j < MT; j++) {
                isum[j] += _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_srav_epi32(lo[j], shift_lo), _mm512_srav_epi32(hi[j], shift_hi)));
                lo[j] = hi[j] = _mm512_setzero_si512();
            }
        const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                   : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) + 32 * (g & 1);
        const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(row + offset)));
        const __m512i wl = _mm512_and_si512(w, mask_lo), wh = _mm512_and_si512(w, mask_hi);
        for (int j = 0; j < MT; j++) {
            const int8_t *xg = x + j * a->k + g * TG_GROUP;
            lo[j] = _mm512_dpbusd_epi32(lo[j], wl, _mm512_loadu_si512(xg));
            hi[j] = _mm512_dpbusd_epi32(hi[j], wh, _mm512_loadu_si512(xg + 64));
        }
    }
    for (int j = 0; j < MT; j++)
        isum[j] += _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_srav_epi32(lo[j], shift_lo), _mm512_srav_epi32(hi[j], shift_hi)));
}

static inline __attribute__((always_inline)) void rows_tile(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0, const int MT, const int32_t *xsum_all) {
    for (int64_t r = row0; r < row1; r++) {
        const uint8_t *row = a->data + r * a->row_bytes;
        int32_t isum[MT_MAX];
        row_tile(a, row, j0, MT, isum);
        const float d = a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, row, 0));
        for (int j = 0; j < MT; j++)
            a->y[(j0 + j) * a->n + r] = tg_acc_segment(0.0f, d, isum[j] - xsum_all[j0 + j]) * a->xscale[j0 + j];
    }
}

void tg_avx512_gemv_ternary_multi(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all) {
    for (int64_t j0 = 0; j0 < a->m; j0 += MT_MAX) {
        const int64_t left = a->m - j0;
        switch (left < MT_MAX ? left : MT_MAX) {
#define TILE_CASE(n) \
    case n: rows_tile(a, row0, row1, j0, n, xsum_all); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#undef TILE_CASE
        default: break;
        }
    }
}
