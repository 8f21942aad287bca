/*
 * x86 pieces shared by isa_avx2.c and isa_avx512.c. Everything here is 256-bit (AVX2 + F16C)
 * and static inline, so each including file compiles it with its own -m flags; no other file
 * may include this header.
 *
 * The one piece of logic both paths must get exactly right is the reference's segment rule
 * (tg.h): x86_gemv_rows walks rows in spans where no row changes scale and leaves the integer
 * work of a span to the ISA's `span` function, so the float folding is written once.
 */
#ifndef TG_X86_COMMON_H
#define TG_X86_COMMON_H

#include <immintrin.h>
#include <string.h>

#include "tg.h"

#define X86_INLINE static inline __attribute__((always_inline))
#define X86_MAX_ROWS 4 /* weight rows a span function handles at once */

/* ---------------- TQ1_0 trits ---------------- */

/* ggml's trit extraction: for v = byte * 3^n (mod 256), trit n is (v * 3) >> 8, which for a
 * byte is (v >= 86) + (v >= 171). Unsigned compares are max + cmpeq on AVX2. */
X86_INLINE __m256i x86_trits256(__m256i v) {
    __m256i ge86 = _mm256_cmpeq_epi8(_mm256_max_epu8(v, _mm256_set1_epi8(86)), v);
    __m256i ge171 = _mm256_cmpeq_epi8(_mm256_max_epu8(v, _mm256_set1_epi8((char)171)), v);
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
}

X86_INLINE __m128i x86_trits128(__m128i v) {
    __m128i ge86 = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(86)), v);
    __m128i ge171 = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8((char)171)), v);
    return _mm_sub_epi8(_mm_sub_epi8(_mm_setzero_si128(), ge86), ge171);
}

/* byte * 3 mod 256 without a byte multiply */
X86_INLINE __m256i x86_times3_256(__m256i v) { return _mm256_add_epi8(_mm256_add_epi8(v, v), v); }
X86_INLINE __m128i x86_times3_128(__m128i v) { return _mm_add_epi8(_mm_add_epi8(v, v), v); }

/* Codes of one TQ1_0 block, in weight order: c32[n] holds codes[32n .. 32n+31] (n < 5),
 * c16[n] holds codes[160+16n .. +15] (n < 5) and c16[5] holds codes[240 .. 255]. */
X86_INLINE void x86_tq1_0_codes(const tg_block_tq1_0 *blk, __m256i c32[5], __m128i c16[6]) {
    __m256i v = _mm256_loadu_si256((const __m256i *)blk->qs);
    for (int n = 0; n < 5; n++, v = x86_times3_256(v)) c32[n] = x86_trits256(v);
    __m128i u = _mm_loadu_si128((const __m128i *)(blk->qs + 32));
    for (int n = 0; n < 5; n++, u = x86_times3_128(u)) c16[n] = x86_trits128(u);
    /* qh: codes[240 + 4n + m] = trit n of qh[m]; dword n of hv holds the four bytes times 3^n */
    int32_t qh;
    memcpy(&qh, blk->qh, 4);
    __m128i h0 = _mm_set1_epi32(qh), h1 = x86_times3_128(h0), h2 = x86_times3_128(h1), h3 = x86_times3_128(h2);
    __m128i hv = _mm_blend_epi32(_mm_blend_epi32(_mm_blend_epi32(h0, h1, 2), h2, 4), h3, 8);
    c16[5] = x86_trits128(hv);
}

/* ---------------- unpacking (the M > 1 panel path and the float path) ---------------- */

X86_INLINE void x86_store_2bit_fields(__m256i w, const int shift[4], uint8_t *out) {
    const __m256i three = _mm256_set1_epi8(3);
    _mm256_storeu_si256((__m256i *)out, _mm256_and_si256(_mm256_srli_epi16(w, shift[0]), three));
    _mm256_storeu_si256((__m256i *)(out + 32), _mm256_and_si256(_mm256_srli_epi16(w, shift[1]), three));
    _mm256_storeu_si256((__m256i *)(out + 64), _mm256_and_si256(_mm256_srli_epi16(w, shift[2]), three));
    _mm256_storeu_si256((__m256i *)(out + 96), _mm256_and_si256(_mm256_srli_epi16(w, shift[3]), three));
}

