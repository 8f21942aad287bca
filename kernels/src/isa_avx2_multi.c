/*
 * AVX2 multi-row GEMV for small M (batched decode) on the 2-bit formats (TQ2_0, I2_S): each
 * packed 32-byte group of a weight row is loaded and split into its four 2-bit fields once, and
 * the codes then meet every activation row of the tile (up to MT_MAX) in vpmaddubsw + vpmaddwd,
 * so the weight bytes and their decoding are shared by all M rows. Built in the AVX2 static
 * library with its flags (binding.gyp).
 *
 * Codes are at most 3, so four int16 pair sums stay far from vpmaddubsw's saturation (4 x 2 x
 * 3 x 127): the integers are exact. Only single-scale rows come here (small_m.c checks), so the
 * fold is the reference's single tg_acc_segment and the bits are the M = 1 GEMV's.
 */
#include <immintrin.h>

#include "tg.h"

#define MT_MAX 8 /* 8 accumulators + 4 codes + the int16 partial in 16 ymm registers */

static inline __attribute__((always_inline)) int32_t hsum8(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline __attribute__((always_inline)) void rows_tile(const tg_ternary_args *a, int64_t row0, int64_t row1,
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
