/*
 * The float-path head at small M (batched decode) in 512-bit registers: each F16 or Q8_0 head row
 * is loaded and converted once per step of 32 values and then multiplied into every activation
 * row's accumulators, so the head (the largest read of a decode step) is read and widened once for
 * all M rows. Built in the AVX-512 static library with its flags (binding.gyp).
 *
 * Per (weight row, activation row) the operations are exactly those of head_avx512.c's M = 1 GEMV,
 * in its order (two accumulators of fused multiply-adds for F16, one per block times its scale for
 * Q8_0, the same reduction and the same scalar tail), so every row's result is the M = 1 result bit
 * for bit; kernels/small-m.test.ts holds the two to that. A change to the M = 1 order must be made
 * here too.
 */
#include <immintrin.h>

#include "head_avx512.h"
#include "tg.h"

#define MT_MAX 4 /* activation rows per pass (bench/small-m.ts: 4 beats 8 for Q8_0, ties for F16) */
#define INLINE static inline __attribute__((always_inline))

INLINE void f16_row(const uint8_t *row, const uint8_t *next, int64_t k, const float *x, int64_t j0, const int MT,
                    float *y, int64_t y_stride) {
    __m512 acc0[MT_MAX], acc1[MT_MAX];
    for (int j = 0; j < MT; j++) acc0[j] = acc1[j] = _mm512_setzero_ps();
    int64_t t = 0;
    for (; t + 32 <= k; t += 32) {
        if (next) _mm_prefetch((const char *)(next + 2 * t), _MM_HINT_T2);
        const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * t)));
        const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * t + 32)));
        for (int j = 0; j < MT; j++) {
            const float *xj = x + (j0 + j) * k + t;
            acc0[j] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xj), acc0[j]);
            acc1[j] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xj + 16), acc1[j]);
        }
    }
    __m512 v[MT_MAX];
    for (int j = 0; j < MT_MAX; j++) v[j] = j < MT ? _mm512_add_ps(acc0[j], acc1[j]) : _mm512_setzero_ps();
    float sums[MT_MAX];
    _mm_storeu_ps(sums, head_reduce4_ps(v[0], v[1], v[2], v[3])); /* as head_avx512.c folds a row */
    for (int j = 0; j < MT; j++) {
        const float *xj = x + (j0 + j) * k;
        float sum = sums[j];
        for (int64_t u = t; u < k; u++) sum += tg_fp16_to_fp32((uint16_t)(row[2 * u] | (row[2 * u + 1] << 8))) * xj[u];
        y[(j0 + j) * y_stride] = sum;
    }
}

/* f16_row for two weight rows and four activation rows at once: each activation load serves both
 * weight rows (with one row per pass the loads of x, not the multiply-adds, bounded the loop). Per
 * (weight row, activation row) the accumulators, their order and the fold are f16_row's, so the bits
 * are too. Only for k a multiple of 32 (no scalar tail). */
