/*
 * The float steps between a forward pass's matmuls: RMSNorm, the gated activation, the residual
 * add and a per-tensor scale. They were plain JS loops; at BitNet sizes they cost ~5-10% of a
 * decode token there (one core, no SIMD, a crossing-free but scalar double loop), here a few
 * microseconds.
 *
 * One C version for every CPU, built without -m flags and with -ffp-contract=off: the compiler
 * may vectorise the independent lanes below, but it may not reorder a sum or fuse a multiply-add,
 * so every machine and every TRITGATE_ISA gets the same bits. The arithmetic is what the JS did
 * (doubles, rounded to float once when stored), except the RMSNorm sum of squares, which runs in
 * TG_NORM_LANES interleaved double partial sums folded pairwise in a fixed order (a single
 * running sum cannot be vectorised without changing its bits). A square of a float is exact in a
 * double, so only the order of the adds matters, and that order is fixed here.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "floatops.h"

/* Each step is built for AVX-512, AVX2 and plain x86-64 from this one source, and the loader picks the
 * widest the CPU has (GCC's target_clones). The lanes are independent IEEE double operations with no
 * contraction (-ffp-contract=off) and no reordering, so every clone gives the same bits; the width
 * only changes how many lanes one instruction does (RMSNorm at batch 8 had cost ~1.3 us a call as
 * two-lane SSE2). */
#define TG_FLOAT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/* sum of squares of x[0..n): lane j sums x[j], x[j + L], x[j + 2L], ...; lanes fold pairwise */
static inline __attribute__((always_inline)) double sum_squares(const float *x, int64_t n) {
    double lane[TG_NORM_LANES] = {0};
    int64_t i = 0;
    for (; i + TG_NORM_LANES <= n; i += TG_NORM_LANES)
        for (int j = 0; j < TG_NORM_LANES; j++) lane[j] += (double)x[i + j] * (double)x[i + j];
    for (int j = 0; i < n; i++, j++) lane[j] += (double)x[i] * (double)x[i];
    for (int width = TG_NORM_LANES / 2; width >= 1; width /= 2)
        for (int j = 0; j < width; j++) lane[j] += lane[j + width];
    return lane[0];
}

TG_FLOAT_CLONES void tg_rms_norm(const float *x, const float *weight, int64_t rows, int64_t n, double eps, float *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *o = out + r * n;
        const double inv = 1.0 / sqrt(sum_squares(xr, n) / (double)n + eps);
        for (int64_t i = 0; i < n; i++) o[i] = (float)((double)xr[i] * inv * (double)weight[i]);
    }
}

TG_FLOAT_CLONES void tg_gated_activation(int kind, const float *gate, const float *up, int64_t n, float *out) {
    if (kind == TG_ACT_RELU2) {
        /* the product is formed for every lane and masked to +0 where g <= 0 (a select the
         * compiler vectorises; a branch it would not, and random signs mispredict) */
        for (int64_t i = 0; i < n; i++) {
            const double g = gate[i];
            const float product = (float)(g * g * (double)up[i]);
            uint32_t bits;
            memcpy(&bits, &product, sizeof bits);
            bits &= -(uint32_t)(g > 0);
            memcpy(&out[i], &bits, sizeof bits);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const double g = gate[i];
            out[i] = (float)((g / (1.0 + exp(-g))) * (double)up[i]);
        }
    }
}

TG_FLOAT_CLONES void tg_add_in_place(float *x, const float *delta, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((double)x[i] + (double)delta[i]);
}

TG_FLOAT_CLONES void tg_scale_in_place(float *x, double scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((double)x[i] * scale);
}

TG_FLOAT_CLONES void tg_rope(float *x, int64_t rows, int64_t heads, int64_t head_dim, int64_t half, const double *angles) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < half; i++) {
            const double cosine = angles[(r * half + i) * 2], sine = angles[(r * half + i) * 2 + 1];
            for (int64_t h = 0; h < heads; h++) {
                float *p = x + (r * heads + h) * head_dim + i;
                const double a = p[0], b = p[half];
                p[0] = (float)(a * cosine - b * sine);
                p[half] = (float)(a * sine + b * cosine);
            }
        }
}
