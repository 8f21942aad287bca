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
#include <float.h>
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

/* Per row and head, the pairs (i, i + half) in order of i: the inner loop runs over contiguous
 * values, so it vectorises (the angles' cos/sin pairs are read with a stride of two). */
TG_FLOAT_CLONES void tg_rope(float *x, int64_t rows, int64_t heads, int64_t head_dim, int64_t half, const double *angles) {
    for (int64_t r = 0; r < rows; r++) {
        const double *row_angles = angles + r * half * 2;
        for (int64_t h = 0; h < heads; h++) {
            float *p = x + (r * heads + h) * head_dim;
            for (int64_t i = 0; i < half; i++) {
                const double cosine = row_angles[2 * i], sine = row_angles[2 * i + 1];
                const double a = p[i], b = p[i + half];
                p[i] = (float)(a * cosine - b * sine);
                p[i + half] = (float)(a * sine + b * cosine);
            }
        }
    }
}

/*
 * The sampler's pass over one row of logits (src/engines/sampler/logprobs.ts: loadLogits, then
 * sumExpShifted), with the same bits: it runs once per generated token over the whole vocabulary,
 * and in V8 it was most of a greedy token's JS time. The exp is fastexp.ts's, operation for
 * operation (its 2^(j/64) table below is the one V8 computes there, written out; a test compares the
 * two over every entry), and the sum runs in index order as the JS loop does: the log-partition is
 * reported (logprobs) and seeds the draw (a seeded sample at temperature 1), so it may not change by
 * an ulp. The exps are independent, so the add chain is the only serial part.
 */
#define EXP_STEPS 64
static const double exp_fraction[EXP_STEPS] = {
    0x1.0000000000000p0, 0x1.02c9a3e778061p0, 0x1.059b0d3158574p0, 0x1.0874518759bc8p0,
    0x1.0b5586cf9890fp0, 0x1.0e3ec32d3d1a2p0, 0x1.11301d0125b51p0, 0x1.1429aaea92de0p0,
    0x1.172b83c7d517bp0, 0x1.1a35beb6fcb75p0, 0x1.1d4873168b9aap0, 0x1.2063b88628cd6p0,
    0x1.2387a6e756238p0, 0x1.26b4565e27cddp0, 0x1.29e9df51fdee1p0, 0x1.2d285a6e4030bp0,
    0x1.306fe0a31b715p0, 0x1.33c08b26416ffp0, 0x1.371a7373aa9cbp0, 0x1.3a7db34e59ff7p0,
    0x1.3dea64c123422p0, 0x1.4160a21f72e2ap0, 0x1.44e086061892dp0, 0x1.486a2b5c13cd0p0,
    0x1.4bfdad5362a27p0, 0x1.4f9b2769d2ca7p0, 0x1.5342b569d4f82p0, 0x1.56f4736b527dap0,
    0x1.5ab07dd485429p0, 0x1.5e76f15ad2148p0, 0x1.6247eb03a5584p0, 0x1.6623882552224p0,
    0x1.6a09e667f3bcdp0, 0x1.6dfb23c651a2fp0, 0x1.71f75e8ec5f74p0, 0x1.75feb564267c8p0,
    0x1.7a11473eb0187p0, 0x1.7e2f336cf4e62p0, 0x1.82589994cce13p0, 0x1.868d99b4492ecp0,
    0x1.8ace5422aa0dcp0, 0x1.8f1ae99157736p0, 0x1.93737b0cdc5e5p0, 0x1.97d829fde4e50p0,
    0x1.9c49182a3f090p0, 0x1.a0c667b5de565p0, 0x1.a5503b23e255cp0, 0x1.a9e6b5579fdbfp0,
    0x1.ae89f995ad3aep0, 0x1.b33a2b84f15fbp0, 0x1.b7f76f2fb5e47p0, 0x1.bcc1e904bc1d2p0,
    0x1.c199bdd85529cp0, 0x1.c67f12e57d14bp0, 0x1.cb720dcef9069p0, 0x1.d072d4a07897cp0,
    0x1.d5818dcfba487p0, 0x1.da9e603db3286p0, 0x1.dfc97337b9b5fp0, 0x1.e502ee78b3ff6p0,
    0x1.ea4afa2a490dap0, 0x1.efa1bee615a28p0, 0x1.f50765b6e4540p0, 0x1.fa7c1819e90d8p0,
};
/* STEPS / Math.LN2, and ln2 / STEPS split for the Cody-Waite reduction, as fastexp.ts has them */
#define EXP_STEPS_OVER_LN2 0x1.71547652b82fep6
#define EXP_LN2_HI 0x1.62e42fee00000p-7
#define EXP_LN2_LO 0x1.a39ef35793c76p-39
/* below this, exp(x) is under half the smallest subnormal double */
#define EXP_UNDERFLOW (-745.0)

