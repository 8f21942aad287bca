/*
 * The scalar reference path. Plain C, no -m flags: it defines what every SIMD path must
 * compute, and it runs anywhere.
 */
#include <math.h>
#include <string.h>

#include "tg.h"

/* Codes of TQ2_0 block b: weight 128h + 32n + m sits in qs[32h + m] at bits 2n. */
static void unpack_tq2_0_block(const tg_block_tq2_0 *blk, uint8_t *codes) {
    for (int h = 0; h < 2; h++)
        for (int n = 0; n < 4; n++)
            for (int m = 0; m < 32; m++) codes[128 * h + 32 * n + m] = (blk->qs[32 * h + m] >> (2 * n)) & 3;
}

/* Trit i of a packed byte: ((uint8)(b * 3^i) * 3) >> 8. */
static uint8_t trit(uint8_t b, int i) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    uint8_t v = (uint8_t)(b * pow3[i]);
    return (uint8_t)(((uint16_t)v * 3) >> 8);
}

static void unpack_tq1_0_block(const tg_block_tq1_0 *blk, uint8_t *codes) {
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 32; m++) codes[32 * n + m] = trit(blk->qs[m], n);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 16; m++) codes[160 + 16 * n + m] = trit(blk->qs[32 + m], n);
    for (int n = 0; n < 4; n++)
        for (int m = 0; m < 4; m++) codes[240 + 4 * n + m] = trit(blk->qh[m], n);
}

/* I2_S block of 128: weight j sits in qs[j % 32] at bits 6 - 2 (j / 32). */
static void unpack_i2_s_block(const tg_block_i2_s *blk, uint8_t *codes) {
    for (int j = 0; j < TG_QK_I2S; j++) codes[j] = (blk->qs[j % 32] >> (6 - 2 * (j / 32))) & 3;
}

static void unpack_ternary_row(int type, const uint8_t *row, int64_t k, uint8_t *codes) {
    if (type == TG_TQ2_0) {
        for (int64_t b = 0; b < k / TG_QK_K; b++)
            unpack_tq2_0_block((const tg_block_tq2_0 *)row + b, codes + b * TG_QK_K);
    } else if (type == TG_TQ1_0) {
        for (int64_t b = 0; b < k / TG_QK_K; b++)
            unpack_tq1_0_block((const tg_block_tq1_0 *)row + b, codes + b * TG_QK_K);
    } else {
        for (int64_t b = 0; b < k / TG_QK_I2S; b++)
            unpack_i2_s_block((const tg_block_i2_s *)row + b, codes + b * TG_QK_I2S);
    }
}

static int32_t dot_codes(const uint8_t *c, const int8_t *q, int64_t count) {
    int32_t s = 0;
    for (int64_t j = 0; j < count; j++) s += (int32_t)c[j] * q[j];
    return s;
}

static int32_t group_sum(const int32_t *xsum, int64_t k0, int64_t k1) {
    int32_t s = 0;
    for (int64_t g = k0 / TG_GROUP; g < k1 / TG_GROUP; g++) s += xsum[g];
    return s;
}

