/*
 * AVX2 multi-row GEMV for small M (batched decode) on the 2-bit formats (TQ2_0, I2_S): each
 * packed 32-byte group of a weight row is loaded and split into its four 2-bit fields once, and
 * the codes then meet every activation row of the tile (up to PAIR_MT or MT_MAX) in vpmaddubsw + vpmaddwd,
 * so the weight bytes and their decoding are shared by all M rows. Built in the AVX2 static
 * library with its flags (binding.gyp).
 *
 * Codes are at most 3, so four int16 pair sums stay far from vpmaddubsw's saturation (4 x 2 x
 * 3 x 127): the integers are exact. Only single-scale rows come here (small_m.c checks), so the
 * fold is the reference's single tg_acc_segment and the bits are the M = 1 GEMV's.
 *
 * Layout: two weight rows per vector, one 128-bit lane each: lane i holds row i's 16-byte half of
 * a group against the activations' matching 16 bytes broadcast to both lanes, so an accumulator
 * holds two rows' sums apart. Four activation rows' accumulators reduce in one transpose-add
 * (reduce_pairs) and two pairs' results fold and store as four rows per activation row with
 * vector float operations. At nano's K = 256 a (row, activation row) sum is two groups of
 * vpmaddubsw, and a horizontal sum and scalar fold per sum (the row-at-a-time pass, kept for
 * long rows) cost as much again.
 */
#include <immintrin.h>

#include "tg.h"

#define PAIR_MT 4 /* activation rows per pass: 4 accumulators + 4 codes + temporaries in 16 ymm */

/* Lane 4q + j of the result is the sum of the four lanes of 128-bit lane q of a[j]. */
static inline __attribute__((always_inline)) __m256i reduce_pairs(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(a0, a1), _mm256_unpackhi_epi32(a0, a1));
    const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(a2, a3), _mm256_unpackhi_epi32(a2, a3));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
}

/* Rows r0, r1 against MT <= 4 activation rows from j0: lane 4q + j is row q's sum of code * q_j
 * (integer adds wrap modulo 2^32, so the sum is exact whenever it fits). */
static inline __attribute__((always_inline)) __m256i pair_sums(const tg_ternary_args *a, const uint8_t *r0, const uint8_t *r1,
                                                              int64_t j0, const int MT, const int i2s) {
    const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    __m256i acc[PAIR_MT];
    for (int j = 0; j < PAIR_MT; j++) acc[j] = _mm256_setzero_si256();
    for (int64_t g = 0; g < groups; g++) {
        const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                   : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) + 32 * (g & 1);
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(r0 + offset)), w1 = _mm256_loadu_si256((const __m256i *)(r1 + offset));
        /* half h of both rows: [r0 bytes 16h..16h+16, r1 bytes 16h..16h+16] */
        const __m256i p[2] = {_mm256_permute2x128_si256(w0, w1, 0x20), _mm256_permute2x128_si256(w0, w1, 0x31)};
        for (int h = 0; h < 2; h++) {
            __m256i c[4];
            for (int n = 0; n < 4; n++) {
                const int shift = i2s ? 6 - 2 * n : 2 * n;
                c[n] = _mm256_and_si256(shift ? _mm256_srli_epi16(p[h], shift) : p[h], three);
            }
            for (int j = 0; j < MT; j++) {
                /* field n of half h: weights 32n + 16h .. +16 of the group; codes <= 3, so four
                 * int16 pair sums stay far from saturation (4 x 2 x 3 x 127) */
                const int8_t *xg = x + j * a->k + g * TG_GROUP + 16 * h;
                __m256i s16 = _mm256_maddubs_epi16(c[0], _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)xg)));
                for (int n = 1; n < 4; n++)
                    s16 = _mm256_add_epi16(
                        s16, _mm256_maddubs_epi16(c[n], _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xg + 32 * n)))));
                acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s16, ones));
            }
        }
    }
    return reduce_pairs(acc[0], acc[1], acc[2], acc[3]);
}