/* 2^m for m in [-1075, 0], exactly (subnormal below -1022, and 2^-1075 rounds to 0 as in JS) */
static inline double power_of_two(int32_t m) {
    uint64_t bits;
    if (m >= -1022) bits = (uint64_t)(m + 1023) << 52;
    else if (m >= -1074) bits = (uint64_t)1 << (m + 1074);
    else bits = 0;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static inline double exp_non_positive(double x) {
    if (!(x > EXP_UNDERFLOW)) return 0.0;
    /* JS's `| 0` truncates toward zero, as this cast does; x > -745 keeps it far inside int32 */
    const int32_t k = (int32_t)(x * EXP_STEPS_OVER_LN2 - 0.5);
    const double kd = (double)k;
    const double r = x - kd * EXP_LN2_HI - kd * EXP_LN2_LO;
    const double p = 1 + r * (1 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120)))));
    /* k >> 6 floors (arithmetic shift) and k & 63 is the non-negative remainder, as in JS */
    return p * exp_fraction[k & (EXP_STEPS - 1)] * power_of_two(k >> 6);
}

/* NaN counts as -Infinity, +Infinity as the largest finite double (the sampler's cleanLogit) */
static inline double clean_logit(float raw) {
    const double v = raw;
    return v != v ? -INFINITY : v > DBL_MAX ? DBL_MAX : v;
}

/* Positions [from, n) one at a time: their exp weights (stored when w is given) added to sum in index order. */
static inline double add_exps_scalar(const float *logits, int64_t from, int64_t n, double max, double *w,
                                     double sum) {
    for (int64_t i = from; i < n; i++) {
        const double e = exp_non_positive(clean_logit(logits[i]) - max);
        if (w) w[i] = e;
        sum += e;
    }
    return sum;
}

static void logit_stats_scalar(const float *logits, int64_t n, double *x, double *w, int with_sum,
                               tg_logit_stats_result *out) {
    double max = -INFINITY;
    int64_t argmax = -1;
    for (int64_t i = 0; i < n; i++) {
        const double v = clean_logit(logits[i]);
        if (x) x[i] = v;
        /* strict: the lowest id holding the maximum */
        if (v > max) {
            max = v;
            argmax = i;
        }
    }
    double sum = with_sum ? 0 : NAN;
    if (with_sum && max > -INFINITY) sum = add_exps_scalar(logits, 0, n, max, w, sum);
    out->max = max;
    out->argmax = argmax;
    out->sum_exp = sum;
}

#if defined(__x86_64__)
/*
 * The same pass eight doubles at a time. This file has no -m flags, so only these functions are built for
 * AVX-512 (the target attribute) and run only where the CPU has it. Every lane does the scalar code's
 * operations in the same order, without fused multiply-adds (-ffp-contract=off), so the bits are the same;
 * the sum still adds the exps one by one in index order, in scalar code, a block behind the vector exps so
 * the two overlap. The maximum is found as a value, then its first index, and the value is taken from that
 * index: the scalar loop's max is the first of equal values, which matters only for -0 against +0.
 */
#include <immintrin.h>

#define TG_AVX512 __attribute__((target("avx512f")))
/* exps computed ahead of the scalar sum */
#define EXP_BLOCK 64

