/*
 * The float-path head at small M (batched decode) in 256-bit registers: each F16 or Q8_0 head row
 * is loaded and converted once and then multiplied into every activation row's accumulators, so
 * the head is read and widened once for all M rows. Built in the AVX2 static library with its
 * flags (binding.gyp).
 *
 * Per (weight row, activation row) the operations are exactly those of x86_common.h's M = 1 GEMV
 * (x86_f16_rows, x86_q8_0_rows), in its order, with the same reduction and scalar tail, so every
 * row's result is the M = 1 result bit for bit; kernels/small-m.test.ts holds the two to that. A
 * change to the M = 1 order must be made here too.
 */
#include <immintrin.h>

#include "tg.h"

#define MT_MAX 4 /* activation rows per pass: 2 x 4 accumulators and the converted weights in 16 ymm */
#define F16_MT_MAX 8 /* F16 with one accumulator chain at a time (f16_pass8): 8 accumulators */
#define INLINE static inline __attribute__((always_inline))

/* x86_common.h's reduction of one 8-lane accumulator */
INLINE float reduce8(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/*
 * xs is small_m.c's step-major copy of the activations (tg.h, gemv_float_multi): step s holds row
 * j's 32 values at (s * m + j) * 32, aligned, all rows' at fixed offsets from one pointer; row j's
 * k % 32 tail columns follow all steps, at (k / 32) * 32 * m + j * (k % 32).
 *
 * A pass runs steps [s0, s1) of one weight row, its accumulators from acc_state unless s0 = 0 and back
 * there unless it ran the last step, as head_multi_avx512.c does: blocks of KSTEPS steps of a group of
 * BLOCK_ROWS weight rows keep the activations they read in L1 (4 rows x 2560 columns, 2B-4T's, are
 * 40 KiB and were read from L2 at every weight row). The order of every accumulator's operations is
 * unchanged. Each step prefetches into L2 the line PREFETCH_BYTES ahead (head_multi_avx512.c says why).
 */
#define KSTEPS 32      /* 4 activation rows x 1024 columns = 16 KiB */
#define BLOCK_ROWS 8   /* weight rows whose accumulators wait between blocks */
#define PREFETCH_BYTES (40 * 1024)

INLINE void f16_pass(const uint8_t *row, int64_t k, const float *xs, int64_t m, int64_t j0, const int MT, int64_t s0,
                     int64_t s1, __m256 *acc_state, float *y, int64_t y_stride) {
    __m256 acc0[MT_MAX], acc1[MT_MAX];
    for (int j = 0; j < MT; j++)
        acc0[j] = s0 ? acc_state[2 * j] : _mm256_setzero_ps(), acc1[j] = s0 ? acc_state[2 * j + 1] : _mm256_setzero_ps();
    const int64_t steps = k / 32, t0 = 32 * steps, tail = k - t0;
    const float *xt = xs + s0 * 32 * m + 32 * j0;
    for (int64_t s = s0; s < s1; s++, xt += 32 * m) {
        _mm_prefetch((const char *)(row + PREFETCH_BYTES + 64 * s), _MM_HINT_T1);
        for (int h = 0; h < 2; h++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(row + 64 * s + 32 * h));
            const __m256 w0 = _mm256_cvtph_ps(_mm256_castsi256_si128(w)), w1 = _mm256_cvtph_ps(_mm256_extracti128_si256(w, 1));
            for (int j = 0; j < MT; j++) {
                acc0[j] = _mm256_fmadd_ps(w0, _mm256_load_ps(xt + 32 * j + 16 * h), acc0[j]);
                acc1[j] = _mm256_fmadd_ps(w1, _mm256_load_ps(xt + 32 * j + 16 * h + 8), acc1[j]);
            }
        }
    }
    if (s1 < steps) {
        for (int j = 0; j < MT; j++) acc_state[2 * j] = acc0[j], acc_state[2 * j + 1] = acc1[j];
        return;
    }
    const float *xtail = xs + steps * 32 * m + j0 * tail;
    int64_t u = 0;
    for (; u + 8 <= tail; u += 8) {
        const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * (t0 + u))));
        for (int j = 0; j < MT; j++) acc0[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xtail + j * tail + u), acc0[j]);
    }
    for (int j = 0; j < MT; j++) {
        const float *xj = xtail + j * tail;
        float sum = reduce8(_mm256_add_ps(acc0[j], acc1[j]));
        for (int64_t v = u; v < tail; v++) {
            float w = tg_fp16_to_fp32((uint16_t)(row[2 * (t0 + v)] | (row[2 * (t0 + v) + 1] << 8)));
            sum += w * xj[v];
        }
        y[j * y_stride] = sum;
    }
}

