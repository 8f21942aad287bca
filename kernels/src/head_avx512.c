/*
 * The float-path GEMV at M = 1 (F16 and Q8_0 output heads) in 512-bit registers. The head is the
 * largest single read of a decode step (128256 x 2560 on 2B-4T: 656 MB as F16, 349 MB as Q8_0);
 * as F16 it streams at the memory's speed on any path, but as Q8_0 the AVX2 version's widening
 * (four 8-lane converts per 32-value block) costs about as much CPU as the read takes, so here
 * each block is two 16-lane converts. Compiled with the AVX-512 path's flags (binding.gyp); the
 * results agree with the scalar reference within float rounding, as every float path does.
 */
#include <immintrin.h>

#include "head_avx512.h"
#include "tg.h"

#define X86_INLINE static inline __attribute__((always_inline))

#define HEAD_ROWS 4 /* weight rows per pass: each x load serves four rows */

X86_INLINE float reduce_ps(__m512 v) { return _mm512_reduce_add_ps(v); }

/* Rows [r, r + R) of an F16 weight; the next `ahead` rows are prefetched a line per row per step. */
X86_INLINE void f16_rows(const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t r, const int R,
                         int64_t ahead, float *y) {
    __m512 acc[HEAD_ROWS][2];
    const uint8_t *rows[HEAD_ROWS];
    for (int i = 0; i < R; i++) rows[i] = data + (r + i) * row_bytes, acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    const uint8_t *next = data + (r + R) * row_bytes;
    int64_t j = 0;
    for (; j + 32 <= k; j += 32) {
        for (int64_t i = 0; i < ahead; i++) _mm_prefetch((const char *)(next + i * row_bytes + 2 * j), _MM_HINT_T2);
        const __m512 x0 = _mm512_loadu_ps(x + j), x1 = _mm512_loadu_ps(x + j + 16);
        for (int i = 0; i < R; i++) {
            const __m256i h0 = _mm256_loadu_si256((const __m256i *)(rows[i] + 2 * j));
            const __m256i h1 = _mm256_loadu_si256((const __m256i *)(rows[i] + 2 * j + 32));
            acc[i][0] = _mm512_fmadd_ps(_mm512_cvtph_ps(h0), x0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(_mm512_cvtph_ps(h1), x1, acc[i][1]);
        }
    }
    /* the R rows' sums in one reduction (head_avx512.h: the multi-row head folds the same way) */
    __m512 v[HEAD_ROWS];
    for (int i = 0; i < HEAD_ROWS; i++) v[i] = i < R ? _mm512_add_ps(acc[i][0], acc[i][1]) : _mm512_setzero_ps();
    float sums[4];
    _mm_storeu_ps(sums, head_reduce4_ps(v[0], v[1], v[2], v[3]));
    for (int i = 0; i < R; i++) {
        float sum = sums[i];
        for (int64_t t = j; t < k; t++) sum += tg_fp16_to_fp32((uint16_t)(rows[i][2 * t] | (rows[i][2 * t + 1] << 8))) * x[t];
        y[r + i] = sum;
    }
}

/* Rows of a Q8_0 weight: per 32-value block the codes widened to fp32 in two 16-lane converts,
 * times x, summed, then times the block's scale once. */
X86_INLINE void q8_0_rows(const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t r, const int R,
                          int64_t ahead, float *y) {
    __m512 acc[HEAD_ROWS];
    const tg_block_q8_0 *rows[HEAD_ROWS];
    for (int i = 0; i < R; i++) rows[i] = (const tg_block_q8_0 *)(data + (r + i) * row_bytes), acc[i] = _mm512_setzero_ps();
    const uint8_t *next = data + (r + R) * row_bytes;
    for (int64_t b = 0; b < k / TG_QK8_0; b++) {
        if ((b & 1) == 0)
            for (int64_t i = 0; i < ahead; i++)
                _mm_prefetch((const char *)(next + i * row_bytes + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T2);
        const __m512 x0 = _mm512_loadu_ps(x + b * TG_QK8_0), x1 = _mm512_loadu_ps(x + b * TG_QK8_0 + 16);
        for (int i = 0; i < R; i++) {
            const tg_block_q8_0 *blk = rows[i] + b;
            const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk->qs)));
            const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk->qs + 16))));
            const __m512 part = _mm512_fmadd_ps(q1, x1, _mm512_mul_ps(q0, x0));
            acc[i] = _mm512_fmadd_ps(part, _mm512_set1_ps(_cvtsh_ss(blk->d)), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) y[r + i] = reduce_ps(acc[i]);
}

