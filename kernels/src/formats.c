/*
 * Weight formats: facts, fp16 conversion, and the plain-C reference quantizers and
 * dequantizers. These define the formats; the SIMD files only read them faster.
 */
#include <math.h>
#include <string.h>

#include <pthread.h>

#include "tg.h"

static const tg_format formats[] = {
    {TG_F32, "F32", 1, 4, 0},
    {TG_F16, "F16", 1, 2, 0},
    {TG_Q8_0, "Q8_0", TG_QK8_0, sizeof(tg_block_q8_0), 0},
    {TG_Q6_K, "Q6_K", TG_QK6_K, sizeof(tg_block_q6_k), 0},
    {TG_TQ1_0, "TQ1_0", TG_QK_K, sizeof(tg_block_tq1_0), 1},
    {TG_TQ2_0, "TQ2_0", TG_QK_K, sizeof(tg_block_tq2_0), 1},
    {TG_I2_S, "I2_S", TG_QK_I2S, sizeof(tg_block_i2_s), 1},
};

const tg_format *tg_format_of(int type) {
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if ((int)formats[i].type == type) return &formats[i];
    return NULL;
}

int64_t tg_row_bytes(int type, int64_t k) {
    const tg_format *f = tg_format_of(type);
    if (!f || k <= 0 || k % f->block != 0) return -1;
    return k / f->block * f->block_bytes;
}

int64_t tg_tensor_bytes(int type, int64_t n, int64_t k) {
    int64_t row = tg_row_bytes(type, k);
    if (row < 0 || n <= 0) return -1;
    return n * row + (type == TG_I2_S ? 32 : 0);
}

/* ---- fp16 <-> fp32, exact and round-to-nearest-even like the F16C instructions ---- */

float tg_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: renormalize */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float fp16_table[65536];
static pthread_once_t fp16_table_once = PTHREAD_ONCE_INIT;
static void fill_fp16_table(void) {
    for (uint32_t h = 0; h < 65536; h++) fp16_table[h] = tg_fp16_to_fp32((uint16_t)h);
}
const float *tg_fp16_table(void) {
    pthread_once(&fp16_table_once, fill_fp16_table);
    return fp16_table;
}

