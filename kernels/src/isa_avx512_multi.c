/*
 * AVX-512 VNNI multi-row GEMV for small M (batched decode) on the 2-bit formats (TQ2_0, I2_S):
 * each packed 32-byte group of a weight row is loaded and decoded once and then meets every
 * activation row of the tile (up to MT_MAX) in vpdpbusd, so the weight bytes and their decoding
 * are shared by all M rows. Built in the AVX-512 static library with its flags (binding.gyp).
 *
 * Only rows whose blocks all carry one scale come here (small_m.c checks; real BitNet files have
 * one scale per tensor): a row is then one segment and the result is the reference's single
 * fold, tg_acc_segment(0, d, sum(c q) - sum(q)) * xscale, exactly the M = 1 GEMV's bits.
 *
 * Layout: four weight rows share a vector, one 128-bit quarter each (quad_pieces), against the
 * activations' matching 16 bytes broadcast to all four quarters. At nano's K = 256 a (row,
 * activation row) sum is only four vpdpbusd, so the end-of-row reduction decides the cost: with
 * a row per quarter the accumulators already hold four rows' sums apart, and four activation
 * rows' accumulators reduce in one 4 x 4 transpose-add of 9 instructions (reduce_quads) where a
 * whole-vector accumulator per (row, activation row) needed a 16-to-1 tree (45 for 16 sums).
 * On the 2B-4T's long rows the layout measured as fast as or faster than that row-per-vector
 * pass at every M, so it is the only one.
 */
#include <immintrin.h>

#include "tg.h"

#define MT_MAX 8          /* activation rows per pass */

/* The two 16-byte halves (h = 0, 1) of group `offset` of four rows as vectors whose quarter i is
 * row i's half: [r0.h, r1.h, r2.h, r3.h]. Two 256-bit row pairs and two block shuffles, cheaper
 * than four 128-bit inserts per half. */
static inline __attribute__((always_inline)) void quad_pieces(const uint8_t *const *row, int64_t offset, __m512i p[2]) {
    const __m512i r01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(row[0] + offset))),
                                           _mm256_loadu_si256((const __m256i *)(row[1] + offset)), 1);
    const __m512i r23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(row[2] + offset))),
                                           _mm256_loadu_si256((const __m256i *)(row[3] + offset)), 1);
    p[0] = _mm512_shuffle_i64x2(r01, r23, _MM_SHUFFLE(2, 0, 2, 0));
    p[1] = _mm512_shuffle_i64x2(r01, r23, _MM_SHUFFLE(3, 1, 3, 1));
}

/* Lane 4q + j of the result is the sum of the four lanes of quarter q of a[j]: rows in quarters,
 * activation rows within them. */
static inline __attribute__((always_inline)) __m512i reduce_quads(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    /* per quarter: [a0 0+2, a1 0+2, a0 1+3, a1 1+3], the same for a2, a3 */
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
}

/* Quads per pass: each activation load serves Q quads, each accumulator chain is one (quad,
 * activation row), and the registers hold 2Q pieces + Q codes + Q x MT accumulators: two quads
 * at MT > 4 (24), four at MT <= 4 (30; measured 1.2x two at M = 3, 4, K = 256). */
#define QUADS_FOR(MT) ((MT) > 4 ? 2 : 4)
#define Q_MAX 4
/* Accumulators per (quad, activation row): at least eight vpdpbusd chains in flight (two ports,
 * five cycles of latency), also in a pass of one quad against one or two activation rows. */
#define SPLITS_FOR(CHAINS) ((CHAINS) >= 8 ? 1 : (CHAINS) >= 4 ? 2 : (CHAINS) >= 2 ? 4 : 8)

/* Per-lane constants of a group of four activation rows from j (lane 4j' + q: activation row
 * j + j', weight row q): their sums of q and scales. Lanes past the tile's rows are zero. */
typedef struct {
    __m512i xsum;
    __m512 xscale;
} act_lanes;

static act_lanes act_lanes_of(const tg_ternary_args *a, int64_t j, int count, const int32_t *xsum_all) {
    int32_t xs[16] = {0};
    float sc[16] = {0};
    for (int t = 0; t < 4 * count; t++) xs[t] = xsum_all[j + t / 4], sc[t] = a->xscale[j + t / 4];
    return (act_lanes){_mm512_loadu_si512(xs), _mm512_loadu_ps(sc)};
}