/*
 * Q8_0 weights times Q8_0 activations. vpdpbusd multiplies unsigned by signed bytes, so the signed
 * weights are offset by 128 (one xor) and the accumulator starts at the activations' -128 x sums
 * (xbias, shared by all rows), which leaves each int32 lane the exact signed dot product of its four
 * weights. A block is one ymm: its eight lanes are scaled by the activation scale and then, with one
 * fused multiply-add, by the weight scale, which comes from a 64 Ki-entry table (a load, not a
 * conversion on the shuffle port). Four rows share each activation load. The next rows are prefetched
 * into L1 (T0): on Zen 5 that streams the 349 MB head of 2B-4T at 0.65 of the read roof against 0.55
 * with T2 (bench/decode-stream.c, median of 6 interleaved pairs under load).
 */
/* A Q8_0-activation row's eight lanes to its result; the multi-row kernel folds the same way. */
X86_INLINE float q8_0_fold(__m256 acc) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

X86_INLINE void q8_0_act_rows(const tg_q8_0_args *a, int64_t r, const int R, int64_t ahead, const float *fp16) {
    __m256 acc[HEAD_ROWS];
    const tg_block_q8_0 *rows[HEAD_ROWS];
    for (int i = 0; i < R; i++) rows[i] = (const tg_block_q8_0 *)(a->data + (r + i) * a->row_bytes), acc[i] = _mm256_setzero_ps();
    const uint8_t *next = a->data + (r + R) * a->row_bytes;
    const __m256i offset = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < a->k / TG_QK8_0; b++) {
        if ((b & 1) == 0)
            for (int64_t i = 0; i < ahead; i++)
                _mm_prefetch((const char *)(next + i * a->row_bytes + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T0);
        const __m256i x = _mm256_loadu_si256((const __m256i *)(a->xq + b * TG_QK8_0));
        const __m256i bias = _mm256_loadu_si256((const __m256i *)(a->xbias + b * (TG_QK8_0 / 4)));
        const __m256 xd = _mm256_broadcast_ss(a->xd + b);
        for (int i = 0; i < R; i++) {
            const tg_block_q8_0 *blk = rows[i] + b;
            const __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk->qs), offset);
            const __m256 dot = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(bias, w, x)), xd);
            acc[i] = _mm256_fmadd_ps(dot, _mm256_broadcast_ss(fp16 + blk->d), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) a->y[r + i] = q8_0_fold(acc[i]);
}

void tg_avx512_gemv_q8_0(const tg_q8_0_args *a, int64_t row0, int64_t row1) {
    const float *fp16 = tg_fp16_table();
    for (int64_t r = row0; r < row1;) {
        const int R = row1 - r >= HEAD_ROWS ? HEAD_ROWS : 1;
        const int64_t left = row1 - r - R, ahead = left < HEAD_ROWS ? left : HEAD_ROWS;
        if (R == HEAD_ROWS) q8_0_act_rows(a, r, HEAD_ROWS, ahead, fp16);
        else q8_0_act_rows(a, r, 1, ahead, fp16);
        r += R;
    }
}

/*
 * Small M (batched decode with a Q8_0 head): rows [r, r + R) against activation rows a[0..MT), each
 * weight block loaded and offset once for all MT rows. Per (weight row, activation row) the
 * operations are q8_0_act_rows' in its order, so each row's result is the M = 1 result bit for bit
 * (kernels/small-m.test.ts). The caller (matmul.c) hands over chunks that sit in L2: no prefetches.
 */