static float ternary_row(const tg_ternary_args *a, int64_t r, const int8_t *xq, const int32_t *xsum,
                         float xscale) {
    const uint8_t *row = a->data + r * a->row_bytes;
    uint8_t codes[TG_QK_K];
    if (a->type == TG_I2_S) {
        int32_t isum = -group_sum(xsum, 0, a->k);
        for (int64_t b = 0; b < a->k / TG_QK_I2S; b++) {
            unpack_i2_s_block((const tg_block_i2_s *)row + b, codes);
            isum += dot_codes(codes, xq + b * TG_QK_I2S, TG_QK_I2S);
        }
        return tg_acc_segment(0.0f, a->tensor_scale, isum) * xscale;
    }
    float acc = 0.0f;
    int32_t isum = 0;
    uint16_t seg_d = tg_block_d_bits(a->type, row, 0);
    for (int64_t b = 0; b < a->k / TG_QK_K; b++) {
        uint16_t d = tg_block_d_bits(a->type, row, b);
        if (d != seg_d) {
            acc = tg_acc_segment(acc, tg_fp16_to_fp32(seg_d), isum);
            isum = 0;
            seg_d = d;
        }
        if (a->type == TG_TQ2_0) unpack_tq2_0_block((const tg_block_tq2_0 *)row + b, codes);
        else unpack_tq1_0_block((const tg_block_tq1_0 *)row + b, codes);
        isum += dot_codes(codes, xq + b * TG_QK_K, TG_QK_K) - group_sum(xsum, b * TG_QK_K, (b + 1) * TG_QK_K);
    }
    acc = tg_acc_segment(acc, tg_fp16_to_fp32(seg_d), isum);
    return acc * xscale;
}

static void gemv_ternary(const tg_ternary_args *a, int64_t row0, int64_t row1) {
    for (int64_t r = row0; r < row1; r++) a->y[r] = ternary_row(a, r, a->xq, a->xsum, a->xscale[0]);
}

/* The small-M reference: each block unpacked once and dotted with every activation row; single-
 * scale rows only (see tg_isa_ops), so one fold per row and activation. */
static void gemv_ternary_multi(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all) {
    const int64_t block = a->type == TG_I2_S ? TG_QK_I2S : TG_QK_K, blocks = a->k / block;
    uint8_t codes[TG_QK_K];
    for (int64_t r = row0; r < row1; r++) {
        const uint8_t *row = a->data + r * a->row_bytes;
        for (int64_t j0 = 0; j0 < a->m; j0 += 16) {
            const int64_t mt = a->m - j0 < 16 ? a->m - j0 : 16;
            int32_t isum[16] = {0};
            for (int64_t b = 0; b < blocks; b++) {
                if (a->type == TG_I2_S) unpack_i2_s_block((const tg_block_i2_s *)row + b, codes);
                else unpack_tq2_0_block((const tg_block_tq2_0 *)row + b, codes);
                for (int64_t j = 0; j < mt; j++) isum[j] += dot_codes(codes, a->xq + (j0 + j) * a->k + b * block, block);
            }
            const float d = a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, row, 0));
            for (int64_t j = 0; j < mt; j++)
                a->y[(j0 + j) * a->n + r] = tg_acc_segment(0.0f, d, isum[j] - xsum_all[j0 + j]) * a->xscale[j0 + j];
        }
    }
}

static void dot_tile_u8s8(const uint8_t *codes, int64_t cstride, int nt, const int8_t *x, int64_t xstride,
                          int mt, int64_t k0, int64_t k1, int32_t *out) {
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < mt; j++)
            out[i * mt + j] = dot_codes(codes + i * cstride + k0, x + j * xstride + k0, k1 - k0);
}

