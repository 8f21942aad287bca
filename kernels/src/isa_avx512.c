/*
 * AVX-512 path (F, BW, VL, VNNI). Compiled with its own -m flags only; dispatch in cpu.c makes
 * sure it runs only where the CPU and OS support all four.
 *
 * The ternary dot products are vpdpbusd: unsigned codes times signed int8 activations, four
 * products per int32 lane, no saturation. The reference subtracts sum(q) afterwards, so codes
 * {0,1,2} stand for weights {-1,0,+1} without ever forming signed weights.
 */
#include <math.h>
#include <stdlib.h>

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

/*
 * TQ2_0 walks whole blocks (a span of TQ2_0 always starts and ends on one): both 32-byte groups of a
 * block against the block's four 64-byte runs of activations, with the scale check once per block
 * and the drain in an outer loop, so the hot loop has no per-group offset arithmetic or modulo.
 */
#define DRAIN_BLOCKS (DRAIN_GROUPS / 2)

X86_INLINE void span_tq2_0(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                           int32_t *out, uint32_t *mixed) {
    const field_pick p = field_pick_of(TG_TQ2_0);
    const tg_block_tq2_0 *blocks[X86_MAX_ROWS];
    __m512i lo[X86_MAX_ROWS], hi[X86_MAX_ROWS];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        blocks[i] = (const tg_block_tq2_0 *)rows[i];
        lo[i] = hi[i] = _mm512_setzero_si512(), out[i] = 0, mixed[i] = 0;
        first[i] = blocks[i][g0 / 2].d;
    }
    for (int64_t c0 = g0 / 2; c0 < g1 / 2; c0 += DRAIN_BLOCKS) {
        const int64_t c1 = c0 + DRAIN_BLOCKS < g1 / 2 ? c0 + DRAIN_BLOCKS : g1 / 2;
        for (int64_t b = c0; b < c1; b++) {
            const int8_t *x = a->xq + b * TG_QK_K;
            const __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 64);
            const __m512i x2 = _mm512_loadu_si512(x + 128), x3 = _mm512_loadu_si512(x + 192);
            x86_stream_prefetch(a, rows, R, b * (int64_t)sizeof(tg_block_tq2_0), sizeof(tg_block_tq2_0));
            for (int i = 0; i < R; i++) {
                const tg_block_tq2_0 *blk = blocks[i] + b;
                mixed[i] |= (uint32_t)(blk->d ^ first[i]);
                const __m512i w0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)blk->qs));
                const __m512i w1 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk->qs + 32)));
                lo[i] = _mm512_dpbusd_epi32(lo[i], _mm512_and_si512(w0, p.mask_lo), x0);
                hi[i] = _mm512_dpbusd_epi32(hi[i], _mm512_and_si512(w0, p.mask_hi), x1);
                lo[i] = _mm512_dpbusd_epi32(lo[i], _mm512_and_si512(w1, p.mask_lo), x2);
                hi[i] = _mm512_dpbusd_epi32(hi[i], _mm512_and_si512(w1, p.mask_hi), x3);
            }
        }
        for (int i = 0; i < R; i++) out[i] += drain_scaled(&lo[i], &hi[i], &p);
    }
}

/* I2_S the same way: one scale per tensor, so no check at all; a group is a block. */
X86_INLINE void span_i2_s(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                          int32_t *out, uint32_t *mixed) {
    const field_pick p = field_pick_of(TG_I2_S);
    const tg_block_i2_s *blocks[X86_MAX_ROWS];
    __m512i lo[X86_MAX_ROWS], hi[X86_MAX_ROWS];
    for (int i = 0; i < R; i++) {
        blocks[i] = (const tg_block_i2_s *)rows[i];
        lo[i] = hi[i] = _mm512_setzero_si512(), out[i] = 0, mixed[i] = 0;
    }
    for (int64_t c0 = g0; c0 < g1; c0 += DRAIN_GROUPS) {
        const int64_t c1 = c0 + DRAIN_GROUPS < g1 ? c0 + DRAIN_GROUPS : g1;
        for (int64_t g = c0; g < c1; g++) {
            const __m512i x_lo = _mm512_loadu_si512(a->xq + g * TG_GROUP);
            const __m512i x_hi = _mm512_loadu_si512(a->xq + g * TG_GROUP + 64);
            x86_stream_prefetch(a, rows, R, g * (int64_t)sizeof(tg_block_i2_s), sizeof(tg_block_i2_s));
            for (int i = 0; i < R; i++) {
                const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)blocks[i][g].qs));
                lo[i] = _mm512_dpbusd_epi32(lo[i], _mm512_and_si512(w, p.mask_lo), x_lo);
                hi[i] = _mm512_dpbusd_epi32(hi[i], _mm512_and_si512(w, p.mask_hi), x_hi);
            }
        }
        for (int i = 0; i < R; i++) out[i] += drain_scaled(&lo[i], &hi[i], &p);
    }
}