/* One quad's MT sums (rows in quarters) to outputs: the transpose-reduce, the reference's fold
 * and the stores of its R real rows. */
static inline __attribute__((always_inline)) void store_quad(const tg_ternary_args *a, const uint8_t *const *row, int64_t r,
                                                             int R, int64_t j0, const int MT, const __m512i *total,
                                                             const act_lanes *lanes, const float *fp16) {
    /* the four rows' scales built in registers: four scalar stores read back as one vector
     * would miss store forwarding on every quad */
    const __m128 d4 = a->type == TG_I2_S ? _mm_set1_ps(a->tensor_scale)
                                         : _mm_setr_ps(fp16[tg_block_d_bits(a->type, row[0], 0)], fp16[tg_block_d_bits(a->type, row[1], 0)],
                                                       fp16[tg_block_d_bits(a->type, row[2], 0)], fp16[tg_block_d_bits(a->type, row[3], 0)]);
    const __m512 d = _mm512_broadcast_f32x4(d4);
    /* lane 4q + j -> 4j + q, so each activation row's four outputs are one 128-bit block */
    const __m512i to_rows = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __mmask8 keep = (__mmask8)((1u << R) - 1);
    const __m512i zero = _mm512_setzero_si512();
    _Pragma("GCC unroll 2") for (int j = 0; j < MT; j += 4) {
        const __m512i sums = reduce_quads(total[j], j + 1 < MT ? total[j + 1] : zero, j + 2 < MT ? total[j + 2] : zero,
                                          j + 3 < MT ? total[j + 3] : zero);
        const __m512i isum = _mm512_permutexvar_epi32(to_rows, sums);
        const act_lanes *l = &lanes[j / 4];
        /* the reference's fold, tg_acc_segment(0, d, isum - xsum) * xscale, on every lane (the
         * same two roundings per lane as the scalar code) */
        const __m512 part = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, l->xsum)));
        const __m512 out = _mm512_mul_ps(_mm512_add_ps(_mm512_setzero_ps(), part), l->xscale);
        float *y = a->y + (j0 + j) * a->n + r;
        const int64_t n = a->n;
        if (R == 4) {
            _mm_storeu_ps(y, _mm512_castps512_ps128(out));
            if (j + 1 < MT) _mm_storeu_ps(y + n, _mm512_extractf32x4_ps(out, 1));
            if (j + 2 < MT) _mm_storeu_ps(y + 2 * n, _mm512_extractf32x4_ps(out, 2));
            if (j + 3 < MT) _mm_storeu_ps(y + 3 * n, _mm512_extractf32x4_ps(out, 3));
        } else {
            _mm_mask_storeu_ps(y, keep, _mm512_castps512_ps128(out));
            if (j + 1 < MT) _mm_mask_storeu_ps(y + n, keep, _mm512_extractf32x4_ps(out, 1));
            if (j + 2 < MT) _mm_mask_storeu_ps(y + 2 * n, keep, _mm512_extractf32x4_ps(out, 2));
            if (j + 3 < MT) _mm_mask_storeu_ps(y + 3 * n, keep, _mm512_extractf32x4_ps(out, 3));
        }
    }
}

/* Q quads of weight rows from r (the last with R real rows: the others repeat its last row and
 * are not stored) against MT activation rows from j0. */