/*
 * f16_pass for 5 to 8 activation rows. A row's two accumulators (M = 1: acc0 takes columns 0..7 and
 * 16..23 of each step, acc1 8..15 and 24..31) are separate chains that meet only in the final add,
 * so they run one after the other, each over all its steps: 8 accumulators live instead of 16, and
 * each widened weight serves all the rows where two passes of four widened it twice.
 */
INLINE void f16_pass8(const uint8_t *row, int64_t k, const float *xs, int64_t m, int64_t j0, const int A, int64_t s0,
                      int64_t s1, __m256 *acc_state, float *y, int64_t y_stride) {
    const int64_t steps = k / 32, t0 = 32 * steps, tail = k - t0;
    __m256 first[8];
    for (int c = 0; c < 2; c++) {
        __m256 acc[8];
        for (int j = 0; j < A; j++) acc[j] = s0 ? acc_state[2 * j + c] : _mm256_setzero_ps();
        const float *xt = xs + s0 * 32 * m + 32 * j0 + 8 * c;
        for (int64_t s = s0; s < s1; s++, xt += 32 * m) {
            if (c == 0) _mm_prefetch((const char *)(row + PREFETCH_BYTES + 64 * s), _MM_HINT_T1);
            for (int h = 0; h < 2; h++) {
                const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 64 * s + 32 * h + 16 * c)));
                for (int j = 0; j < A; j++) acc[j] = _mm256_fmadd_ps(w, _mm256_load_ps(xt + 32 * j + 16 * h), acc[j]);
            }
        }
        if (s1 < steps) {
            for (int j = 0; j < A; j++) acc_state[2 * j + c] = acc[j];
            continue;
        }
        const float *xtail = xs + steps * 32 * m + j0 * tail;
        int64_t u = 0;
        if (c == 0) { /* the 8-column tail steps go to acc0, after its 32-column steps */
            for (; u + 8 <= tail; u += 8) {
                const __m256 w = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * (t0 + u))));
                for (int j = 0; j < A; j++) acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xtail + j * tail + u), acc[j]);
            }
            for (int j = 0; j < A; j++) first[j] = acc[j];
            continue;
        }
        u = tail & ~(int64_t)7;
        for (int j = 0; j < A; j++) {
            const float *xj = xtail + j * tail;
            float sum = reduce8(_mm256_add_ps(first[j], acc[j]));
            for (int64_t v = u; v < tail; v++) {
                float w = tg_fp16_to_fp32((uint16_t)(row[2 * (t0 + v)] | (row[2 * (t0 + v) + 1] << 8)));
                sum += w * xj[v];
            }
            y[j * y_stride] = sum;
        }
    }
}

INLINE __m256 widen8(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)); }