TG_AVX512 static inline __m512d clean_logits8(const float *p) {
    const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(p));
    const __m512d no_nan = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), v, _mm512_set1_pd(-INFINITY));
    return _mm512_min_pd(no_nan, _mm512_set1_pd(DBL_MAX));
}

/* p * 2^(j/64) of fastexp's reduction for x in [-745, 0], and k (x = k ln2/64 + r) */
TG_AVX512 static inline __m512d exp_mantissa8(__m512d x, __m256i *k_out) {
    const __m256i k = _mm512_cvttpd_epi32(_mm512_sub_pd(_mm512_mul_pd(x, _mm512_set1_pd(EXP_STEPS_OVER_LN2)),
                                                        _mm512_set1_pd(0.5)));
    const __m512d kd = _mm512_cvtepi32_pd(k);
    const __m512d r = _mm512_sub_pd(_mm512_sub_pd(x, _mm512_mul_pd(kd, _mm512_set1_pd(EXP_LN2_HI))),
                                    _mm512_mul_pd(kd, _mm512_set1_pd(EXP_LN2_LO)));
    __m512d p = _mm512_add_pd(_mm512_set1_pd(1.0 / 24), _mm512_mul_pd(r, _mm512_set1_pd(1.0 / 120)));
    p = _mm512_add_pd(_mm512_set1_pd(1.0 / 6), _mm512_mul_pd(r, p));
    p = _mm512_add_pd(_mm512_set1_pd(0.5), _mm512_mul_pd(r, p));
    p = _mm512_add_pd(_mm512_set1_pd(1), _mm512_mul_pd(r, p));
    p = _mm512_add_pd(_mm512_set1_pd(1), _mm512_mul_pd(r, p));
    const __m512d fraction =
        _mm512_i32gather_pd(_mm256_and_si256(k, _mm256_set1_epi32(EXP_STEPS - 1)), exp_fraction, sizeof(double));
    *k_out = k;
    return _mm512_mul_pd(p, fraction);
}

TG_AVX512 static inline __m512d exp_non_positive8(__m512d x) {
    const __mmask8 live = _mm512_cmp_pd_mask(x, _mm512_set1_pd(EXP_UNDERFLOW), _CMP_GT_OQ);
    /* lanes at or below the underflow compute exp(0) harmlessly and are zeroed at the end */
    __m256i k;
    const __m512d mantissa = exp_mantissa8(_mm512_maskz_mov_pd(live, x), &k);
    /* power_of_two(k >> 6): the exponent field when normal, else one bit of the mantissa (a shift count
     * past 63, as for 2^-1075, gives 0) */
    const __m512i m = _mm512_cvtepi32_epi64(_mm256_srai_epi32(k, 6));
    const __m512i normal = _mm512_slli_epi64(_mm512_add_epi64(m, _mm512_set1_epi64(1023)), 52);
    const __m512i subnormal = _mm512_sllv_epi64(_mm512_set1_epi64(1), _mm512_add_epi64(m, _mm512_set1_epi64(1074)));
    const __mmask8 is_normal = _mm512_cmp_epi64_mask(m, _mm512_set1_epi64(-1022), _MM_CMPINT_GE);
    const __m512d power = _mm512_castsi512_pd(_mm512_mask_blend_epi64(is_normal, subnormal, normal));
    return _mm512_maskz_mov_pd(live, _mm512_mul_pd(mantissa, power));
}

/* exp_non_positive8 for x in [-EXP_PLAIN_RANGE, 0]: every lane is above the underflow and k >> 6 >= -1022,
 * so the power of two is a plain exponent field and nothing is masked */
#define EXP_PLAIN_RANGE 700.0
TG_AVX512 static inline __m512d exp_in_range8(__m512d x) {
    __m256i k;
    const __m512d mantissa = exp_mantissa8(x, &k);
    const __m512i m = _mm512_cvtepi32_epi64(_mm256_srai_epi32(k, 6));
    const __m512d power = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(m, _mm512_set1_epi64(1023)), 52));
    return _mm512_mul_pd(mantissa, power);
}