/* ---------------- TQ1_0 at M = 1 ---------------- */

/*
 * Trit n of a packed byte v is (v_n * 3) >> 8 for v_n = v * 3^n mod 256 (ggml's extraction, and
 * the reference's). Since v_{n+1} = 3 v_n mod 256, that trit is exactly (3 v_n - v_{n+1}) / 256,
 * which is linear in the bytes the times-3 chain produces anyway. So a dot product of trits with
 * activations needs no trit extraction at all:
 *     sum_m trit_n(v[m]) x[m] = (3 * sum_m v_n[m] x[m] - sum_m v_{n+1}[m] x[m]) / 256,
 * two vpdpbusd on the raw chain bytes (unsigned) into two accumulators, "three" and "one". The
 * identity holds per byte, hence per int32 lane, so each lane's 3 * three - one is an exact
 * multiple of 256 and an arithmetic shift recovers that lane's trit sum.
 */

/* byte * 3 mod 256 without a byte multiply */
X86_INLINE __m512i times3_512(__m512i v) { return _mm512_add_epi8(_mm512_add_epi8(v, v), v); }

/* Lanes take at most 6 vpdpbusd of 4 x 255 x 127 per block; draining every 128 blocks keeps
 * 3 * three - one far below 2^31 (the addon caps rows at 256 blocks, but the kernel need not rely on it). */
#define TQ1_DRAIN_BLOCKS 128

typedef struct {
    __m512i three, one;
} tq1_acc;

/* For the chain bytes v of trit position n against x: three += v . x, one += (3v mod 256) . x;
 * returns 3v mod 256, the chain's next bytes. */
X86_INLINE __m512i tq1_step(tq1_acc *acc, __m512i v, __m512i x) {
    const __m512i next = times3_512(v);
    acc->three = _mm512_dpbusd_epi32(acc->three, v, x);
    acc->one = _mm512_dpbusd_epi32(acc->one, next, x);
    return next;
}

/* Each lane's trit sum, (3 * three - one) / 256 (exact), and the accumulators cleared. */
X86_INLINE __m512i tq1_lanes(tq1_acc *acc) {
    const __m512i t = _mm512_sub_epi32(_mm512_add_epi32(acc->three, _mm512_add_epi32(acc->three, acc->three)), acc->one);
    acc->three = acc->one = _mm512_setzero_si512();
    return _mm512_srai_epi32(t, 8);
}

/* Adds row i's trit sum to out[i]: row i sits in half i & 1 of pair[i / 2] and lane i of quad. */
X86_INLINE void tq1_0_drain(tq1_acc pair[2], tq1_acc *quad, int R, int32_t *out) {
    const __m512i p[2] = {tq1_lanes(&pair[0]), tq1_lanes(&pair[1])}, q = tq1_lanes(quad);
    for (int i = 0; i < R; i++) {
        const __m256i half = _mm512_extracti64x4_epi64(p[i / 2], i & 1);
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
        s = _mm_add_epi32(s, _mm512_extracti32x4_epi32(q, i));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        out[i] += _mm_cvtsi128_si32(s);
    }
}

/*
 * One block's activations laid out as the span reads them, so that every vpdpbusd takes a plain
 * 64-byte memory operand rather than a broadcast (a shuffle-pipe operation per use): x[32n ..
 * 32n+31] twice for n < 5 (the pairs), x[160+16n .. +15] four times for n < 5 (the 16-byte parts),
 * x[240 .. 255] four times (qh). Built once per GEMV call and shared by all its rows.
 */
#define TQ1_XBLOCK 704
#define TQ1_XSTACK 32768 /* bytes of expanded activations kept on the stack (k up to 11776) */