INLINE void f16_rows2x4(const uint8_t *ra, const uint8_t *rb, const uint8_t *next, int64_t k, const float *x,
                        float *y, int64_t y_stride) {
    __m512 a0[4], a1[4], b0[4], b1[4];
    for (int j = 0; j < 4; j++) a0[j] = a1[j] = b0[j] = b1[j] = _mm512_setzero_ps();
    for (int64_t t = 0; t < k; t += 32) {
        if (next) {
            /* the next pair's two rows are 4k bytes: two lines a step cover them */
            _mm_prefetch((const char *)(next + 4 * t), _MM_HINT_T2);
            _mm_prefetch((const char *)(next + 4 * t + 64), _MM_HINT_T2);
        }
        const __m512 wa0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ra + 2 * t)));
        const __m512 wa1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(ra + 2 * t + 32)));
        const __m512 wb0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rb + 2 * t)));
        const __m512 wb1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rb + 2 * t + 32)));
        for (int j = 0; j < 4; j++) {
            const __m512 x0 = _mm512_loadu_ps(x + j * k + t), x1 = _mm512_loadu_ps(x + j * k + t + 16);
            a0[j] = _mm512_fmadd_ps(wa0, x0, a0[j]);
            a1[j] = _mm512_fmadd_ps(wa1, x1, a1[j]);
            b0[j] = _mm512_fmadd_ps(wb0, x0, b0[j]);
            b1[j] = _mm512_fmadd_ps(wb1, x1, b1[j]);
        }
    }
    float sa[4], sb[4];
    _mm_storeu_ps(sa, head_reduce4_ps(_mm512_add_ps(a0[0], a1[0]), _mm512_add_ps(a0[1], a1[1]),
                                      _mm512_add_ps(a0[2], a1[2]), _mm512_add_ps(a0[3], a1[3])));
    _mm_storeu_ps(sb, head_reduce4_ps(_mm512_add_ps(b0[0], b1[0]), _mm512_add_ps(b0[1], b1[1]),
                                      _mm512_add_ps(b0[2], b1[2]), _mm512_add_ps(b0[3], b1[3])));
    for (int j = 0; j < 4; j++) y[j * y_stride] = sa[j], y[j * y_stride + 1] = sb[j];
}

INLINE void q8_0_row(const uint8_t *row, const uint8_t *next, int64_t k, const float *x, int64_t j0, const int MT,
                     float *y, int64_t y_stride) {
    const tg_block_q8_0 *blk = (const tg_block_q8_0 *)row;
    __m512 acc[MT_MAX];
    for (int j = 0; j < MT; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < k / TG_QK8_0; b++) {
        if (next && (b & 1) == 0) _mm_prefetch((const char *)(next + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T2);
        const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk[b].qs)));
        const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk[b].qs + 16))));
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(blk[b].d));
        for (int j = 0; j < MT; j++) {
            const float *xb = x + (j0 + j) * k + b * TG_QK8_0;
            const __m512 part = _mm512_fmadd_ps(q1, _mm512_loadu_ps(xb + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(xb)));
            acc[j] = _mm512_fmadd_ps(part, d, acc[j]);
        }
    }
    for (int j = 0; j < MT; j++) y[(j0 + j) * y_stride] = _mm512_reduce_add_ps(acc[j]);
}

INLINE void rows_tile(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                      int64_t row1, int64_t j0, const int MT, float *y, int64_t y_stride) {
    int64_t r = row0;
    if (type == TG_F16 && MT == 4 && k % 32 == 0)
        for (; r + 2 <= row1; r += 2) {
            const uint8_t *row = data + r * row_bytes, *next = r + 3 < row1 ? row + 2 * row_bytes : NULL;
            f16_rows2x4(row, row + row_bytes, next, k, x + j0 * k, y + j0 * y_stride + r, y_stride);
        }
    for (; r < row1; r++) {
        const uint8_t *row = data + r * row_bytes, *next = r + 1 < row1 ? row + row_bytes : NULL;
        if (type == TG_F16) f16_row(row, next, k, x, j0, MT, y + r, y_stride);
        else q8_0_row(row, next, k, x, j0, MT, y + r, y_stride);
    }
}

/* y[j * y_stride + r] for j < m and rows [row0, row1); 0 for a type it does not handle. */
int tg_avx512_gemv_float_multi(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t m,
                               int64_t row0, int64_t row1, float *y, int64_t y_stride) {
    if (type != TG_F16 && type != TG_Q8_0) return 0;
    for (int64_t j0 = 0; j0 < m; j0 += MT_MAX) {
        const int64_t left = m - j0;
        switch (left < MT_MAX ? left : MT_MAX) {
#define TILE_CASE(n) \
    case n: rows_tile(type, data, row_bytes, k, x, row0, row1, j0, n, y, y_stride); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4)
#undef TILE_CASE
        default: break;
        }
    }
    return 1;
}