TG_AVX512 static void logit_stats_avx512(const float *logits, int64_t n, double *x, double *w, int with_sum,
                                         tg_logit_stats_result *out) {
    __m512d most = _mm512_set1_pd(-INFINITY), least = _mm512_set1_pd(INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d v = clean_logits8(logits + i);
        if (x) _mm512_storeu_pd(x + i, v);
        most = _mm512_max_pd(most, v);
        least = _mm512_min_pd(least, v);
    }
    double max = _mm512_reduce_max_pd(most), min = _mm512_reduce_min_pd(least);
    for (; i < n; i++) {
        const double v = clean_logit(logits[i]);
        if (x) x[i] = v;
        if (v > max) max = v;
        if (v < min) min = v;
    }
    if (max == -INFINITY) {
        out->max = max;
        out->argmax = -1;
        out->sum_exp = with_sum ? 0 : NAN;
        return;
    }
    int64_t argmax = 0;
    for (i = 0; i + 8 <= n; i += 8) {
        const __mmask8 hit = _mm512_cmp_pd_mask(clean_logits8(logits + i), _mm512_set1_pd(max), _CMP_EQ_OQ);
        if (hit) break;
    }
    for (argmax = i; argmax < n && clean_logit(logits[argmax]) != max; argmax++) {
    }
    max = clean_logit(logits[argmax]);
    out->max = max;
    out->argmax = argmax;
    out->sum_exp = NAN;
    if (!with_sum) return;

    /* the usual row: no NaN or +Infinity (the clean logits are the floats themselves; only +Infinity cleans
     * to DBL_MAX, and NaN or -Infinity makes min -Infinity) and no logit 700 below the max, so the plain
     * exp applies to every lane */
    const int plain = max < DBL_MAX && min - max >= -EXP_PLAIN_RANGE;
    double block[EXP_BLOCK];
    double sum = 0;
    for (i = 0; i + EXP_BLOCK <= n; i += EXP_BLOCK) {
        double *e = w ? w + i : block;
        if (plain)
            for (int j = 0; j < EXP_BLOCK; j += 8) {
                const __m512d raw = _mm512_cvtps_pd(_mm256_loadu_ps(logits + i + j));
                _mm512_storeu_pd(e + j, exp_in_range8(_mm512_sub_pd(raw, _mm512_set1_pd(max))));
            }
        else
            for (int j = 0; j < EXP_BLOCK; j += 8) {
                const __m512d shifted = _mm512_sub_pd(clean_logits8(logits + i + j), _mm512_set1_pd(max));
                _mm512_storeu_pd(e + j, exp_non_positive8(shifted));
            }
        for (int j = 0; j < EXP_BLOCK; j++) sum += e[j];
    }
    out->sum_exp = add_exps_scalar(logits, i, n, max, w, sum);
}

/* The same pass four doubles at a time for AVX2 CPUs: the AVX-512 version's steps with compares and blends
 * in place of mask registers. */
#define TG_AVX2 __attribute__((target("avx2")))

TG_AVX2 static inline __m256d clean_logits4(const float *p) {
    const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(p));
    const __m256d no_nan = _mm256_blendv_pd(v, _mm256_set1_pd(-INFINITY), _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    return _mm256_min_pd(no_nan, _mm256_set1_pd(DBL_MAX));
}

