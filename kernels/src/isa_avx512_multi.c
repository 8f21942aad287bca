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
 * With codes shifted down to {0..3} (see rows_pass) one accumulator per (weight row, activation
 * row) holds all four fields, so a pass keeps 16 of them: 8 weight rows x 2 activation rows, 4 x 4
 * or 2 x 8, each activation load serving several weight rows and each decoded group several
 * activation rows.
 */
#include <immintrin.h>

#include "tg.h"

#define MT_MAX 8          /* activation rows per pass */
#define R_MAX 8           /* weight rows per pass: R x MT <= 16 accumulators (rows_for) */
#define DRAIN_GROUPS 4096 /* a lane gains at most 2 x 4 x 3 x 127 per group: far below 2^31 */

static __m512i halves16(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16((short)lo), _mm256_set1_epi16((short)hi), 1);
}

/* Rows row[0..R) against MT activation rows from j0; isum[i][j] = sum over the row of code * q_j.
 * The group is broadcast to both halves of a zmm and each half shifted right by its own field's
 * position (vpsrlvw), so after one AND both halves hold plain codes {0..3} in activation order and
 * the fields of a group share one accumulator per (row, activation row). */
static inline __attribute__((always_inline)) void rows_pass(const tg_ternary_args *a, const uint8_t *const *row,
                                                            const int R, int64_t j0, const int MT,
                                                            int32_t isum[R_MAX][MT_MAX]) {
    const int i2s = a->type == TG_I2_S;
    const int s0 = i2s ? 6 : 0, s1 = i2s ? 4 : 2, s2 = i2s ? 2 : 4, s3 = i2s ? 0 : 6;
    const __m512i shift_lo = halves16(s0, s1), shift_hi = halves16(s2, s3), three = _mm512_set1_epi8(3);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    __m512i acc[R_MAX][MT_MAX];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < MT; j++) acc[i][j] = _mm512_setzero_si512(), isum[i][j] = 0;
    for (int64_t g = 0; g < groups; g++) {
        if (g % DRAIN_GROUPS == DRAIN_GROUPS - 1)
            for (int i = 0; i < R; i++)
                for (int j = 0; j < MT; j++) isum[i][j] += _mm512_reduce_add_epi32(acc[i][j]), acc[i][j] = _mm512_setzero_si512();
        const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                   : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) + 32 * (g & 1);
        if (MT <= 4) {
            /* few activation rows: hold their group in registers and stream the R weight rows by */
            __m512i xl[4], xh[4];
            for (int j = 0; j < MT; j++) {
                const int8_t *xg = x + j * a->k + g * TG_GROUP;
                xl[j] = _mm512_loadu_si512(xg), xh[j] = _mm512_loadu_si512(xg + 64);
            }
            for (int i = 0; i < R; i++) {
                const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(row[i] + offset)));
                const __m512i wl = _mm512_and_si512(_mm512_srlv_epi16(w, shift_lo), three);
                const __m512i wh = _mm512_and_si512(_mm512_srlv_epi16(w, shift_hi), three);
                for (int j = 0; j < MT; j++) {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wl, xl[j]);
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wh, xh[j]);
                }
            }
        } else {
            /* many: hold the (two) weight rows' codes and stream the activation rows by */
            __m512i wl[2], wh[2];
            for (int i = 0; i < R; i++) {
                const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(row[i] + offset)));
                wl[i] = _mm512_and_si512(_mm512_srlv_epi16(w, shift_lo), three);
                wh[i] = _mm512_and_si512(_mm512_srlv_epi16(w, shift_hi), three);
            }
            for (int j = 0; j < MT; j++) {
                const int8_t *xg = x + j * a->k + g * TG_GROUP;
                const __m512i x_lo = _mm512_loadu_si512(xg), x_hi = _mm512_loadu_si512(xg + 64);
                for (int i = 0; i < R; i++) {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wl[i], x_lo);
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], wh[i], x_hi);
                }
            }
        }
    }
    for (int i = 0; i < R; i++)
        for (int j = 0; j < MT; j++) isum[i][j] += _mm512_reduce_add_epi32(acc[i][j]);
}

/* Weight rows per pass for MT activation rows: 16 accumulators in all (8 x 2, 4 x 4, 2 x 8). */
#define ROWS_FOR(MT) ((MT) <= 2 ? 8 : (MT) <= 4 ? 4 : 2)

static inline __attribute__((always_inline)) void rows_tile(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                            const int MT, const int32_t *xsum_all) {
    const int RP = ROWS_FOR(MT);
    for (int64_t r = row0; r < row1;) {
        const int R = row1 - r >= RP ? RP : 1;
        const uint8_t *row[R_MAX];
        for (int i = 0; i < R; i++) row[i] = a->data + (r + i) * a->row_bytes;
        int32_t isum[R_MAX][MT_MAX];
        if (R == RP) rows_pass(a, row, RP, j0, MT, isum);
        else rows_pass(a, row, 1, j0, MT, isum);
        for (int i = 0; i < R; i++) {
            const float d = a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, row[i], 0));
            for (int j = 0; j < MT; j++)
                a->y[(j0 + j) * a->n + r + i] = tg_acc_segment(0.0f, d, isum[i][j] - xsum_all[j0 + j]) * a->xscale[j0 + j];
        }
        r += R;
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
