/*
 * AVX-512 path (F, BW, VL, VNNI). Compiled with its own -m flags only; dispatch in cpu.c makes
 * sure it runs only where the CPU and OS support all four.
 *
 * The ternary dot products are vpdpbusd: unsigned codes times signed int8 activations, four
 * products per int32 lane, no saturation. The reference subtracts sum(q) afterwards, so codes
 * {0,1,2} stand for weights {-1,0,+1} without ever forming signed weights.
 */
#include <math.h>

#include "x86_common.h"

/* ---------------- 2-bit formats (TQ2_0, I2_S) at M = 1 ---------------- */

/*
 * A 32-byte group of 2-bit fields holds 128 weights: field n of byte m is weight 32n + m
 * (field n at bits 2n for TQ2_0, at bits 6 - 2n for I2_S). Broadcasting the group to both
 * halves of a zmm and masking a different field in each half gives the codes of 64 weights
 * in activation order, still shifted left by their field position. vpdpbusd on these scaled
 * codes needs no shift per group; each int32 lane only ever sees one field, so one exact
 * arithmetic shift per lane at the end of a span removes the scale.
 */
typedef struct {
    __m512i mask_lo, mask_hi;   /* fields for weights 0..63 and 64..127 of the group */
    __m512i shift_lo, shift_hi; /* their bit positions, per int32 lane */
} field_pick;

static __m512i halves8(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi8((char)lo), _mm256_set1_epi8((char)hi), 1);
}

static __m512i halves32(int lo, int hi) {
    return _mm512_inserti64x4(_mm512_set1_epi32(lo), _mm256_set1_epi32(hi), 1);
}

static field_pick field_pick_of(int type) {
    const int s[4] = {type == TG_I2_S ? 6 : 0, type == TG_I2_S ? 4 : 2, type == TG_I2_S ? 2 : 4, type == TG_I2_S ? 0 : 6};
    field_pick p = {halves8(3 << s[0], 3 << s[1]), halves8(3 << s[2], 3 << s[3]), halves32(s[0], s[1]),
                    halves32(s[2], s[3])};
    return p;
}

/* Scaled lanes stay below 2^31 for this many groups: 2 x 4 x (3 << 6) x 127 per group. */
#define DRAIN_GROUPS 2048

static int32_t drain_scaled(__m512i *lo, __m512i *hi, const field_pick *p) {
    __m512i s = _mm512_add_epi32(_mm512_srav_epi32(*lo, p->shift_lo), _mm512_srav_epi32(*hi, p->shift_hi));
    *lo = *hi = _mm512_setzero_si512();
    return _mm512_reduce_add_epi32(s);
}

X86_INLINE void span_2bit(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                          int32_t *out, uint32_t *mixed) {
    const field_pick p = field_pick_of(a->type);
    const int tq2 = a->type == TG_TQ2_0;
    __m512i lo[X86_MAX_ROWS], hi[X86_MAX_ROWS];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        lo[i] = hi[i] = _mm512_setzero_si512(), out[i] = 0, mixed[i] = 0;
        first[i] = tq2 ? tg_block_d_bits(TG_TQ2_0, rows[i], g0 / 2) : 0;
    }
    for (int64_t g = g0; g < g1; g++) {
        if ((g - g0) % DRAIN_GROUPS == DRAIN_GROUPS - 1)
            for (int i = 0; i < R; i++) out[i] += drain_scaled(&lo[i], &hi[i], &p);
        const __m512i x_lo = _mm512_loadu_si512(a->xq + g * TG_GROUP);
        const __m512i x_hi = _mm512_loadu_si512(a->xq + g * TG_GROUP + 64);
        const int64_t offset = tq2 ? (g >> 1) * 66 + (g & 1) * 32 : g * 32;
        if (tq2 && !(g & 1))
            for (int i = 0; i < R; i++) mixed[i] |= (uint32_t)(tg_block_d_bits(TG_TQ2_0, rows[i], g >> 1) ^ first[i]);
        for (int i = 0; i < R; i++) {
            __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(rows[i] + offset)));
            lo[i] = _mm512_dpbusd_epi32(lo[i], _mm512_and_si512(w, p.mask_lo), x_lo);
            hi[i] = _mm512_dpbusd_epi32(hi[i], _mm512_and_si512(w, p.mask_hi), x_hi);
        }
    }
    for (int i = 0; i < R; i++) out[i] += drain_scaled(&lo[i], &hi[i], &p);
}

/* ---------------- TQ1_0 at M = 1 ---------------- */