/* Four weight rows from r (R real: the others repeat the last and are not stored) against MT
 * activation rows from j0: two pairs, their sums brought to [row 0..3] per activation row, then
 * the reference's fold, tg_acc_segment(0, d, isum - xsum) * xscale, with the same two roundings
 * per lane as the scalar code. */
static inline __attribute__((always_inline)) void pair_quad(const tg_ternary_args *a, int64_t r, int R, int64_t j0, const int MT,
                                                           const int i2s, const int32_t *xsum_all, const float *fp16) {
    const uint8_t *row[4];
    for (int i = 0; i < 4; i++) row[i] = a->data + (r + (i < R ? i : R - 1)) * a->row_bytes;
    const __m256i s01 = pair_sums(a, row[0], row[1], j0, MT, i2s), s23 = pair_sums(a, row[2], row[3], j0, MT, i2s);
    /* s01 lane 4q + j: row q, activation j (q = 0, 1); s23 the same for rows 2, 3 */
    const __m256i lo = _mm256_permute2x128_si256(s01, s23, 0x20); /* [row 0 | row 2] x j */
    const __m256i hi = _mm256_permute2x128_si256(s01, s23, 0x31); /* [row 1 | row 3] x j */
    /* per 128-bit lane: [j0: r, r+1, j1: r, r+1] and [j2 ..., j3 ...]; lane 0 rows 0, 1, lane 1 rows 2, 3 */
    const __m256i e = _mm256_unpacklo_epi32(lo, hi), f = _mm256_unpackhi_epi32(lo, hi);
    /* activation rows 0, 1 (e) and 2, 3 (f) as [j: rows 0 1 2 3 | j + 1: rows 0 1 2 3] */
    const __m256i isum[2] = {_mm256_permute4x64_epi64(e, 0xD8), _mm256_permute4x64_epi64(f, 0xD8)};
    /* the four rows' scales built in registers (four scalar stores read back as one vector miss
     * store forwarding) */
    const __m128 d4 = a->type == TG_I2_S ? _mm_set1_ps(a->tensor_scale)
                                         : _mm_setr_ps(fp16[tg_block_d_bits(a->type, row[0], 0)], fp16[tg_block_d_bits(a->type, row[1], 0)],
                                                       fp16[tg_block_d_bits(a->type, row[2], 0)], fp16[tg_block_d_bits(a->type, row[3], 0)]);
    const __m256 d = _mm256_set_m128(d4, d4);
    for (int jp = 0; jp < MT; jp += 2) {
        const int j = (int)j0 + jp, two = jp + 1 < MT;
        const __m256i xs = _mm256_setr_epi32(xsum_all[j], xsum_all[j], xsum_all[j], xsum_all[j], two ? xsum_all[j + 1] : 0,
                                             two ? xsum_all[j + 1] : 0, two ? xsum_all[j + 1] : 0, two ? xsum_all[j + 1] : 0);
        const __m256 sc = _mm256_setr_m128(_mm_set1_ps(a->xscale[j]), _mm_set1_ps(two ? a->xscale[j + 1] : 0.0f));
        const __m256 part = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[jp / 2], xs)));
        const __m256 out = _mm256_mul_ps(_mm256_add_ps(_mm256_setzero_ps(), part), sc);
        float *y = a->y + (int64_t)j * a->n + r;
        if (R == 4) {
            _mm_storeu_ps(y, _mm256_castps256_ps128(out));
            if (two) _mm_storeu_ps(y + a->n, _mm256_extractf128_ps(out, 1));
        } else {
            const __m128i keep = _mm_cmpgt_epi32(_mm_set1_epi32(R), _mm_setr_epi32(0, 1, 2, 3));
            _mm_maskstore_ps(y, keep, _mm256_castps256_ps128(out));
            if (two) _mm_maskstore_ps(y + a->n, keep, _mm256_extractf128_ps(out, 1));
        }
    }
}