static void tq1_0_expand(const int8_t *x, int8_t *e) {
    for (int n = 0; n < 5; n++)
        _mm512_store_si512((void *)(e + 64 * n), _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 32 * n))));
    for (int n = 0; n < 6; n++)
        _mm512_store_si512((void *)(e + 320 + 64 * n),
                           _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(x + 160 + 16 * n))));
}

/* The GEMV's arguments and its expanded activations (NULL: expand block by block instead). */
typedef struct {
    tg_ternary_args a; /* first, so the span's tg_ternary_args pointer leads back here */
    const int8_t *xe;
} tq1_args;

/* Block b of the four slots against its expanded activations xe: pair, quad and qh parts. */
X86_INLINE void tq1_0_block(tq1_acc pair[2], tq1_acc *quad, const uint8_t *const *slot, const int8_t *xe, int64_t b) {
    /* dword 4r + j of the qh register takes dword r (row r) of qh[j] */
    const __m512i qh_transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const tg_block_tq1_0 *blk[X86_MAX_ROWS];
    for (int i = 0; i < X86_MAX_ROWS; i++) blk[i] = (const tg_block_tq1_0 *)slot[i] + b;
    for (int p = 0; p < 2; p++) {
        __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)blk[2 * p]->qs)),
                                       _mm256_loadu_si256((const __m256i *)blk[2 * p + 1]->qs), 1);
        for (int n = 0; n < 5; n++) w = tq1_step(&pair[p], w, _mm512_load_si512((const void *)(xe + 64 * n)));
    }
    __m512i q = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(blk[0]->qs + 32)));
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(blk[1]->qs + 32)), 1);
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(blk[2]->qs + 32)), 2);
    q = _mm512_inserti32x4(q, _mm_loadu_si128((const __m128i *)(blk[3]->qs + 32)), 3);
    for (int n = 0; n < 5; n++) q = tq1_step(quad, q, _mm512_load_si512((const void *)(xe + 320 + 64 * n)));
    /* qh: the four rows' dwords chained in one xmm, then transposed so that lane r holds row r's
     * dword times 3^j in dword j */
    __m128i qh[4];
    qh[0] = _mm_unpacklo_epi64(_mm_unpacklo_epi32(_mm_loadu_si32(blk[0]->qh), _mm_loadu_si32(blk[1]->qh)),
                               _mm_unpacklo_epi32(_mm_loadu_si32(blk[2]->qh), _mm_loadu_si32(blk[3]->qh)));
    for (int j = 1; j < 4; j++) qh[j] = _mm_add_epi8(_mm_add_epi8(qh[j - 1], qh[j - 1]), qh[j - 1]);
    const __m512i h = _mm512_permutexvar_epi32(
        qh_transpose,
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(qh[1], qh[0])), _mm256_set_m128i(qh[3], qh[2]), 1));
    tq1_step(quad, h, _mm512_load_si512((const void *)(xe + 640)));
}

/*
 * A block is 32 bytes of 5 trits (weights 0..159: trit n of byte m is weight 32n + m), 16 bytes
 * of 5 trits (160..239) and 4 bytes of 4 trits (240..255). Each part fills whole zmm registers
 * by holding several rows at once against activations repeated for each row's slice: the
 * 32-byte parts of rows 2p and 2p + 1 in one register (pair p), the 16-byte parts of all four
 * rows in another (lane r is row r), and the four qh bytes of each row, times 3^j in dword j, in
 * a third that shares the 16-byte part's accumulators. R is 1 or 4; a lone row fills every slot
 * and keeps slot 0. `a` is the tq1_args' first member.
 */
X86_INLINE void span_tq1_0(const tg_ternary_args *a, const uint8_t *const *rows, int R, int64_t g0, int64_t g1,
                           int32_t *out, uint32_t *mixed) {
    const int8_t *xe = ((const tq1_args *)a)->xe;
    _Alignas(64) int8_t local[TQ1_XBLOCK];
    tq1_acc pair[2], quad;
    pair[0].three = pair[0].one = pair[1].three = pair[1].one = quad.three = quad.one = _mm512_setzero_si512();
    const uint8_t *slot[X86_MAX_ROWS];
    uint16_t first[X86_MAX_ROWS];
    for (int i = 0; i < X86_MAX_ROWS; i++) slot[i] = rows[i < R ? i : 0];
    for (int i = 0; i < R; i++) out[i] = 0, mixed[i] = 0, first[i] = tg_block_d_bits(TG_TQ1_0, rows[i], g0 / 2);
    for (int64_t c0 = g0 / 2; c0 < g1 / 2; c0 += TQ1_DRAIN_BLOCKS) {
        const int64_t c1 = c0 + TQ1_DRAIN_BLOCKS < g1 / 2 ? c0 + TQ1_DRAIN_BLOCKS : g1 / 2;
        for (int64_t b = c0; b < c1; b++) {
            for (int i = 0; i < R; i++) mixed[i] |= (uint32_t)(tg_block_d_bits(TG_TQ1_0, rows[i], b) ^ first[i]);
            if (!xe) tq1_0_expand(a->xq + b * TG_QK_K, local);
            tq1_0_block(pair, &quad, slot, xe ? xe + b * TQ1_XBLOCK : local, b);
        }
        tq1_0_drain(pair, &quad, R, out);
    }
}