TG_AVX2 static inline __m256d exp_non_positive4(__m256d x) {
    const __m256d live = _mm256_cmp_pd(x, _mm256_set1_pd(EXP_UNDERFLOW), _CMP_GT_OQ);
    x = _mm256_and_pd(live, x);
    const __m128i k = _mm256_cvttpd_epi32(_mm256_sub_pd(_mm256_mul_pd(x, _mm256_set1_pd(EXP_STEPS_OVER_LN2)),
                                                        _mm256_set1_pd(0.5)));
    const __m256d kd = _mm256_cvtepi32_pd(k);
    const __m256d r = _mm256_sub_pd(_mm256_sub_pd(x, _mm256_mul_pd(kd, _mm256_set1_pd(EXP_LN2_HI))),
                                    _mm256_mul_pd(kd, _mm256_set1_pd(EXP_LN2_LO)));
    __m256d p = _mm256_add_pd(_mm256_set1_pd(1.0 / 24), _mm256_mul_pd(r, _mm256_set1_pd(1.0 / 120)));
    p = _mm256_add_pd(_mm256_set1_pd(1.0 / 6), _mm256_mul_pd(r, p));
    p = _mm256_add_pd(_mm256_set1_pd(0.5), _mm256_mul_pd(r, p));
    p = _mm256_add_pd(_mm256_set1_pd(1), _mm256_mul_pd(r, p));
    p = _mm256_add_pd(_mm256_set1_pd(1), _mm256_mul_pd(r, p));
    const __m256d fraction =
        _mm256_i32gather_pd(exp_fraction, _mm_and_si128(k, _mm_set1_epi32(EXP_STEPS - 1)), sizeof(double));
    const __m256i m = _mm256_cvtepi32_epi64(_mm_srai_epi32(k, 6));
    const __m256i normal = _mm256_slli_epi64(_mm256_add_epi64(m, _mm256_set1_epi64x(1023)), 52);
    const __m256i subnormal = _mm256_sllv_epi64(_mm256_set1_epi64x(1), _mm256_add_epi64(m, _mm256_set1_epi64x(1074)));
    const __m256i is_normal = _mm256_cmpgt_epi64(m, _mm256_set1_epi64x(-1023));
    const __m256d power = _mm256_castsi256_pd(_mm256_blendv_epi8(subnormal, normal, is_normal));
    return _mm256_and_pd(live, _mm256_mul_pd(_mm256_mul_pd(p, fraction), power));
}

TG_AVX2 static void logit_stats_avx2(const float *logits, int64_t n, double *x, double *w, int with_sum,
                                     tg_logit_stats_result *out) {
    __m256d most = _mm256_set1_pd(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const __m256d v = clean_logits4(logits + i);
        if (x) _mm256_storeu_pd(x + i, v);
        most = _mm256_max_pd(most, v);
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, most);
    double max = lanes[0];
    for (int j = 1; j < 4; j++)
        if (lanes[j] > max) max = lanes[j];
    for (; i < n; i++) {
        const double v = clean_logit(logits[i]);
        if (x) x[i] = v;
        if (v > max) max = v;
    }
    if (max == -INFINITY) {
        out->max = max;
        out->argmax = -1;
        out->sum_exp = with_sum ? 0 : NAN;
        return;
    }
    for (i = 0; i + 4 <= n; i += 4)
        if (_mm256_movemask_pd(_mm256_cmp_pd(clean_logits4(logits + i), _mm256_set1_pd(max), _CMP_EQ_OQ))) break;
    int64_t argmax = i;
    while (argmax < n && clean_logit(logits[argmax]) != max) argmax++;
    max = clean_logit(logits[argmax]);
    out->max = max;
    out->argmax = argmax;
    out->sum_exp = NAN;
    if (!with_sum) return;

    double block[EXP_BLOCK];
    double sum = 0;
    for (i = 0; i + EXP_BLOCK <= n; i += EXP_BLOCK) {
        double *e = w ? w + i : block;
        for (int j = 0; j < EXP_BLOCK; j += 4) {
            const __m256d shifted = _mm256_sub_pd(clean_logits4(logits + i + j), _mm256_set1_pd(max));
            _mm256_storeu_pd(e + j, exp_non_positive4(shifted));
        }
        for (int j = 0; j < EXP_BLOCK; j++) sum += e[j];
    }
    out->sum_exp = add_exps_scalar(logits, i, n, max, w, sum);
}
#endif

void tg_logit_stats(tg_logit_path path, const float *logits, int64_t n, double *x, double *w, int with_sum,
                    tg_logit_stats_result *out) {
#if defined(__x86_64__)
    if (path == TG_LOGITS_AVX512) {
        logit_stats_avx512(logits, n, x, w, with_sum, out);
        return;
    }
    if (path == TG_LOGITS_AVX2) {
        logit_stats_avx2(logits, n, x, w, with_sum, out);
        return;
    }
#endif
    logit_stats_scalar(logits, n, x, w, with_sum, out);
}