static void x86_unpack_ternary_row(int type, const uint8_t *row, int64_t k, uint8_t *codes) {
    /* TQ2_0: weight 128h + 32n + m at bits 2n of qs[32h + m]; I2_S: weight 32n + m of a
     * 128-block at bits 6 - 2n of byte m */
    static const int tq2_shift[4] = {0, 2, 4, 6}, i2s_shift[4] = {6, 4, 2, 0};
    if (type == TG_TQ2_0) {
        const tg_block_tq2_0 *blk = (const tg_block_tq2_0 *)row;
        for (int64_t b = 0; b < k / TG_QK_K; b++)
            for (int h = 0; h < 2; h++) {
                __m256i w = _mm256_loadu_si256((const __m256i *)(blk[b].qs + 32 * h));
                x86_store_2bit_fields(w, tq2_shift, codes + b * TG_QK_K + 128 * h);
            }
    } else if (type == TG_I2_S) {
        const tg_block_i2_s *blk = (const tg_block_i2_s *)row;
        for (int64_t b = 0; b < k / TG_QK_I2S; b++)
            x86_store_2bit_fields(_mm256_loadu_si256((const __m256i *)blk[b].qs), i2s_shift, codes + b * TG_QK_I2S);
    } else {
        __m256i c32[5];
        __m128i c16[6];
        for (int64_t b = 0; b < k / TG_QK_K; b++) {
            x86_tq1_0_codes((const tg_block_tq1_0 *)row + b, c32, c16);
            uint8_t *out = codes + b * TG_QK_K;
            for (int n = 0; n < 5; n++) _mm256_storeu_si256((__m256i *)(out + 32 * n), c32[n]);
            for (int n = 0; n < 6; n++) _mm_storeu_si128((__m128i *)(out + 160 + 16 * n), c16[n]);
        }
    }
}

/* (code - 1) * d for 8 codes, the reference's float for a ternary weight */
X86_INLINE __m256 x86_ternary_floats(const uint8_t *codes, __m256 d) {
    __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)codes));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c, _mm256_set1_epi32(1))), d);
}

static void x86_dequant_row(int type, const uint8_t *row, int64_t k, float tensor_scale, float *out) {
    int64_t j = 0;
    switch (type) {
    case TG_F32: memcpy(out, row, (size_t)k * 4); return;
    case TG_F16:
        for (; j + 8 <= k; j += 8)
            _mm256_storeu_ps(out + j, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * j))));
        for (; j < k; j++) out[j] = tg_fp16_to_fp32((uint16_t)(row[2 * j] | (row[2 * j + 1] << 8)));
        return;
    case TG_Q8_0:
        for (int64_t b = 0; b < k / TG_QK8_0; b++) {
            const tg_block_q8_0 *blk = (const tg_block_q8_0 *)row + b;
            __m256 d = _mm256_set1_ps(tg_fp16_to_fp32(blk->d));
            for (int i = 0; i < 4; i++) {
                __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(blk->qs + 8 * i)));
                _mm256_storeu_ps(out + b * TG_QK8_0 + 8 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
            }
        }
        return;
    case TG_TQ2_0:
    case TG_TQ1_0:
    case TG_I2_S: {
        const int64_t block = type == TG_I2_S ? TG_QK_I2S : TG_QK_K, bytes = tg_row_bytes(type, block);
        uint8_t codes[TG_QK_K];
        for (int64_t b = 0; b < k / block; b++) {
            const uint8_t *packed = row + b * bytes;
            x86_unpack_ternary_row(type, packed, block, codes);
            __m256 d = _mm256_set1_ps(type == TG_I2_S ? tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(type, packed, 0)));
            for (int i = 0; i < block; i += 8) _mm256_storeu_ps(out + b * block + i, x86_ternary_floats(codes + i, d));
        }
        return;
    }
    case TG_Q6_K: tg_isa_scalar.dequant_row(type, row, k, tensor_scale, out); return;
    default: return;
    }
}