/* Each format's GEMV is its own function, so that one's register allocation cannot disturb
 * another's hot loop (measured: inlined together, the 2-bit loop once kept its activation pointer
 * on the stack and ran 10% slower). */
__attribute__((noinline)) static void gemv_i2_s(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    x86_gemv(a, row0, row1, span_i2_s, 1);
}

__attribute__((noinline)) static void gemv_tq2_0(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    x86_gemv(a, row0, row1, span_tq2_0, 1);
}

__attribute__((noinline)) static void gemv_tq1_0(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    const int64_t blocks = a->k / TG_QK_K, bytes = blocks * TQ1_XBLOCK;
    _Alignas(64) int8_t stack[TQ1_XSTACK];
    /* past the stack buffer, the heap; if even that fails, the span expands block by block */
    int8_t *xe = bytes <= TQ1_XSTACK ? stack : aligned_alloc(64, (size_t)bytes);
    if (xe)
        for (int64_t b = 0; b < blocks; b++) tq1_0_expand(a->xq + b * TG_QK_K, xe + b * TQ1_XBLOCK);
    const tq1_args t = {*a, xe};
    x86_gemv(&t.a, row0, row1, span_tq1_0, 0);
    if (xe != stack) free(xe);
}

static void gemv_ternary(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    if (a->type == TG_TQ1_0) gemv_tq1_0(a, row0, row1);
    else if (a->type == TG_TQ2_0) gemv_tq2_0(a, row0, row1);
    else gemv_i2_s(a, row0, row1);
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

/* head_avx512.c: Q8_0 weights x Q8_0 activations */
void tg_avx512_gemv_q8_0(const tg_q8_0_args *a, int64_t row0, int64_t row1);
void tg_avx512_gemv_q8_0_multi(const tg_q8_0_args *a, int64_t m, int64_t row0, int64_t row1);

static int gemv_float(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                      int64_t row1, float *y) {
    return tg_avx512_gemv_float(type, data, row_bytes, k, x, row0, row1, y) ||
           x86_gemv_float(type, data, row_bytes, k, x, row0, row1, y);
}

/* isa_avx512_multi.c: the small-M 2-bit GEMV (batched decode) */
void tg_avx512_gemv_ternary_multi(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all);
/* head_multi_avx512.c: the F16 / Q8_0 head at small M */
int tg_avx512_gemv_float_multi(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t m,
                               int64_t row0, int64_t row1, float *y, int64_t y_stride);

/* attention_avx512.c: one attention task */
void tg_avx512_attend_group(const tg_attend_group_args *g);

const tg_isa_ops tg_isa_avx512 = {
    .name = "avx512",
    .gemv_ternary = gemv_ternary,
    .unpack_ternary_row = x86_unpack_ternary_row,
    .dot_tile_u8s8 = dot_tile_u8s8,
    .gemv_ternary_multi = tg_avx512_gemv_ternary_multi,
    .panel_dot_u8s8 = panel_dot_u8s8,
    .panel_pack = panel_pack,
    .quantize_row_i8 = quantize_row_i8,
    .dequant_row = x86_dequant_row,
    .dot_f32 = dot_f32,
    .gemv_float = gemv_float,
    .gemv_q8_0 = tg_avx512_gemv_q8_0,
    .gemv_q8_0_multi = tg_avx512_gemv_q8_0_multi,
    .gemv_float_multi = tg_avx512_gemv_float_multi,
    .read_sum = read_sum,
    .attend_group = tg_avx512_attend_group,
    .fp32_to_fp16_row = x86_fp32_to_fp16_row,
};