X86_INLINE void span_tq1_0(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                           int32_t *out, uint32_t *mixed) {
    /* codes are at most 2, so int32 lanes cannot overflow for any realistic row length */
    __m256i acc32[X86_MAX_ROWS];
    __m128i acc16[X86_MAX_ROWS];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        acc32[i] = _mm256_setzero_si256(), acc16[i] = _mm_setzero_si128(), mixed[i] = 0;
        first[i] = tg_block_d_bits(TG_TQ1_0, rows[i], g0 / 2);
    }
    __m256i c32[5];
    __m128i c16[6];
    for (int64_t b = g0 / 2; b < g1 / 2; b++) {
        const int8_t *x = a->xq + b * TG_QK_K;
        for (int i = 0; i < R; i++) {
            mixed[i] |= (uint32_t)(tg_block_d_bits(TG_TQ1_0, rows[i], b) ^ first[i]);
            x86_tq1_0_codes(rows[i] + b * 54, c32, c16);
            for (int n = 0; n < 5; n++)
                acc32[i] = _mm256_dpbusd_epi32(acc32[i], c32[n], _mm256_loadu_si256((const __m256i *)(x + 32 * n)));
            for (int n = 0; n < 6; n++)
                acc16[i] = _mm_dpbusd_epi32(acc16[i], c16[n], _mm_loadu_si128((const __m128i *)(x + 160 + 16 * n)));
        }
    }
    for (int i = 0; i < R; i++) {
        __m256i s = _mm256_add_epi32(acc32[i], _mm256_zextsi128_si256(acc16[i]));
        out[i] = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(s));
    }
}

static void gemv_ternary(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    if (a->type == TG_TQ1_0) x86_gemv(a, row0, row1, span_tq1_0);
    else x86_gemv(a, row0, row1, span_2bit);
}

/* ---------------- M > 1: 4 x 4 tiles of unpacked codes ---------------- */

/* The four lane sums of v[0..3] in one pass: interleave and add within 128-bit lanes, then fold
 * the lanes, instead of four separate horizontal reductions. */
static __m128i reduce4_epi32(const __m512i v[4]) {
    __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(v[0], v[1]), _mm512_unpackhi_epi32(v[0], v[1]));
    __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2], v[3]), _mm512_unpackhi_epi32(v[2], v[3]));
    __m512i abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
    __m256i half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
}

static void dot_tile_u8s8(const uint8_t *codes, int64_t cstride, int nt, const int8_t *x, int64_t xstride, int mt,
                          int64_t k0, int64_t k1, int32_t *out) {
    /* Partial tiles repeat their first row or column rather than branch in the loop. */
    const uint8_t *c[4];
    const int8_t *xr[4];
    for (int i = 0; i < 4; i++) c[i] = codes + (i < nt ? i : 0) * cstride, xr[i] = x + (i < mt ? i : 0) * xstride;
    __m512i acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_si512();
    for (int64_t kk = k0; kk < k1; kk += 64) {
        __m512i cv[4], xv[4];
        for (int i = 0; i < 4; i++) cv[i] = _mm512_loadu_si512(c[i] + kk), xv[i] = _mm512_loadu_si512(xr[i] + kk);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], cv[i], xv[j]);
    }
    for (int i = 0; i < nt; i++) {
        int32_t sums[4];
        _mm_storeu_si128((__m128i *)sums, reduce4_epi32(acc[i]));
        for (int j = 0; j < mt; j++) out[i * mt + j] = sums[j];
    }
}

/* One 16-row panel against MT activation rows: per 4 columns, one load of the panel's 64 bytes
 * and a 4-byte broadcast per activation row; lane r of acc[j] is row r's sum for activation j. */
X86_INLINE void panel_dot_mt(const uint8_t *panel, const int8_t *x, int64_t xstride, int64_t k, int32_t *out,
                             const int MT) {
    __m512i acc[TG_PANEL_MT];
    for (int j = 0; j < MT; j++) acc[j] = _mm512_setzero_si512();
    for (int64_t kq = 0; kq < k / 4; kq++) {
        const __m512i w = _mm512_load_si512((const void *)(panel + kq * 64));
        for (int j = 0; j < MT; j++) {
            int32_t four;
            memcpy(&four, x + j * xstride + kq * 4, 4);
            acc[j] = _mm512_dpbusd_epi32(acc[j], w, _mm512_set1_epi32(four));
        }
    }
    for (int j = 0; j < MT; j++) _mm512_storeu_si512(out + j * 16, acc[j]);
}

/* The panel layout is a 16 x 16 transpose of 32-bit words per 64 columns: word q of row r goes to
 * word r of output q. Two unpack stages transpose within 128-bit lanes, two lane shuffles across. */
