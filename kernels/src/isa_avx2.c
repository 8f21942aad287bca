/*
 * AVX2 path (with FMA and F16C). Compiled with its own -m flags only.
 *
 * Without VNNI the byte dot product is vpmaddubsw (unsigned codes x signed int8 into
 * saturating int16 pairs) followed by vpmaddwd against ones. Codes are at most 3, so a pair
 * is at most 2 x 3 x 127 and four pairs summed in int16 stay far from saturation: the
 * integer results are exact, as the contract demands.
 */
#include <math.h>

#include "x86_common.h"

X86_INLINE __m256i madd_ones(__m256i pairs16) { return _mm256_madd_epi16(pairs16, _mm256_set1_epi16(1)); }

/* Sum of all eight int32 lanes. */
static int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* ---------------- 2-bit formats (TQ2_0, I2_S) at M = 1 ---------------- */

/* Field n of a 32-byte group is weights 32n .. 32n+31: at bits 2n (TQ2_0) or 6 - 2n (I2_S). */
X86_INLINE void span_2bit_fields(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                                 int32_t *out, uint32_t *mixed, const int i2s) {
    const __m256i three = _mm256_set1_epi8(3);
    __m256i acc[X86_MAX_ROWS];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        acc[i] = _mm256_setzero_si256(), mixed[i] = 0;
        first[i] = i2s ? 0 : tg_block_d_bits(TG_TQ2_0, rows[i], g0 / 2);
    }
    for (int64_t g = g0; g < g1; g++) {
        const int8_t *xg = a->xq + g * TG_GROUP;
        __m256i x[4];
        for (int n = 0; n < 4; n++) x[n] = _mm256_loadu_si256((const __m256i *)(xg + 32 * n));
        /* group g is I2_S block g, or half g & 1 of TQ2_0 block g / 2: its offset in every row */
        const int64_t offset = i2s ? g * (int64_t)sizeof(tg_block_i2_s)
                                   : (g >> 1) * (int64_t)sizeof(tg_block_tq2_0) + (int64_t)offsetof(tg_block_tq2_0, qs) + 32 * (g & 1);
        x86_stream_prefetch(a, rows, R, i2s ? offset : g * (int64_t)(sizeof(tg_block_tq2_0) / 2), i2s ? (int64_t)sizeof(tg_block_i2_s) : (int64_t)(sizeof(tg_block_tq2_0) / 2));
        if (!i2s && !(g & 1))
            for (int i = 0; i < R; i++) mixed[i] |= (uint32_t)(tg_block_d_bits(TG_TQ2_0, rows[i], g >> 1) ^ first[i]);
        for (int i = 0; i < R; i++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(rows[i] + offset));
            __m256i s = _mm256_setzero_si256();
            for (int n = 0; n < 4; n++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(w, i2s ? 6 - 2 * n : 2 * n), three);
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c, x[n]));
            }
            acc[i] = _mm256_add_epi32(acc[i], madd_ones(s));
        }
    }
    for (int i = 0; i < R; i++) out[i] = hsum_epi32(acc[i]);
}

X86_INLINE void span_tq2_0(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                           int32_t *out, uint32_t *mixed) {
    span_2bit_fields(a, rows, R, g0, g1, out, mixed, 0);
}

X86_INLINE void span_i2_s(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                          int32_t *out, uint32_t *mixed) {
    span_2bit_fields(a, rows, R, g0, g1, out, mixed, 1);
}

/* ---------------- TQ1_0 at M = 1 ---------------- */

/*
 * Trits are extracted in the "biased" domain w = byte ^ 0x80 (w = v - 128 as a signed byte):
 * multiplying by 3 commutes with the bias (3(v + 128) = 3v + 384 = 3v + 128 mod 256), so the
 * times-3 chain runs on w unchanged, and ggml's trit (v >= 86) + (v >= 171) becomes two signed
 * compares, w > -43 and w > 42, instead of two max + cmpeq pairs.
 */