INLINE void q8_0_pass(const uint8_t *row, int64_t k, const float *xs, int64_t m, int64_t j0, const int MT, int64_t s0,
                      int64_t s1, __m256 *acc_state, float *y, int64_t y_stride) {
    const tg_block_q8_0 *blk = (const tg_block_q8_0 *)row;
    __m256 acc[MT_MAX];
    for (int j = 0; j < MT; j++) acc[j] = s0 ? acc_state[j] : _mm256_setzero_ps();
    for (int64_t b = s0; b < s1; b++) {
        if ((b & 1) == 0) _mm_prefetch((const char *)(row + PREFETCH_BYTES + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T1);
        const __m128i qa = _mm_loadu_si128((const __m128i *)blk[b].qs), qb = _mm_loadu_si128((const __m128i *)(blk[b].qs + 16));
        const __m256 q0 = widen8(qa), q1 = widen8(_mm_srli_si128(qa, 8)), q2 = widen8(qb), q3 = widen8(_mm_srli_si128(qb, 8));
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(blk[b].d));
        for (int j = 0; j < MT; j++) {
            const float *xb = xs + (b * m + j0 + j) * TG_QK8_0;
            __m256 part = _mm256_mul_ps(q0, _mm256_load_ps(xb));
            part = _mm256_fmadd_ps(q1, _mm256_load_ps(xb + 8), part);
            part = _mm256_fmadd_ps(q2, _mm256_load_ps(xb + 16), part);
            part = _mm256_fmadd_ps(q3, _mm256_load_ps(xb + 24), part);
            acc[j] = _mm256_fmadd_ps(part, d, acc[j]);
        }
    }
    if (s1 < k / TG_QK8_0) {
        for (int j = 0; j < MT; j++) acc_state[j] = acc[j];
        return;
    }
    for (int j = 0; j < MT; j++) y[j * y_stride] = reduce8(acc[j]);
}

INLINE void rows_tile(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *xs, int64_t m,
                      int64_t row0, int64_t row1, int64_t j0, const int MT, float *y, int64_t y_stride) {
    __m256 state[BLOCK_ROWS][2 * F16_MT_MAX];
    const int64_t steps = k / 32; /* = k / TG_QK8_0 for Q8_0 */
    for (int64_t g0 = row0; g0 < row1; g0 += BLOCK_ROWS) {
        const int64_t g1 = g0 + BLOCK_ROWS < row1 ? g0 + BLOCK_ROWS : row1;
        int64_t s0 = 0;
        do {
            const int64_t s1 = steps - s0 > KSTEPS ? s0 + KSTEPS : steps;
            for (int64_t r = g0; r < g1; r++) {
                const uint8_t *row = data + r * row_bytes;
                float *yr = y + j0 * y_stride + r;
                if (type == TG_F16 && MT > 4) f16_pass8(row, k, xs, m, j0, MT, s0, s1, state[r - g0], yr, y_stride);
                else if (type == TG_F16) f16_pass(row, k, xs, m, j0, MT, s0, s1, state[r - g0], yr, y_stride);
                else if (MT <= MT_MAX) q8_0_pass(row, k, xs, m, j0, MT, s0, s1, state[r - g0], yr, y_stride);
            }
            s0 = s1;
        } while (s0 < steps);
    }
}

/* y[j * y_stride + r] for j < m and rows [row0, row1), x laid out as tg.h says at gemv_float_multi;
 * 0 for a type it does not handle. The m rows go in ceil(m / 4) passes of near-equal size (5 = 3 + 2:
 * a pass of one row would widen each weight for a single multiply-add). */
int tg_avx2_gemv_float_multi(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t m,
                             int64_t row0, int64_t row1, float *y, int64_t y_stride) {
    if (type != TG_F16 && type != TG_Q8_0) return 0;
    const int64_t cap = type == TG_F16 ? F16_MT_MAX : MT_MAX, passes = (m + cap - 1) / cap;
    for (int64_t p = 0, j0 = 0; p < passes; p++) {
        const int64_t a = (m - j0) / (passes - p);
        switch (a) {
#define TILE_CASE(n) \
    case n: rows_tile(type, data, row_bytes, k, x, m, row0, row1, j0, n, y, y_stride); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#undef TILE_CASE
        default: break;
        }
        j0 += a;
    }
    return 1;
}