/* ---------------- float-path GEMV at M = 1 (F16 and Q8_0 output heads) ---------------- */

#define X86_FLOAT_ROWS 4 /* weight rows per pass: each x load serves four rows */

/* Rows [r, r + R) of an F16 weight, 16 halves per row per step widened by vcvtph2ps into two
 * accumulators each. The next R rows are prefetched a cache line per row per step (32 halves),
 * so the head, far larger than any cache, streams with misses in flight (see PREFETCH_GROUPS). */
X86_INLINE void x86_f16_rows(const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t r, const int R,
                             int64_t ahead, float *y) {
    __m256 acc[X86_FLOAT_ROWS][2];
    const uint8_t *rows[X86_FLOAT_ROWS];
    for (int i = 0; i < R; i++) rows[i] = data + (r + i) * row_bytes, acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    const uint8_t *next = data + (r + R) * row_bytes;
    int64_t j = 0;
    for (; j + 32 <= k; j += 32) {
        for (int64_t i = 0; i < ahead; i++) _mm_prefetch((const char *)(next + i * row_bytes + 2 * j), _MM_HINT_T2);
        for (int h = 0; h < 2; h++) {
            const __m256 x0 = _mm256_loadu_ps(x + j + 16 * h), x1 = _mm256_loadu_ps(x + j + 16 * h + 8);
            for (int i = 0; i < R; i++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(rows[i] + 2 * (j + 16 * h)));
                acc[i][0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(w)), x0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(w, 1)), x1, acc[i][1]);
            }
        }
    }
    for (; j + 8 <= k; j += 8) {
        const __m256 xv = _mm256_loadu_ps(x + j);
        for (int i = 0; i < R; i++)
            acc[i][0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(rows[i] + 2 * j))), xv, acc[i][0]);
    }
    for (int i = 0; i < R; i++) {
        __m256 s = _mm256_add_ps(acc[i][0], acc[i][1]);
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        q = _mm_add_ss(q, _mm_movehdup_ps(q));
        float sum = _mm_cvtss_f32(q);
        for (int64_t t = j; t < k; t++) {
            float w = tg_fp16_to_fp32((uint16_t)(rows[i][2 * t] | (rows[i][2 * t + 1] << 8)));
            sum += w * x[t];
        }
        y[r + i] = sum;
    }
}

/* Rows of a Q8_0 weight: per 32-value block the int8 codes widened to fp32 times x, summed, then
 * times the block's scale once (one multiply per block rather than one per value). */
X86_INLINE void x86_q8_0_rows(const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t r, const int R,
                              int64_t ahead, float *y) {
    __m256 acc[X86_FLOAT_ROWS];
    const tg_block_q8_0 *rows[X86_FLOAT_ROWS];
    for (int i = 0; i < R; i++) rows[i] = (const tg_block_q8_0 *)(data + (r + i) * row_bytes), acc[i] = _mm256_setzero_ps();
    const uint8_t *next = data + (r + R) * row_bytes;
    for (int64_t b = 0; b < k / TG_QK8_0; b++) {
        if ((b & 1) == 0)
            for (int64_t i = 0; i < ahead; i++)
                _mm_prefetch((const char *)(next + i * row_bytes + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T2);
        const float *xb = x + b * TG_QK8_0;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16),
                     x3 = _mm256_loadu_ps(xb + 24);
        for (int i = 0; i < R; i++) {
            const tg_block_q8_0 *blk = rows[i] + b;
            const __m128i qa = _mm_loadu_si128((const __m128i *)blk->qs), qb = _mm_loadu_si128((const __m128i *)(blk->qs + 16));
            __m256 part = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qa)), x0);
            part = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qa, 8))), x1, part);
            part = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(qb)), x2, part);
            part = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(qb, 8))), x3, part);
            acc[i] = _mm256_fmadd_ps(part, _mm256_set1_ps(_cvtsh_ss(blk->d)), acc[i]);
        }
    }
    for (int i = 0; i < R; i++) {
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        q = _mm_add_ss(q, _mm_movehdup_ps(q));
        y[r + i] = _mm_cvtss_f32(q);
    }
}

