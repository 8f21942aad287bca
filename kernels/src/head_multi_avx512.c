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

#define MT_MAX 8 /* activation rows per pass: 2 x 8 accumulators, two widened weights, loads folded */
#define INLINE static inline __attribute__((always_inline))

/*
 * The sums of up to eight vectors (v[i] for i < A, the rest taken as zero), each in exactly
 * head_reduce4_ps's tree (lane l + (l + 8), then + 4, + 2, + 1), folded together: per step two
 * vectors' halves meet in one add, so eight results take 7 x (2 shuffles + add) + permute + add
 * where two head_reduce4_ps take 30 instructions. sums[j] receives v[j]'s result.
 */
INLINE void reduce8_ps(const __m512 v[8], const int A, float *sums) {
    if (A <= 4) {
        _mm_storeu_ps(sums, head_reduce4_ps(v[0], A > 1 ? v[1] : _mm512_setzero_ps(), A > 2 ? v[2] : _mm512_setzero_ps(),
                                            A > 3 ? v[3] : _mm512_setzero_ps()));
        return;
    }
    __m512 w[8], p[4], q[2];
    for (int i = 0; i < 8; i++) w[i] = i < A ? v[i] : _mm512_setzero_ps();
    /* p[i]: [w_2i lanes l + (l + 8), w_2i+1 lanes l + (l + 8)] */
    for (int i = 0; i < 4; i++)
        p[i] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0xEE));
    /* 128-bit block b of q[i]: w_(4i + b)'s lanes l + (l + 4) */
    for (int i = 0; i < 2; i++)
        q[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0xDD));
    /* per block b: [w_b l0 + l2, w_b l1 + l3, w_4+b l0 + l2, w_4+b l1 + l3], then adjacent pairs */
    const __m512 t = _mm512_add_ps(_mm512_shuffle_ps(q[0], q[1], 0x44), _mm512_shuffle_ps(q[0], q[1], 0xEE));
    float u[16];
    _mm512_storeu_ps(u, _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1)));
    for (int j = 0; j < A; j++) sums[j] = u[j < 4 ? 4 * j : 4 * (j - 4) + 2];
}

/*
 * The activations' layout (tg.h, gemv_float_multi; small_m.c makes it): step s holds row j's 32
 * values at (s * m + j) * 32, so a pass reads every activation row at a fixed, aligned offset from
 * one pointer (with a pointer per row and an index the loop was bound by its loads, and a Float32Array's
 * rows split every load across two lines); the k % 32 tail columns follow all steps, row j's at
 * (k / 32) * 32 * m + j * (k % 32).
 *
 * A pass runs the steps [s0, s1) of one weight row against A activation rows. The rows' accumulators
 * start at zero (s0 = 0) or come from acc_state, and go back there or, after the last step, are folded
 * into y. Splitting the steps this way changes no operation of any accumulator, only when they run:
 * on 2B-4T's 2560 columns eight activation rows are 80 KiB, and a row's pass over all of them read
 * them from L2 at every weight row; blocks of KSTEPS steps keep them in L1.
 */
#define KSTEPS 16 /* steps per block: 8 activation rows x 512 columns = 16 KiB */
#define BLOCK_ROWS 8 /* weight rows whose accumulators wait between blocks (8 KiB of state) */
/*
 * Each step also prefetches into L2 the line PREFETCH_BYTES beyond the one it reads: ~80 rows ahead
 * on nano (a row there takes ~45 ns), ~8 on 2B-4T (~0.5 us a row at M = 8), far enough for a miss to
 * memory either way. With only float_task's prefetch of the next chunk (24 KiB, issued at the chunk's
 * start) a 16384 x 2560 slice of the 2B-4T head at M = 8 took about its compute plus its M = 1 read
 * time, 13.3-14.5 ms; with both, 10.8 ms (1 thread). Past the tensor's end it only names lines that
 * are never read (a prefetch does not fault).
 */
#define PREFETCH_BYTES (40 * 1024)

INLINE void f16_pass(const uint8_t *row, int64_t k, const float *xs, int64_t m, int64_t j0, const int A, int64_t s0,
                     int64_t s1, __m512 *acc_state, float *y, int64_t y_stride) {
    __m512 acc0[MT_MAX], acc1[MT_MAX];
    for (int j = 0; j < A; j++)
        acc0[j] = s0 ? acc_state[2 * j] : _mm512_setzero_ps(), acc1[j] = s0 ? acc_state[2 * j + 1] : _mm512_setzero_ps();
    const int64_t steps = k / 32, step = 32 * m;
    const float *xt = xs + s0 * step + 32 * j0;
    for (int64_t s = s0; s < s1; s++, xt += step) {
        _mm_prefetch((const char *)(row + PREFETCH_BYTES + 64 * s), _MM_HINT_T1);
        const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 64 * s)));
        const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 64 * s + 32)));
        for (int j = 0; j < A; j++) {
            acc0[j] = _mm512_fmadd_ps(w0, _mm512_load_ps(xt + 32 * j), acc0[j]);
            acc1[j] = _mm512_fmadd_ps(w1, _mm512_load_ps(xt + 32 * j + 16), acc1[j]);
        }
    }
    if (s1 < steps) {
        for (int j = 0; j < A; j++) acc_state[2 * j] = acc0[j], acc_state[2 * j + 1] = acc1[j];
        return;
    }
    __m512 v[MT_MAX];
    for (int j = 0; j < A; j++) v[j] = _mm512_add_ps(acc0[j], acc1[j]);
    float sums[MT_MAX];
    reduce8_ps(v, A, sums); /* as head_avx512.c folds a row */
    const int64_t t0 = 32 * steps, tail = k - t0;
    if (tail == 0) { /* the common case, kept out of the tail's loops (they cost ~5% at nano's shape) */
        for (int j = 0; j < A; j++) y[j * y_stride] = sums[j];
        return;
    }
    for (int j = 0; j < A; j++) {
        const float *xj = xs + steps * step + (j0 + j) * tail;
        float sum = sums[j];
        for (int64_t u = 0; u < tail; u++)
            sum += tg_fp16_to_fp32((uint16_t)(row[2 * (t0 + u)] | (row[2 * (t0 + u) + 1] << 8))) * xj[u];
        y[j * y_stride] = sum;
    }
}