static void panel_pack(const uint8_t *codes, int64_t cstride, int rows, int64_t k, uint8_t *panel) {
    const __m512i zero_weight = _mm512_set1_epi8(1);
    for (int64_t k0 = 0; k0 < k; k0 += 64) {
        __m512i r[16], t[16], u[16];
        for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_si512(codes + i * cstride + k0) : zero_weight;
        for (int i = 0; i < 16; i += 2) {
            t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
        }
        /* u[4g + c], lane L: rows 4g..4g+3 at column 4L + c */
        for (int g = 0; g < 16; g += 4) {
            u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
            u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
            u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
            u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
        }
        uint8_t *dst = panel + (k0 / 4) * 64;
        for (int c = 0; c < 4; c++) {
            /* a 4 x 4 transpose of 128-bit lanes across the four row groups */
            __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
            __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
            __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
            _mm512_store_si512((void *)(dst + (0 + c) * 64), _mm512_shuffle_i32x4(v0, v2, 0x88));
            _mm512_store_si512((void *)(dst + (4 + c) * 64), _mm512_shuffle_i32x4(v0, v2, 0xDD));
            _mm512_store_si512((void *)(dst + (8 + c) * 64), _mm512_shuffle_i32x4(v1, v3, 0x88));
            _mm512_store_si512((void *)(dst + (12 + c) * 64), _mm512_shuffle_i32x4(v1, v3, 0xDD));
        }
    }
}

static void panel_dot_u8s8(const uint8_t *panel, const int8_t *x, int64_t xstride, int mt, int64_t k, int32_t *out) {
    switch (mt) {
#define TG_PANEL_CASE(n) \
    case n: panel_dot_mt(panel, x, xstride, k, out, n); break;
        TG_PANEL_CASE(1) TG_PANEL_CASE(2) TG_PANEL_CASE(3) TG_PANEL_CASE(4) TG_PANEL_CASE(5) TG_PANEL_CASE(6)
        TG_PANEL_CASE(7) TG_PANEL_CASE(8) TG_PANEL_CASE(9) TG_PANEL_CASE(10) TG_PANEL_CASE(11) TG_PANEL_CASE(12)
#undef TG_PANEL_CASE
    default: break;
    }
}

/* ---------------- activations ---------------- */

static void quantize_row_i8(const float *x, int64_t k, int8_t *q, float *xscale) {
    /* max(|x|, acc) returns acc when |x| is NaN, as fmaxf does in the reference */
    __m512 vmax = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= k; j += 16) vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + j)), vmax);
    if (j < k) {
        __mmask16 tail = (__mmask16)((1u << (k - j)) - 1);
        vmax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(tail, x + j)), vmax);
    }
    float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
        memset(q, 0, (size_t)k);
        *xscale = 0.0f;
        return;
    }
    const __m512 iscale = _mm512_set1_ps(127.0f / amax);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    for (j = 0; j < k; j += 16) {
        __mmask16 m = k - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - j)) - 1);
        /* cvtps rounds with MXCSR's mode, the same as lrintf in the reference */
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), iscale));
        _mm512_mask_cvtepi32_storeu_epi8(q + j, m, _mm512_min_epi32(_mm512_max_epi32(v, lo), hi));
    }
    *xscale = amax / 127.0f;
}

/* ---------------- float path and bandwidth ---------------- */

static float dot_f32(const float *a, const float *b, int64_t k) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t j = 0;
    for (; j + 64 <= k; j += 64)
        for (int u = 0; u < 4; u++)
            acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16 * u), _mm512_loadu_ps(b + j + 16 * u), acc[u]);
    for (; j < k; j += 16) {
        __mmask16 m = k - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - j)) - 1);
        acc[0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), acc[0]);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

static double read_sum(const float *p, int64_t count) {
    /* fold float partials into a double every 64 Ki values so large sums stay exact for 1.0s */
    double total = 0.0;
    int64_t j = 0;
    while (j < count) {
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        int64_t end = j + 65536 < count ? j + 65536 : count;
        for (; j + 64 <= end; j += 64)
            for (int u = 0; u < 4; u++) acc[u] = _mm512_add_ps(acc[u], _mm512_loadu_ps(p + j + 16 * u));
        for (; j < end; j++) total += p[j];
        total += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    }
    return total;
}

/* head_avx512.c: F16 and Q8_0 heads in 512-bit registers, Q6_K through the shared 256-bit code */
int tg_avx512_gemv_float(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                         int64_t row1, float *y);

static int gemv_float(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                      int64_t row1, float *y) {
    return tg_avx512_gemv_float(type, data, row_bytes, k, x, row0, row1, y) ||
           x86_gemv_float(type, data, row_bytes, k, x, row0, row1, y);
}

const tg_isa_ops tg_isa_avx512 = {
    .name = "avx512",
    .gemv_ternary = gemv_ternary,
    .unpack_ternary_row = x86_unpack_ternary_row,
    .dot_tile_u8s8 = dot_tile_u8s8,
    .panel_dot_u8s8 = panel_dot_u8s8,
    .panel_pack = panel_pack,
    .quantize_row_i8 = quantize_row_i8,
    .dequant_row = x86_dequant_row,
    .dot_f32 = dot_f32,
    .gemv_float = gemv_float,
    .read_sum = read_sum,
};