/* Rows of a Q6_K weight: per 16-value sub-block, the 6-bit codes minus 32 widened to fp32 times
 * x, then times d * scale once. ql, qh and the scales are read through tg_block_q6_k. */
X86_INLINE void x86_q6_k_rows(const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t r, const int R,
                              int64_t ahead, float *y) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
    __m256 acc[X86_FLOAT_ROWS];
    const tg_block_q6_k *rows[X86_FLOAT_ROWS];
    for (int i = 0; i < R; i++) rows[i] = (const tg_block_q6_k *)(data + (r + i) * row_bytes), acc[i] = _mm256_setzero_ps();
    const uint8_t *next = data + (r + R) * row_bytes;
    for (int64_t b = 0; b < k / TG_QK6_K; b++) {
        for (int64_t i = 0; i < ahead; i++)
            for (int64_t o = 0; o < (int64_t)sizeof(tg_block_q6_k); o += 64)
                _mm_prefetch((const char *)(next + i * row_bytes + b * (int64_t)sizeof(tg_block_q6_k) + o), _MM_HINT_T2);
        for (int i = 0; i < R; i++) {
            const tg_block_q6_k *blk = rows[i] + b;
            const float d = _cvtsh_ss(blk->d);
            for (int h = 0; h < 2; h++) {
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h));
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h + 32));
                const __m256i hb = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
                __m256i q[4];
                q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, two), 4));
                q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4));
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4));
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4));
                for (int j = 0; j < 4; j++) {
                    const __m256i v = _mm256_sub_epi8(q[j], bias);
                    const float *xv = x + b * TG_QK6_K + 128 * h + 32 * j;
                    for (int s = 0; s < 2; s++) {
                        const __m128i v16 = s ? _mm256_extracti128_si256(v, 1) : _mm256_castsi256_si128(v);
                        __m256 part = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v16)), _mm256_loadu_ps(xv + 16 * s));
                        part = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v16, 8))),
                                               _mm256_loadu_ps(xv + 16 * s + 8), part);
                        const float scale = d * (float)blk->scales[8 * h + 2 * j + s];
                        acc[i] = _mm256_fmadd_ps(part, _mm256_set1_ps(scale), acc[i]);
                    }
                }
            }
        }
    }
    for (int i = 0; i < R; i++) {
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        q = _mm_add_ss(q, _mm_movehdup_ps(q));
        y[r + i] = _mm_cvtss_f32(q);
    }
}

/* tg_isa_ops.gemv_float for both x86 paths: F16, Q8_0 and Q6_K rows [row0, row1) times x. */
static int x86_gemv_float(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                          int64_t row1, float *y) {
    if (type != TG_F16 && type != TG_Q8_0 && type != TG_Q6_K) return 0;
    for (int64_t r = row0; r < row1;) {
        const int R = row1 - r >= X86_FLOAT_ROWS ? X86_FLOAT_ROWS : 1;
        const int64_t left = row1 - r - R, ahead = left < X86_FLOAT_ROWS ? left : X86_FLOAT_ROWS;
        if (type == TG_F16) {
            if (R == X86_FLOAT_ROWS) x86_f16_rows(data, row_bytes, k, x, r, X86_FLOAT_ROWS, ahead, y);
            else x86_f16_rows(data, row_bytes, k, x, r, 1, ahead, y);
        } else if (type == TG_Q8_0) {
            if (R == X86_FLOAT_ROWS) x86_q8_0_rows(data, row_bytes, k, x, r, X86_FLOAT_ROWS, ahead, y);
            else x86_q8_0_rows(data, row_bytes, k, x, r, 1, ahead, y);
        } else {
            if (R == X86_FLOAT_ROWS) x86_q6_k_rows(data, row_bytes, k, x, r, X86_FLOAT_ROWS, ahead, y);
            else x86_q6_k_rows(data, row_bytes, k, x, r, 1, ahead, y);
        }
        r += R;
    }
    return 1;
}