/* One Q8_0 weight row's blocks [s0, s1) against A activation rows: per block, head_avx512.c's q8_0_rows
 * operations for each row in turn (codes widened once for all A), then _mm512_reduce_add_ps's tree
 * (reduce8_ps); accumulators carried between block ranges as f16_pass carries them. The block scale
 * comes from tg_fp16_table, a broadcast load, where _cvtsh_ss took a conversion and a broadcast on the
 * multiply-add ports: the same float (a half converts exactly), 9% off M = 8 at nano's shape. */
INLINE void q8_0_pass(const uint8_t *row, int64_t k, const float *xs, int64_t m, int64_t j0, const int A, int64_t s0,
                      int64_t s1, __m512 *acc_state, const float *fp16, float *y, int64_t y_stride) {
    const tg_block_q8_0 *blk = (const tg_block_q8_0 *)row;
    __m512 acc[MT_MAX];
    for (int j = 0; j < A; j++) acc[j] = s0 ? acc_state[j] : _mm512_setzero_ps();
    const float *xb = xs + s0 * 32 * m + 32 * j0;
    for (int64_t b = s0; b < s1; b++, xb += 32 * m) {
        if ((b & 1) == 0) _mm_prefetch((const char *)(row + PREFETCH_BYTES + b * (int64_t)sizeof(tg_block_q8_0)), _MM_HINT_T1);
        const __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)blk[b].qs)));
        const __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk[b].qs + 16))));
        const __m512 d = _mm512_set1_ps(fp16[blk[b].d]);
        for (int j = 0; j < A; j++) {
            const __m512 part = _mm512_fmadd_ps(q1, _mm512_load_ps(xb + 32 * j + 16), _mm512_mul_ps(q0, _mm512_load_ps(xb + 32 * j)));
            acc[j] = _mm512_fmadd_ps(part, d, acc[j]);
        }
    }
    if (s1 < k / TG_QK8_0) {
        for (int j = 0; j < A; j++) acc_state[j] = acc[j];
        return;
    }
    float sums[MT_MAX];
    reduce8_ps(acc, A, sums);
    for (int j = 0; j < A; j++) y[j * y_stride] = sums[j];
}

/* Weight rows [row0, row1) against activation rows [j0, j0 + A): at most KSTEPS steps of all of a
 * group of BLOCK_ROWS rows before the next steps (a single block when k <= 32 KSTEPS, as on nano). */
INLINE void rows_tile(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *xs, int64_t m,
                      int64_t j0, int64_t row0, int64_t row1, const int A, float *y, int64_t y_stride) {
    __m512 state[BLOCK_ROWS][2 * MT_MAX];
    const float *fp16 = type == TG_Q8_0 ? tg_fp16_table() : NULL;
    const int64_t steps = k / 32; /* = k / TG_QK8_0 for Q8_0 */
    for (int64_t g0 = row0; g0 < row1; g0 += BLOCK_ROWS) {
        const int64_t g1 = g0 + BLOCK_ROWS < row1 ? g0 + BLOCK_ROWS : row1;
        int64_t s0 = 0;
        do {
            const int64_t s1 = steps - s0 > KSTEPS ? s0 + KSTEPS : steps;
            for (int64_t r = g0; r < g1; r++) {
                const uint8_t *row = data + r * row_bytes;
                if (type == TG_F16) f16_pass(row, k, xs, m, j0, A, s0, s1, state[r - g0], y + r, y_stride);
                else q8_0_pass(row, k, xs, m, j0, A, s0, s1, state[r - g0], fp16, y + r, y_stride);
            }
            s0 = s1;
        } while (s0 < steps);
    }
}

/* y[j * y_stride + r] for j < m and rows [row0, row1), xs laid out as tg.h says at gemv_float_multi;
 * 0 for a type it does not handle. The m rows go in ceil(m / 8) passes of near-equal size (9 = 5 + 4,
 * not 8 + 1: a pass of one row would widen each weight for a single multiply-add). */
int tg_avx512_gemv_float_multi(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *xs, int64_t m,
                               int64_t row0, int64_t row1, float *y, int64_t y_stride) {
    if (type != TG_F16 && type != TG_Q8_0) return 0;
    const int64_t passes = (m + MT_MAX - 1) / MT_MAX;
    for (int64_t p = 0, j0 = 0; p < passes; p++) {
        const int64_t a = (m - j0) / (passes - p);
        float *yp = y + j0 * y_stride;
        switch (a) {
#define TILE_CASE(n) \
    case n: rows_tile(type, data, row_bytes, k, xs, m, j0, row0, row1, n, yp, y_stride); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7) TILE_CASE(8)
#undef TILE_CASE
        default: break;
        }
        j0 += a;
    }
    return 1;
}
