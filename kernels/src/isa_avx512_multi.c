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

#include <string.h>

#include "tg.h"

#define MT_MAX 8          /* activation rows per pass */
#define R_MAX 8           /* weight rows per pass: R x MT <= 16 accumulators (rows_for) */
#define DRAIN_GROUPS 4096 /* a lane gains at most 2 x 4 x 3 x 127 per group: far below 2^31 */

static __m512i halves16(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16((short)lo), _mm256_set1_epi16((short)hi), 1);
}

/* Lane t of the result is the sum of v[t]'s sixteen lanes: four rounds of pairing halves of two
 * vectors (512 -> 256 -> 128 -> 64 -> 32 bits), 45 instructions for 16 sums where sixteen
 * separate horizontal reductions take about 130; at nano's 256-column rows the separate ones cost
 * more than the products. */
static inline __attribute__((always_inline)) __m512i reduce16_epi32(const __m512i v[16]) {
    __m512i s1[8], s2[4], s3[2];
    for (int p = 0; p < 8; p++) /* blocks: [a0+a2, a1+a3, b0+b2, b1+b3] of a = v[2p], b = v[2p+1] */
        s1[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0x44),
                                 _mm512_shuffle_i64x2(v[2 * p], v[2 * p + 1], 0xEE));
    for (int p = 0; p < 4; p++) /* 128-bit block b holds four partial sums of v[4p + b] */
        s2[p] = _mm512_add_epi32(_mm512_shuffle_i64x2(s1[2 * p], s1[2 * p + 1], 0x88),
                                 _mm512_shuffle_i64x2(s1[2 * p], s1[2 * p + 1], 0xDD));
    for (int p = 0; p < 2; p++) /* block b: [v[8p+b], v[8p+4+b], v[8p+b], v[8p+4+b]] halves */
        s3[p] = _mm512_add_epi32(_mm512_unpacklo_epi32(s2[2 * p], s2[2 * p + 1]),
                                 _mm512_unpackhi_epi32(s2[2 * p], s2[2 * p + 1]));
    /* lane 4b + l is now the sum of v[4l + b]; one permute puts v[t] at lane t */
    const __m512i all = _mm512_add_epi32(_mm512_unpacklo_epi64(s3[0], s3[1]), _mm512_unpackhi_epi64(s3[0], s3[1]));
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), all);
}

/* Rows row[0..R) against MT activation rows from j0: lane j * R + i of the result is the sum over
 * row i of code * q_j.
 * The group is broadcast to both halves of a zmm and each half shifted right by its own field's
 * position (vpsrlvw), so after one AND both halves hold plain codes {0..3} in activation order and
 * the fields of a group share one accumulator per (row, activation row). */
static inline __attribute__((always_inline)) __m512i rows_pass(const tg_ternary_args *a, const uint8_t *const *row,
                                                            const int R, int64_t j0, const int MT) {
    const int i2s = a->type == TG_I2_S;
    const int s0 = i2s ? 6 : 0, s1 = i2s ? 4 : 2, s2 = i2s ? 2 : 4, s3 = i2s ? 0 : 6;
    const __m512i shift_lo = halves16(s0, s1), shift_hi = halves16(s2, s3), three = _mm512_set1_epi8(3);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    __m512i acc[R_MAX][MT_MAX], total = _mm512_setzero_si512();
    for (int64_t g0 = 0; g0 < groups; g0 += DRAIN_GROUPS) {
    const int64_t g1 = g0 + DRAIN_GROUPS < groups ? g0 + DRAIN_GROUPS : groups;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < MT; j++) acc[i][j] = _mm512_setzero_si512();
    for (int64_t g = g0; g < g1; g++) {
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
    /* the R x MT lane sums in one transposing tree (integer sums: any order gives the same bits);
     * lane t is weight row t % R against activation row t / R, so each activation row's R outputs
     * are adjacent */
    __m512i v[16];
    for (int t = 0; t < 16; t++) v[t] = t < R * MT ? acc[t % R][t / R] : _mm512_setzero_si512();
    total = _mm512_add_epi32(total, reduce16_epi32(v));
    }
    return total;
}

/* Weight rows per pass for MT activation rows: 16 accumulators in all (8 x 2, 4 x 4, 2 x 8). */
#define ROWS_FOR(MT) ((MT) <= 2 ? 8 : (MT) <= 4 ? 4 : 2)

/* Per-lane constants of a pass of R weight rows x MT activation rows (lane t: weight row t % R,
 * activation row t / R): the activation rows' sums of q and scales. */
typedef struct {
    __m512i xsum;
    __m512 xscale;
} act_lanes;

static inline __attribute__((always_inline)) act_lanes act_lanes_of(const tg_ternary_args *a, const int R, int64_t j0,
                                                                    const int MT, const int32_t *xsum_all) {
    int32_t xs[16] = {0};
    float sc[16] = {0};
    for (int t = 0; t < R * MT; t++) xs[t] = xsum_all[j0 + t / R], sc[t] = a->xscale[j0 + t / R];
    return (act_lanes){_mm512_loadu_si512(xs), _mm512_loadu_ps(sc)};
}

/* The reference's fold, tg_acc_segment(0, d, isum - xsum) * xscale, on all lanes of a pass at once
 * (the same two roundings per lane as the scalar code), then each activation row's R adjacent
 * outputs stored together. */
static inline __attribute__((always_inline)) void store_pass(const tg_ternary_args *a, const uint8_t *const *row,
                                                             int64_t r, const int R, int64_t j0, const int MT,
                                                             __m512i isum, const act_lanes *lanes, const float *fp16) {
    float d_row[R_MAX], d[16] = {0}, out[16];
    for (int i = 0; i < R; i++) d_row[i] = a->type == TG_I2_S ? a->tensor_scale : fp16[tg_block_d_bits(a->type, row[i], 0)];
    for (int t = 0; t < R * MT; t++) d[t] = d_row[t % R];
    const __m512 part = _mm512_mul_ps(_mm512_loadu_ps(d), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, lanes->xsum)));
    _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_add_ps(_mm512_setzero_ps(), part), lanes->xscale));
    for (int j = 0; j < MT; j++) memcpy(a->y + (j0 + j) * a->n + r, out + j * R, sizeof(float) * (size_t)R);
}

static inline __attribute__((always_inline)) void rows_tile(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                            const int MT, const int32_t *xsum_all) {
    const int RP = ROWS_FOR(MT);
    const float *fp16 = tg_fp16_table();
    const act_lanes full = act_lanes_of(a, RP, j0, MT, xsum_all), one = act_lanes_of(a, 1, j0, MT, xsum_all);
    for (int64_t r = row0; r < row1;) {
        const int R = row1 - r >= RP ? RP : 1;
        const uint8_t *row[R_MAX];
        for (int i = 0; i < R; i++) row[i] = a->data + (r + i) * a->row_bytes;
        if (R == RP) store_pass(a, row, r, RP, j0, MT, rows_pass(a, row, RP, j0, MT), &full, fp16);
        else store_pass(a, row, r, 1, j0, MT, rows_pass(a, row, 1, j0, MT), &one, fp16);
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