static void quantize_row_i8(const float *x, int64_t k, int8_t *q, float *xscale) {
    float amax = 0.0f;
    for (int64_t j = 0; j < k; j++) amax = fmaxf(amax, fabsf(x[j]));
    if (amax == 0.0f) {
        memset(q, 0, (size_t)k);
        *xscale = 0.0f;
        return;
    }
    float iscale = 127.0f / amax;
    for (int64_t j = 0; j < k; j++) {
        long v = lrintf(x[j] * iscale);
        q[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    *xscale = amax / 127.0f;
}

/* Q6_K block b as ggml defines it (see tg_block_q6_k): d * scale, then times (q - 32). */
static void dequant_q6_k_block(const tg_block_q6_k *blk, float *out) {
    const float d = tg_fp16_to_fp32(blk->d);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                const uint8_t low = blk->ql[64 * h + l + 32 * (j & 1)];
                const int q = ((j < 2 ? low & 0xF : low >> 4) | (((blk->qh[32 * h + l] >> (2 * j)) & 3) << 4)) - 32;
                out[128 * h + 32 * j + l] = d * (float)blk->scales[8 * h + 2 * j + l / 16] * (float)q;
            }
}

static void dequant_row(int type, const uint8_t *row, int64_t k, float tensor_scale, float *out) {
    uint8_t codes[TG_QK_K];
    switch (type) {
    case TG_F32: memcpy(out, row, (size_t)k * 4); break;
    case TG_F16:
        for (int64_t j = 0; j < k; j++) out[j] = tg_fp16_to_fp32((uint16_t)(row[2 * j] | (row[2 * j + 1] << 8)));
        break;
    case TG_Q8_0:
        for (int64_t b = 0; b < k / TG_QK8_0; b++) {
            const tg_block_q8_0 *blk = (const tg_block_q8_0 *)row + b;
            float d = tg_fp16_to_fp32(blk->d);
            for (int j = 0; j < TG_QK8_0; j++) out[b * TG_QK8_0 + j] = d * (float)blk->qs[j];
        }
        break;
    case TG_Q6_K:
        for (int64_t b = 0; b < k / TG_QK6_K; b++) dequant_q6_k_block((const tg_block_q6_k *)row + b, out + b * TG_QK6_K);
        break;
    case TG_TQ2_0:
    case TG_TQ1_0:
        for (int64_t b = 0; b < k / TG_QK_K; b++) {
            float d = tg_fp16_to_fp32(tg_block_d_bits(type, row, b));
            if (type == TG_TQ2_0) unpack_tq2_0_block((const tg_block_tq2_0 *)row + b, codes);
            else unpack_tq1_0_block((const tg_block_tq1_0 *)row + b, codes);
            for (int j = 0; j < TG_QK_K; j++) out[b * TG_QK_K + j] = (float)(codes[j] - 1) * d;
        }
        break;
    case TG_I2_S:
        for (int64_t b = 0; b < k / TG_QK_I2S; b++) {
            unpack_i2_s_block((const tg_block_i2_s *)row + b, codes);
            for (int j = 0; j < TG_QK_I2S; j++) out[b * TG_QK_I2S + j] = (float)(codes[j] - 1) * tensor_scale;
        }
        break;
    default: break;
    }
}

static float dot_f32(const float *a, const float *b, int64_t k) {
    double s = 0.0;
    for (int64_t j = 0; j < k; j++) s += (double)a[j] * (double)b[j];
    return (float)s;
}

/* The reference: each block's integer sum, then the float terms in block order. */
static void gemv_q8_0(const tg_q8_0_args *a, int64_t row0, int64_t row1) {
    for (int64_t r = row0; r < row1; r++) {
        const tg_block_q8_0 *row = (const tg_block_q8_0 *)(a->data + r * a->row_bytes);
        float acc = 0.0f;
        for (int64_t b = 0; b < a->k / TG_QK8_0; b++) {
            int32_t isum = 0;
            for (int j = 0; j < TG_QK8_0; j++) isum += (int32_t)row[b].qs[j] * a->xq[b * TG_QK8_0 + j];
            const float part = (float)isum * a->xd[b];
            acc += part * tg_fp16_to_fp32(row[b].d);
        }
        a->y[r] = acc;
    }
}

static double read_sum(const float *p, int64_t count) {
    double s = 0.0;
    for (int64_t j = 0; j < count; j++) s += p[j];
    return s;
}

const tg_isa_ops tg_isa_scalar = {
    .name = "scalar",
    .gemv_ternary = gemv_ternary,
    .unpack_ternary_row = unpack_ternary_row,
    .dot_tile_u8s8 = dot_tile_u8s8,
    .gemv_ternary_multi = gemv_ternary_multi,
    .quantize_row_i8 = quantize_row_i8,
    .dequant_row = dequant_row,
    .dot_f32 = dot_f32,
    .gemv_q8_0 = gemv_q8_0,
    .read_sum = read_sum,
    .attend_group = tg_attend_group_ref,
};