/* ---------------- the reference's segment rule, for up to four rows at once ---------------- */

/* out[i] = exact sum over groups [g0, g1) of code * q for rows[i], i < R (no -sum(q) term);
 * mixed[i] = nonzero when a block of rows[i] in that range has other scale bits than its first. */
typedef void (*x86_span_fn)(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                            int32_t *out, uint32_t *mixed);

X86_INLINE int32_t x86_xsum_range(const int32_t *xsum, int64_t g0, int64_t g1) {
    int32_t s = 0;
    for (int64_t g = g0; g < g1; g++) s += xsum[g];
    return s;
}

/* Does row change scale between block b-1 and block b? (I2_S never does.) */
X86_INLINE int x86_scale_changes(const tg_ternary_args *a, const uint8_t *row, int64_t b) {
    return a->type != TG_I2_S && tg_block_d_bits(a->type, row, b) != tg_block_d_bits(a->type, row, b - 1);
}

/* y[r0 .. r0+R) for activation row 0. Spans end wherever any of the R rows changes scale; each
 * row folds its integer sum into its float accumulator only where its own segment ends, so
 * the float operations are the reference's. xsum_all is the sum of q over the whole row. */
X86_INLINE void x86_gemv_rows(const tg_ternary_args *a, int64_t r0, const int R, x86_span_fn span, int32_t xsum_all) {
    const int64_t groups = a->k / TG_GROUP, step = a->type == TG_I2_S ? groups : TG_QK_K / TG_GROUP;
    const uint8_t *rows[X86_MAX_ROWS];
    float acc[X86_MAX_ROWS];
    int32_t isum[X86_MAX_ROWS], part[X86_MAX_ROWS];
    int64_t seg0[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        rows[i] = a->data + (r0 + i) * a->row_bytes;
        acc[i] = 0.0f, isum[i] = 0, seg0[i] = 0;
    }
    /* Real files carry one scale per tensor: sum whole rows first, noting in passing whether any
     * block's scale differs; only rows with mixed scales take the segment walk below. */
    uint32_t mixed[X86_MAX_ROWS];
    span(a, rows, R, 0, groups, part, mixed);
    uint32_t any_mixed = 0;
    for (int i = 0; i < R; i++) any_mixed |= mixed[i];
    if (!any_mixed) {
        for (int i = 0; i < R; i++) {
            float d = a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, rows[i], 0));
            a->y[r0 + i] = tg_acc_segment(0.0f, d, part[i] - xsum_all) * a->xscale[0];
        }
        return;
    }
    int64_t g0 = 0;
    for (int64_t g = step;; g += step) {
        const int last = g >= groups;
        if (!last) {
            int cut = 0;
            for (int i = 0; i < R; i++) cut |= x86_scale_changes(a, rows[i], g / step);
            if (!cut) continue;
        }
        span(a, rows, R, g0, g, part, mixed);
        for (int i = 0; i < R; i++) {
            isum[i] += part[i];
            if (!last && !x86_scale_changes(a, rows[i], g / step)) continue;
            int32_t xs = seg0[i] == 0 && last ? xsum_all : x86_xsum_range(a->xsum, seg0[i], g);
            float d = a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, rows[i], g / step - 1));
            acc[i] = tg_acc_segment(acc[i], d, isum[i] - xs);
            isum[i] = 0, seg0[i] = g;
        }
        g0 = g;
        if (last) break;
    }
    for (int i = 0; i < R; i++) a->y[r0 + i] = acc[i] * a->xscale[0];
}