X86_INLINE __m256i trits_biased(__m256i w) {
    const __m256i c1 = _mm256_cmpgt_epi8(w, _mm256_set1_epi8(85 - 128));
    const __m256i c2 = _mm256_cmpgt_epi8(w, _mm256_set1_epi8(170 - 128));
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), c1), c2);
}

/* Sum of x[j] * trit_n(v[j]) over the 32 bytes v of `w` (biased) for n < 5, against x32[n], as
 * int16 pair sums: codes <= 2, so five of them stay below 5 x 508. */
X86_INLINE __m256i dot5_biased(__m256i w, const __m256i x32[5]) {
    __m256i s = _mm256_setzero_si256();
    for (int n = 0; n < 5; n++, w = x86_times3_256(w)) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(trits_biased(w), x32[n]));
    return s;
}

/* The 48 + 4 byte block holds 32 bytes of 5 trits (weights 0..159), 16 bytes of 5 trits
 * (160..239) and 4 bytes of 4 trits (240..255). The last two are half and a sixteenth of a
 * register per row, so they are done for two rows at once: row i in the low 128 bits, row i + 1
 * in the high, against activations broadcast to both halves. */
X86_INLINE void span_tq1_0(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                           int32_t *out, uint32_t *mixed) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    __m256i acc[X86_MAX_ROWS], pair_acc[X86_MAX_ROWS / 2];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        acc[i] = _mm256_setzero_si256(), mixed[i] = 0;
        first[i] = tg_block_d_bits(TG_TQ1_0, rows[i], g0 / 2);
    }
    for (int p = 0; p < X86_MAX_ROWS / 2; p++) pair_acc[p] = _mm256_setzero_si256();
    for (int64_t b = g0 / 2; b < g1 / 2; b++) {
        const int8_t *x = a->xq + b * TG_QK_K;
        __m256i x32[5], x16[5];
        for (int n = 0; n < 5; n++) {
            x32[n] = _mm256_loadu_si256((const __m256i *)(x + 32 * n));
            x16[n] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x + 160 + 16 * n)));
        }
        const __m256i xh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x + 240)));
        for (int i = 0; i < R; i++) {
            const tg_block_tq1_0 *blk = (const tg_block_tq1_0 *)rows[i] + b;
            mixed[i] |= (uint32_t)(blk->d ^ first[i]);
            __m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk->qs), bias);
            acc[i] = _mm256_add_epi32(acc[i], madd_ones(dot5_biased(w, x32)));
        }
        for (int i = 0; i < R; i += 2) {
            /* R is 1 or 4: a lone row pairs with itself and keeps only its low half */
            const tg_block_tq1_0 *lo = (const tg_block_tq1_0 *)rows[i] + b;
            const tg_block_tq1_0 *hi = (const tg_block_tq1_0 *)rows[i + 1 < R ? i + 1 : i] + b;
            __m256i w = _mm256_xor_si256(
                _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(lo->qs + 32))),
                                        _mm_loadu_si128((const __m128i *)(hi->qs + 32)), 1),
                bias);
            __m256i s = dot5_biased(w, x16);
            /* qh: dword n of each half holds that row's four bytes times 3^n */
            int32_t qlo, qhi;
            memcpy(&qlo, lo->qh, 4);
            memcpy(&qhi, hi->qh, 4);
            const __m256i h0 = _mm256_xor_si256(_mm256_setr_epi32(qlo, qlo, qlo, qlo, qhi, qhi, qhi, qhi), bias);
            const __m256i h1 = x86_times3_256(h0), h2 = x86_times3_256(h1), h3 = x86_times3_256(h2);
            const __m256i hv = _mm256_blend_epi32(_mm256_blend_epi32(_mm256_blend_epi32(h0, h1, 0x22), h2, 0x44), h3, 0x88);
            s = _mm256_add_epi16(s, _mm256_maddubs_epi16(trits_biased(hv), xh));
            pair_acc[i / 2] = _mm256_add_epi32(pair_acc[i / 2], madd_ones(s));
        }
    }
    for (int i = 0; i < R; i++) {
        const __m256i pa = pair_acc[i / 2];
        const __m128i half = (i & 1) ? _mm256_extracti128_si256(pa, 1) : _mm256_castsi256_si128(pa);
        out[i] = hsum_epi32(_mm256_add_epi32(acc[i], _mm256_zextsi128_si256(half)));
    }
}