#define Q8_MT 4

X86_INLINE void q8_0_act_multi(const tg_q8_0_args *a, const int MT, int64_t r, const int R, const float *fp16) {
    __m256 acc[HEAD_ROWS][Q8_MT];
    const tg_block_q8_0 *rows[HEAD_ROWS];
    for (int i = 0; i < R; i++) {
        rows[i] = (const tg_block_q8_0 *)(a[0].data + (r + i) * a[0].row_bytes);
        for (int j = 0; j < MT; j++) acc[i][j] = _mm256_setzero_ps();
    }
    const __m256i offset = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < a[0].k / TG_QK8_0; b++) {
        __m256i w[HEAD_ROWS];
        __m256 d[HEAD_ROWS];
        for (int i = 0; i < R; i++) {
            const tg_block_q8_0 *blk = rows[i] + b;
            w[i] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk->qs), offset);
            d[i] = _mm256_broadcast_ss(fp16 + blk->d);
        }
        for (int j = 0; j < MT; j++) {
            const __m256i x = _mm256_loadu_si256((const __m256i *)(a[j].xq + b * TG_QK8_0));
            const __m256i bias = _mm256_loadu_si256((const __m256i *)(a[j].xbias + b * (TG_QK8_0 / 4)));
            const __m256 xd = _mm256_broadcast_ss(a[j].xd + b);
            for (int i = 0; i < R; i++) {
                const __m256 dot = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(bias, w[i], x)), xd);
                acc[i][j] = _mm256_fmadd_ps(dot, d[i], acc[i][j]);
            }
        }
    }
    for (int j = 0; j < MT; j++)
        for (int i = 0; i < R; i++) a[j].y[r + i] = q8_0_fold(acc[i][j]);
}

X86_INLINE void q8_0_act_tile(const tg_q8_0_args *a, const int MT, int64_t row0, int64_t row1, const float *fp16) {
    int64_t r = row0;
    for (; r + HEAD_ROWS <= row1; r += HEAD_ROWS) q8_0_act_multi(a, MT, r, HEAD_ROWS, fp16);
    for (; r < row1; r++) q8_0_act_multi(a, MT, r, 1, fp16);
}

void tg_avx512_gemv_q8_0_multi(const tg_q8_0_args *a, int64_t m, int64_t row0, int64_t row1) {
    const float *fp16 = tg_fp16_table();
    for (int64_t j0 = 0; j0 < m; j0 += Q8_MT) {
        switch (m - j0 < Q8_MT ? m - j0 : Q8_MT) {
        case 1: q8_0_act_tile(a + j0, 1, row0, row1, fp16); break;
        case 2: q8_0_act_tile(a + j0, 2, row0, row1, fp16); break;
        case 3: q8_0_act_tile(a + j0, 3, row0, row1, fp16); break;
        default: q8_0_act_tile(a + j0, 4, row0, row1, fp16); break;
        }
    }
}

/* 1 when done, 0 for a type it does not handle (Q6_K: isa_avx512.c then takes the 256-bit code) */
int tg_avx512_gemv_float(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                         int64_t row1, float *y) {
    if (type != TG_F16 && type != TG_Q8_0) return 0;
    for (int64_t r = row0; r < row1;) {
        const int R = row1 - r >= HEAD_ROWS ? HEAD_ROWS : 1;
        const int64_t left = row1 - r - R, ahead = left < HEAD_ROWS ? left : HEAD_ROWS;
        if (type == TG_F16) {
            if (R == HEAD_ROWS) f16_rows(data, row_bytes, k, x, r, HEAD_ROWS, ahead, y);
            else f16_rows(data, row_bytes, k, x, r, 1, ahead, y);
        } else {
            if (R == HEAD_ROWS) q8_0_rows(data, row_bytes, k, x, r, HEAD_ROWS, ahead, y);
            else q8_0_rows(data, row_bytes, k, x, r, 1, ahead, y);
        }
        r += R;
    }
    return 1;
}