/* The format's field order a compile-time constant, so the field shifts are immediates. */
static inline __attribute__((always_inline)) void pair_tile_of(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                              const int MT, const int i2s, const int32_t *xsum_all) {
    const float *fp16 = i2s ? NULL : tg_fp16_table();
    int64_t r = row0;
    for (; r + 4 <= row1; r += 4) pair_quad(a, r, 4, j0, MT, i2s, xsum_all, fp16);
    if (r < row1) pair_quad(a, r, (int)(row1 - r), j0, MT, i2s, xsum_all, fp16);
}

static inline __attribute__((always_inline)) void pair_tile(const tg_ternary_args *a, int64_t row0, int64_t row1, int64_t j0,
                                                           const int MT, const int32_t *xsum_all) {
    if (a->type == TG_I2_S) pair_tile_of(a, row0, row1, j0, MT, 1, xsum_all);
    else pair_tile_of(a, row0, row1, j0, MT, 0, xsum_all);
}

/* ---- long rows: main's row-at-a-time pass, one accumulator per (row, activation row) ----
 * Past K = 1024 the end-of-row sums are a small part, and eight activation rows per pass share
 * each decoded group (the pair layout's four: 2B-4T's K = 2560 at M = 8, 16 ran 3-9% slower in
 * pairs). */
#define PAIR_MAX_GROUPS 8 /* groups per row up to which the pair layout is taken */

#define MT_MAX 8 /* 8 accumulators + 4 codes + the int16 partial in 16 ymm registers */

static inline __attribute__((always_inline)) int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline __attribute__((always_inline)) void long_tile(const tg_ternary_args *a, int64_t row0, int64_t row1,
                                                            int64_t j0, const int MT, const int32_t *xsum_all) {
    const int i2s = a->type == TG_I2_S;
    const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const int64_t groups = a->k / TG_GROUP;
    const int8_t *x = a->xq + j0 * a->k;
    for (int64_t r = row0; r < row1; r++) {
        const uint8_t *row = a->data + r * a->row_bytes;
        __m256i acc[MT_MAX];
        for (int j = 0; j < MT; j++) acc[j] = _mm256_setzero_si256();
        for (int64_t g = 0; g < groups; g++) {
            const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                       : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) + 32 * (g & 1);
            const __m256i w = _mm256_loadu_si256((const __m256i *)(row + offset));
            __m256i c[4];
            for (int n = 0; n < 4; n++) c[n] = _mm256_and_si256(_mm256_srli_epi16(w, i2s ? 6 - 2 * n : 2 * n), three);
            for (int j = 0; j < MT; j++) {
                const int8_t *xg = x + j * a->k + g * TG_GROUP;
                __m256i s = _mm256_maddubs_epi16(c[0], _mm256_loadu_si256((const __m256i *)xg));
                for (int n = 1; n < 4; n++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[n], _mm256_loadu_si256((const __m256i *)(xg + 32 * n))));
                acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(s, ones));
            }
        }
        const float d = i2s ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, row, 0));
        for (int j = 0; j < MT; j++)
            a->y[(j0 + j) * a->n + r] = tg_acc_segment(0.0f, d, hsum8(acc[j]) - xsum_all[j0 + j]) * a->xscale[j0 + j];
    }
}

void tg_avx2_gemv_ternary_multi(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all) {
    if (a->k / TG_GROUP <= PAIR_MAX_GROUPS) {
        for (int64_t j0 = 0; j0 < a->m; j0 += PAIR_MT) {
            const int64_t left = a->m - j0;
            switch (left < PAIR_MT ? left : PAIR_MT) {
#define TILE_CASE(n) \
    case n: pair_tile(a, row0, row1, j0, n, xsum_all); break;
                TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#undef TILE_CASE
            default: break;
            }
        }
        return;
    }
    for (int64_t j0 = 0; j0 < a->m; j0 += MT_MAX) {
        const int64_t left = a->m - j0;
        switch (left < MT_MAX ? left : MT_MAX) {
#define TILE_CASE(n) \
    case n: long_tile(a, row0, row1, j0, n, xsum_all); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#undef TILE_CASE
        default: break;
        }
    }
}