/* One function per format, so that one's register allocation cannot disturb another's loop. */
__attribute__((noinline)) static void gemv_tq1_0(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    x86_gemv(a, row0, row1, span_tq1_0, 0);
}

__attribute__((noinline)) static void gemv_tq2_0(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    x86_gemv(a, row0, row1, span_tq2_0, 1);
}

__attribute__((noinline)) static void gemv_i2_s(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    x86_gemv(a, row0, row1, span_i2_s, 1);
}

static void gemv_ternary(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    if (a->type == TG_TQ1_0) gemv_tq1_0(a, row0, row1);
    else if (a->type == TG_TQ2_0) gemv_tq2_0(a, row0, row1);
    else gemv_i2_s(a, row0, row1);
}

/* ---------------- M > 1: tiles of unpacked codes ---------------- */

/* Two weight rows against four activation rows: eight accumulators fit AVX2's 16 registers. */
X86_INLINE void dot_tile_2x4(const uint8_t *const *c, const int8_t *const *xr, int64_t k0, int64_t k1, __m256i acc[2][4]) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_si256();
    for (int64_t kk = k0; kk < k1; kk += 64) {
        /* two 32-byte halves summed in int16 before widening: 2 x 2 x 3 x 127 fits */
        for (int i = 0; i < 2; i++) {
            __m256i c_lo = _mm256_loadu_si256((const __m256i *)(c[i] + kk));
            __m256i c_hi = _mm256_loadu_si256((const __m256i *)(c[i] + kk + 32));
            for (int j = 0; j < 4; j++) {
                __m256i s = _mm256_add_epi16(
                    _mm256_maddubs_epi16(c_lo, _mm256_loadu_si256((const __m256i *)(xr[j] + kk))),
                    _mm256_maddubs_epi16(c_hi, _mm256_loadu_si256((const __m256i *)(xr[j] + kk + 32))));
                acc[i][j] = _mm256_add_epi32(acc[i][j], madd_ones(s));
            }
        }
    }
}

static void dot_tile_u8s8(const uint8_t *codes, int64_t cstride, int nt, const int8_t *x, int64_t xstride, int mt,
                          int64_t k0, int64_t k1, int32_t *out) {
    const int8_t *xr[4];
    for (int j = 0; j < 4; j++) xr[j] = x + (j < mt ? j : 0) * xstride;
    for (int i0 = 0; i0 < nt; i0 += 2) {
        const uint8_t *c[2] = {codes + i0 * cstride, codes + (i0 + 1 < nt ? i0 + 1 : i0) * cstride};
        __m256i acc[2][4];
        dot_tile_2x4(c, xr, k0, k1, acc);
        for (int i = i0; i < nt && i < i0 + 2; i++)
            for (int j = 0; j < mt; j++) out[i * mt + j] = hsum_epi32(acc[i - i0][j]);
    }
}

/* ---------------- activations ---------------- */