static inline __attribute__((always_inline)) void quads_pass(const tg_ternary_args *a, int64_t r, const int Q, int R,
                                                             int64_t j0, const int MT, const int i2s, const act_lanes *lanes,
                                                             const float *fp16) {
    const __m512i three = _mm512_set1_epi8(3);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    const uint8_t *row[Q_MAX][4];
    const int64_t last = r + 4 * (Q - 1) + R - 1;
    _Pragma("GCC unroll 16") for (int q = 0; q < Q; q++)
        _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
            const int64_t rr = r + 4 * q + i;
            row[q][i] = a->data + (rr < last ? rr : last) * a->row_bytes;
        }
    /* one accumulator per (quad, activation row) over the whole row, no periodic drain: vpdpbusd
     * and vpaddd wrap modulo 2^32, so the lanes' total is the row's exact sum whenever it fits in
     * int32, which the reference's int32 isum needs anyway (|sum| <= 3 x 128 x K) */
    const int NS = SPLITS_FOR(Q * MT);
    __m512i acc[Q_MAX][MT_MAX][8];
    _Pragma("GCC unroll 4") for (int q = 0; q < Q; q++)
        _Pragma("GCC unroll 8") for (int j = 0; j < MT; j++)
            _Pragma("GCC unroll 8") for (int s = 0; s < NS; s++) acc[q][j][s] = _mm512_setzero_si512();
    for (int64_t g = 0; g < groups; g++) {
        const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                   : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) +
                                         32 * (g & 1);
        __m512i p[Q_MAX][2];
        _Pragma("GCC unroll 4") for (int q = 0; q < Q; q++) quad_pieces(row[q], offset, p[q]);
        /* piece (h, n): field n (weights 32n + 16h .. +16 of the group) of every quarter's row,
         * against those 16 activations of each row broadcast to the four quarters */
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)
            _Pragma("GCC unroll 4") for (int n = 0; n < 4; n++) {
                const int shift = i2s ? 6 - 2 * n : 2 * n;
                __m512i c[Q_MAX];
                _Pragma("GCC unroll 4") for (int q = 0; q < Q; q++)
                    c[q] = _mm512_and_si512(shift ? _mm512_srli_epi16(p[q][h], shift) : p[q][h], three);
                _Pragma("GCC unroll 8") for (int j = 0; j < MT; j++) {
                    const __m512i xb = _mm512_broadcast_i32x4(
                        _mm_loadu_si128((const __m128i *)(x + j * a->k + g * TG_GROUP + 32 * n + 16 * h)));
                    _Pragma("GCC unroll 4") for (int q = 0; q < Q; q++) acc[q][j][(4 * h + n) % NS] =
                        _mm512_dpbusd_epi32(acc[q][j][(4 * h + n) % NS], c[q], xb);
                }
            }
    }
    _Pragma("GCC unroll 4") for (int q = 0; q < Q; q++) {
        __m512i total[MT_MAX];
        _Pragma("GCC unroll 8") for (int j = 0; j < MT; j++) {
            total[j] = acc[q][j][0];
            _Pragma("GCC unroll 8") for (int s = 1; s < NS; s++) total[j] = _mm512_add_epi32(total[j], acc[q][j][s]);
        }
        store_quad(a, row[q], r + 4 * q, q == Q - 1 ? R : 4, j0, MT, total, lanes, fp16);
    }
}

/* One tile, the format's field order fixed at compile time (the shifts become immediates). */
static inline __attribute__((always_inline)) void rows_tile_of(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                               const int MT, const int i2s, const int32_t *xsum_all) {
    const int Q = QUADS_FOR(MT);
    const float *fp16 = a->type == TG_I2_S ? NULL : tg_fp16_table();
    const act_lanes lanes[2] = {act_lanes_of(a, j0, MT < 4 ? MT : 4, xsum_all),
                                MT > 4 ? act_lanes_of(a, j0 + 4, MT - 4, xsum_all) : (act_lanes){0}};
    int64_t r = row0;
    for (; r + 4 * Q <= row1; r += 4 * Q) quads_pass(a, r, Q, 4, j0, MT, i2s, lanes, fp16);
    if (Q > 2 && r + 8 <= row1) quads_pass(a, r, 2, 4, j0, MT, i2s, lanes, fp16), r += 8;
    for (; r + 4 <= row1; r += 4) quads_pass(a, r, 1, 4, j0, MT, i2s, lanes, fp16);
    if (r < row1) quads_pass(a, r, 1, (int)(row1 - r), j0, MT, i2s, lanes, fp16);
}

static inline __attribute__((always_inline)) void rows_tile(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                            const int MT, const int32_t *xsum_all) {
    if (a->type == TG_I2_S) rows_tile_of(a, row0, row1, j0, MT, 1, xsum_all);
    else rows_tile_of(a, row0, row1, j0, MT, 0, xsum_all);
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