/* Decode streams weights that are not in any cache; the hardware prefetcher alone keeps too few
 * misses in flight, so ask for the rows PREFETCH_GROUPS groups ahead while this group computes.
 * Into L2, not L1: L1 prefetches hold fill buffers the loads need (measured on Zen 4: a cold
 * 6912x2560 I2_S GEMV streams at ~12 GB/s with T0 hints, 26-31 GB/s with T2, of ~31 readable). */
#define PREFETCH_GROUPS 2

X86_INLINE void x86_prefetch_rows(const tg_ternary_args *a, int64_t r, int64_t row1) {
    if (r >= row1) return;
    const int64_t rows = row1 - r < X86_MAX_ROWS ? row1 - r : X86_MAX_ROWS;
    const char *p = (const char *)(a->data + r * a->row_bytes);
    for (int64_t o = 0; o < rows * a->row_bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T2);
}

/* The first PREFETCH_GROUPS groups of rows [r, row1) into L1, for a span function that streams its
 * own prefetches PREFETCH_GROUPS groups ahead of its loads (x86_stream_prefetch) from then on. */
X86_INLINE void x86_prefetch_start_t0(const tg_ternary_args *a, int64_t r, int64_t row1) {
    const int64_t end = row1 - r < PREFETCH_GROUPS * X86_MAX_ROWS ? row1 - r : PREFETCH_GROUPS * X86_MAX_ROWS;
    const char *p = (const char *)(a->data + r * a->row_bytes);
    for (int64_t o = 0; o < end * a->row_bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

/* A span over R contiguous rows has read `done` bytes of each row's `bytes` block prefix: ask for
 * the same share of the region PREFETCH_GROUPS groups further on. Spread over the loop, a few lines
 * per block, the misses stay in flight continuously instead of in one burst per group (measured on
 * Zen 5, 2B-4T decode shapes from DRAM: 0.68-0.72 of the read roof against 0.36-0.47 for the
 * per-group T2 burst below, interleaved in one process; I2_S 0.59 against 0.39; the AVX2 path
 * TQ2_0 0.65 against 0.46, I2_S 0.53 against 0.31). Past the last row it only asks for lines
 * of the next task's rows, or for nothing: a prefetch never faults. */
X86_INLINE void x86_stream_prefetch(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t done,
                                    int64_t bytes) {
    const char *p = (const char *)rows[0] + (int64_t)PREFETCH_GROUPS * X86_MAX_ROWS * a->row_bytes + done * R;
    for (int64_t o = 0; o < bytes * R; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

/* Rows [row0, row1) four at a time, so each activation load serves four weight rows. With
 * `span_prefetches` the span function streams its own prefetches (x86_stream_prefetch). */
X86_INLINE void x86_gemv(const tg_ternary_args *a, int64_t row0, int64_t row1, x86_span_fn span,
                         int span_prefetches) {
    const int32_t xsum_all = x86_xsum_range(a->xsum, 0, a->k / TG_GROUP);
    int64_t r = row0;
    if (span_prefetches) x86_prefetch_start_t0(a, r, row1);
    else
        for (int g = 1; g < PREFETCH_GROUPS; g++) x86_prefetch_rows(a, r + g * X86_MAX_ROWS, row1);
    for (; r + X86_MAX_ROWS <= row1; r += X86_MAX_ROWS) {
        if (!span_prefetches) x86_prefetch_rows(a, r + PREFETCH_GROUPS * X86_MAX_ROWS, row1);
        x86_gemv_rows(a, r, X86_MAX_ROWS, span, xsum_all);
    }
    for (; r < row1; r++) x86_gemv_rows(a, r, 1, span, xsum_all);
}

/* ---------------- fp32 -> fp16 (the KV cache's store) ---------------- */

/* out[i] = tg_fp32_to_fp16(x[i]): vcvtps2ph rounds to nearest even, overflows to infinity and keeps a
 * NaN quiet with its payload's top bits, as the reference does; the n % 8 tail goes through it. */
static void x86_fp32_to_fp16_row(const float *x, int64_t n, uint16_t *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++) out[i] = tg_fp32_to_fp16(x[i]);
}

#endif