static void quantize_row_i8(const float *x, int64_t k, int8_t *q, float *xscale) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 vmax = _mm256_setzero_ps();
    int64_t j = 0;
    /* max(|x|, acc) returns acc when |x| is NaN, as fmaxf does in the reference */
    for (; j + 8 <= k; j += 8) vmax = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), vmax);
    float lanes[8];
    _mm256_storeu_ps(lanes, vmax);
    float amax = 0.0f;
    for (int i = 0; i < 8; i++) amax = fmaxf(amax, lanes[i]);
    for (; j < k; j++) amax = fmaxf(amax, fabsf(x[j]));
    if (amax == 0.0f) {
        memset(q, 0, (size_t)k);
        *xscale = 0.0f;
        return;
    }
    const float iscale_s = 127.0f / amax;
    const __m256 iscale = _mm256_set1_ps(iscale_s);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (j = 0; j + 32 <= k; j += 32) {
        __m256i v[4];
        for (int u = 0; u < 4; u++) {
            /* cvtps rounds with MXCSR's mode, the same as lrintf in the reference */
            v[u] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * u), iscale));
            v[u] = _mm256_min_epi32(_mm256_max_epi32(v[u], lo), hi);
        }
        /* the packs work per 128-bit lane; the permute puts the 32 bytes back in order */
        __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(q + j), _mm256_permutevar8x32_epi32(b, order));
    }
    for (; j < k; j++) {
        long v = lrintf(x[j] * iscale_s);
        q[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    *xscale = amax / 127.0f;
}

/* ---------------- float path and bandwidth ---------------- */

static float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_f32(const float *a, const float *b, int64_t k) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t j = 0;
    for (; j + 32 <= k; j += 32)
        for (int u = 0; u < 4; u++)
            acc[u] = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8 * u), _mm256_loadu_ps(b + j + 8 * u), acc[u]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; j < k; j++) s += a[j] * b[j];
    return s;
}

/*
 * Q8_0 weights times Q8_0 activations (semantics in tg.h). vpmaddubsw wants unsigned times signed,
 * so each block multiplies |w| by x carrying w's sign (vpsignb), in int16 pairs that cannot
 * saturate (|x| <= 127, |w| <= 128), widened to int32 by vpmaddwd; the scales as on AVX-512.
 */
static void gemv_q8_0(const tg_q8_0_args *a, int64_t row0, int64_t row1) {
    const float *fp16 = tg_fp16_table();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t r = row0; r < row1; r++) {
        const tg_block_q8_0 *row = (const tg_block_q8_0 *)(a->data + r * a->row_bytes);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < a->k / TG_QK8_0; b++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)row[b].qs);
            const __m256i x = _mm256_loadu_si256((const __m256i *)(a->xq + b * TG_QK8_0));
            const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            const __m256 dot = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), _mm256_broadcast_ss(a->xd + b));
            acc = _mm256_fmadd_ps(dot, _mm256_broadcast_ss(fp16 + row[b].d), acc);
        }
        a->y[r] = hsum_ps(acc);
    }
}

static double read_sum(const float *p, int64_t count) {
    double total = 0.0;
    int64_t j = 0;
    while (j < count) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        int64_t end = j + 65536 < count ? j + 65536 : count;
        for (; j + 32 <= end; j += 32)
            for (int u = 0; u < 4; u++) acc[u] = _mm256_add_ps(acc[u], _mm256_loadu_ps(p + j + 8 * u));
        for (; j < end; j++) total += p[j];
        total += hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    }
    return total;
}

/* isa_avx2_multi.c: the small-M 2-bit GEMV (batched decode) */
void tg_avx2_gemv_ternary_multi(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all);
/* head_multi_avx2.c: the F16 / Q8_0 head at small M */
int tg_avx2_gemv_float_multi(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t m,
                             int64_t row0, int64_t row1, float *y, int64_t y_stride);

/* attention_avx2.c: one attention task */
void tg_avx2_attend_group(const tg_attend_group_args *g);

const tg_isa_ops tg_isa_avx2 = {
    .name = "avx2",
    .gemv_ternary = gemv_ternary,
    .unpack_ternary_row = x86_unpack_ternary_row,
    .dot_tile_u8s8 = dot_tile_u8s8,
    .gemv_ternary_multi = tg_avx2_gemv_ternary_multi,
    .quantize_row_i8 = quantize_row_i8,
    .dequant_row = x86_dequant_row,
    .dot_f32 = dot_f32,
    .gemv_float = x86_gemv_float,
    .gemv_q8_0 = gemv_q8_0,
    .gemv_float_multi = tg_avx2_gemv_float_multi,
    .read_sum = read_sum,
    .attend_group = tg_avx2_attend_group,
    .fp32_to_fp16_row = x86_fp32_to_fp16_row,
};