uint16_t tg_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0);
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: overflow */
    if (ax < 0x38800000u) {                      /* below the smallest normal half */
        if (ax < 0x33000000u) return sign;       /* under half the smallest subnormal */
        uint32_t man = (ax & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(ax >> 23); /* 14 .. 24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = ((ax >> 13) - (112u << 10));
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

/* ---- reference quantizers ---- */

static float block_amax(const float *x, int64_t count) {
    float amax = 0.0f;
    for (int64_t j = 0; j < count; j++) amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

/* -1, 0, +1 -> code 0, 1, 2 (ggml rounds half away from zero) */
static int ternary_code(float v) { return (int)lroundf(v) + 1; }

static void quantize_tq2_0_row(const float *x, int64_t k, tg_block_tq2_0 *y) {
    for (int64_t b = 0; b < k / TG_QK_K; b++, x += TG_QK_K) {
        float d = block_amax(x, TG_QK_K);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tg_fp32_to_fp16(d);
        for (int half = 0; half < 2; half++) {
            const float *xh = x + half * 128;
            for (int m = 0; m < 32; m++) {
                uint8_t q = 0;
                for (int n = 0; n < 4; n++) q |= (uint8_t)((ternary_code(xh[32 * n + m] * id) & 3) << (2 * n));
                y[b].qs[32 * half + m] = q;
            }
        }
    }
}

/* A group of trits t0..t(n-1), t0 most significant, stored so that trit i can be recovered by
 * multiplying: byte = ceil(v * 256 / 243). */
static uint8_t pack_trits(const float *x, int count, int stride, float id, int pad) {
    unsigned v = 0;
    for (int i = 0; i < count; i++) v = v * 3 + (unsigned)ternary_code(x[i * stride] * id);
    for (int i = 0; i < pad; i++) v *= 3;
    return (uint8_t)((v * 256 + 242) / 243);
}

static void quantize_tq1_0_row(const float *x, int64_t k, tg_block_tq1_0 *y) {
    for (int64_t b = 0; b < k / TG_QK_K; b++, x += TG_QK_K) {
        float d = block_amax(x, TG_QK_K);
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tg_fp32_to_fp16(d);
        for (int m = 0; m < 32; m++) y[b].qs[m] = pack_trits(x + m, 5, 32, id, 0);
        for (int m = 0; m < 16; m++) y[b].qs[32 + m] = pack_trits(x + 160 + m, 5, 16, id, 0);
        for (int m = 0; m < 4; m++) y[b].qh[m] = pack_trits(x + 240 + m, 4, 4, id, 1);
    }
}

static void quantize_q8_0_row(const float *x, int64_t k, tg_block_q8_0 *y) {
    for (int64_t b = 0; b < k / TG_QK8_0; b++, x += TG_QK8_0) {
        float d = block_amax(x, TG_QK8_0) / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = tg_fp32_to_fp16(d);
        for (int j = 0; j < TG_QK8_0; j++) y[b].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* I2_S: one scale for the whole tensor (its absmax, as bitnet.cpp stores it); on ternary-valued
 * input (alpha * {-1,0,1}) the codes are exactly the trits. */
static void quantize_i2_s(const float *x, int64_t count, uint8_t *out) {
    float scale = block_amax(x, count);
    float id = scale != 0.0f ? 1.0f / scale : 0.0f;
    tg_block_i2_s *blocks = (tg_block_i2_s *)out;
    memset(out, 0, (size_t)(count / 4 + 32));
    for (int64_t i = 0; i < count; i++) {
        int64_t j = i % TG_QK_I2S;
        int code = ternary_code(x[i] * id);
        blocks[i / TG_QK_I2S].qs[j % 32] |= (uint8_t)(code << (6 - 2 * (j / 32)));
    }
    memcpy(out + count / 4, &scale, 4);
}

void tg_quantize(int type, const float *x, int64_t n, int64_t k, uint8_t *out) {
    int64_t row = tg_row_bytes(type, k);
    if (type == TG_I2_S) {
        quantize_i2_s(x, n * k, out);
        return;
    }
    for (int64_t r = 0; r < n; r++, x += k, out += row) {
        switch (type) {
        case TG_F32: memcpy(out, x, (size_t)k * 4); break;
        case TG_F16:
            for (int64_t j = 0; j < k; j++) {
                uint16_t h = tg_fp32_to_fp16(x[j]);
                memcpy(out + 2 * j, &h, 2);
            }
            break;
        case TG_Q8_0: quantize_q8_0_row(x, k, (tg_block_q8_0 *)out); break;
        case TG_TQ1_0: quantize_tq1_0_row(x, k, (tg_block_tq1_0 *)out); break;
        case TG_TQ2_0: quantize_tq2_0_row(x, k, (tg_block_tq2_0 *)out); break;
        default: break;
        }
    }
}

float tg_ternarize_absmean(const float *x, int64_t count, float *out) {
    double sum = 0.0;
    for (int64_t i = 0; i < count; i++) sum += fabs((double)x[i]);
    float alpha = count > 0 ? (float)(sum / (double)count) : 0.0f;
    float ia = alpha != 0.0f ? 1.0f / alpha : 0.0f;
    for (int64_t i = 0; i < count; i++) {
        float t = rintf(x[i] * ia);
        t = t > 1.0f ? 1.0f : t < -1.0f ? -1.0f : t;
        out[i] = alpha * t;
    }
    return alpha;
}

void tg_dequantize_rows(const tg_isa_ops *isa, int type, const uint8_t *data, int64_t n, int64_t k, int64_t row0,
                        int64_t row1, float *out) {
    int64_t row = tg_row_bytes(type, k);
    float scale = 0.0f;
    if (type == TG_I2_S) memcpy(&scale, data + n * row, 4);
    for (int64_t r = row0; r < row1; r++, out += k)
        isa->dequant_row(type, data + r * row, k, scale, out);
}
