/*
 * A decode step's matmuls without node or JS, weights resident in DRAM: on the 2B-4T shape, 30
 * layers of q/k/v (one shared job), o, gate/up (one shared job) and down at M = 1 as the forward
 * pass calls them (~537 MB a token, far past any L3), then the output head (Q8_0 with Q8_0
 * activations, 349 MB, or the tied F16 head, 656 MB). After each pass the pool reads the same bytes
 * with a plain summing loop (the read roof at that moment), so "ofRoof" (read time / matmul time,
 * median over tokens) holds on a loaded host where milliseconds do not. Also printed: the pool's
 * bare cost per job (16 empty tasks) and the ternary GEMV's speed on a 420 KB weight in L2.
 *
 *   R=$PWD; S=$R/kernels/src; cd "$(mktemp -d)"; F="-O3 -std=gnu11 -ffp-contract=off -fno-strict-aliasing"
 *   gcc $F -c -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c $S/isa_avx512*.c $S/head_*avx512.c $S/attention_avx512.c
 *   gcc $F -c -mavx2 -mfma -mf16c $S/isa_avx2*.c $S/head_multi_avx2.c $S/attention_avx2.c
 *   gcc $F -I$S $R/bench/decode-stream.c $S/{attention,cpu,floatops,formats,isa_scalar,matmul,pool,small_m}.c *.o \
 *       -lpthread -lm -o /tmp/decode-stream
 *   [TRITGATE_ISA=avx2] /tmp/decode-stream [threads=2] [tokens=20] [q8_0|f16 head] [tq2_0|i2_s layers]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tg.h"

#define LAYERS 30
#define EMBED 2560
#define KV 640
#define FFN 6912
#define VOCAB 128256

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* random codes 0..2 (2-bit fields never 3) and one scale for the whole tensor, as real files have:
 * TQ2_0 (fp16 1/16 in every block) or I2_S (a float 1/16 after the codes) */
static int ternary_type = TG_TQ2_0;
static uint8_t random_codes(void) {
    uint8_t v = 0;
    for (int f = 0; f < 4; f++) v |= (uint8_t)((next_random() % 3) << (2 * f));
    return v;
}
static tg_weight ternary(int64_t n, int64_t k) {
    const int64_t bytes = tg_tensor_bytes(ternary_type, n, k);
    uint8_t *data = aligned_alloc(64, (size_t)(bytes + 63) & ~(size_t)63);
    if (ternary_type == TG_I2_S) {
        const int64_t codes = n * tg_row_bytes(TG_I2_S, k);
        for (int64_t i = 0; i < codes; i++) data[i] = random_codes();
        const float scale = 1.0f / 16;
        memcpy(data + codes, &scale, sizeof(scale));
    } else {
        tg_block_tq2_0 *b = (tg_block_tq2_0 *)data;
        for (int64_t i = 0; i < bytes / (int64_t)sizeof(*b); i++) {
            for (int j = 0; j < 64; j++) b[i].qs[j] = random_codes();
            b[i].d = 0x2c00; /* fp16 1/16 */
        }
    }
    return (tg_weight){ternary_type, data, n, k, bytes};
}

/* the Q8_0 output head: random int8 codes, scale 1/64 */
static tg_weight q8_0(int64_t n, int64_t k) {
    const int64_t bytes = tg_tensor_bytes(TG_Q8_0, n, k);
    tg_block_q8_0 *b = aligned_alloc(64, (size_t)(bytes + 63) & ~(size_t)63);
    for (int64_t i = 0; i < bytes / (int64_t)sizeof(*b); i++) {
        for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)(next_random() % 255 - 127);
        b[i].d = 0x2400;
    }
    return (tg_weight){TG_Q8_0, (const uint8_t *)b, n, k, bytes};
}

/* the tied F16 head: random halves in [-1, 1) */
static tg_weight f16(int64_t n, int64_t k) {
    const int64_t bytes = tg_tensor_bytes(TG_F16, n, k);
    uint16_t *h = aligned_alloc(64, (size_t)(bytes + 63) & ~(size_t)63);
    for (int64_t i = 0; i < n * k; i++) h[i] = (uint16_t)(0x3800 + next_random() % 0x400) | (uint16_t)((next_random() & 1) << 15);
    return (tg_weight){TG_F16, (const uint8_t *)h, n, k, bytes};
}

static void empty_task(void *ctx, int64_t task, int thread) { (void)ctx, (void)task, (void)thread; }

/* the roof at this moment: a plain read of the same weight bytes, 1 MiB a task over both threads */
typedef struct {
    const tg_isa_ops *isa;
    const tg_weight *w;
    int count;
    double sink[256];
} read_job;

#define READ_CHUNK (1 << 18) /* floats */
static void read_task(void *ctx, int64_t task, int thread) {
    read_job *job = ctx;
    int64_t at = task * READ_CHUNK * 4;
    for (int i = 0; i < job->count; i++) {
        const int64_t bytes = job->w[i].nbytes / 256 * 256;
        if (at < bytes) {
            int64_t len = bytes - at < READ_CHUNK * 4 ? bytes - at : READ_CHUNK * 4;
            job->sink[thread] += job->isa->read_sum((const float *)(job->w[i].data + at), len / 4);
            return;
        }
        at -= (bytes + READ_CHUNK * 4 - 1) / (READ_CHUNK * 4) * (READ_CHUNK * 4);
    }
}

static int64_t read_tasks(const tg_weight *w, int count) {
    int64_t n = 0;
    for (int i = 0; i < count; i++) n += (w[i].nbytes / 256 * 256 + READ_CHUNK * 4 - 1) / (READ_CHUNK * 4);
    return n;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2, tokens = argc > 2 ? atoi(argv[2]) : 20;
    const int f16_head = argc > 3 && strcmp(argv[3], "f16") == 0;
    if (argc > 4 && strcmp(argv[4], "i2_s") == 0) ternary_type = TG_I2_S;
    tg_pool_set_threads(threads);
    const char *isa_name = getenv("TRITGATE_ISA");
    const tg_isa_ops *isa = isa_name && *isa_name ? tg_isa_by_name(isa_name) : tg_isa_best();
    if (!isa) return fprintf(stderr, "no such path here: %s\n", isa_name), 1;
    static tg_weight w[LAYERS + 1][7]; /* the last row holds the head alone */
    double bytes = 0;
    for (int l = 0; l < LAYERS; l++) {
        w[l][0] = ternary(EMBED, EMBED), w[l][1] = ternary(KV, EMBED), w[l][2] = ternary(KV, EMBED);
        w[l][3] = ternary(EMBED, EMBED);
        w[l][4] = ternary(FFN, EMBED), w[l][5] = ternary(FFN, EMBED);
        w[l][6] = ternary(EMBED, FFN);
        for (int i = 0; i < 7; i++) bytes += (double)w[l][i].nbytes;
    }
    w[LAYERS][0] = f16_head ? f16(VOCAB, EMBED) : q8_0(VOCAB, EMBED);
    const double head_bytes = (double)w[LAYERS][0].nbytes;
    float *x = malloc(sizeof(float) * FFN), *y[3];
    for (int i = 0; i < 3; i++) y[i] = malloc(sizeof(float) * VOCAB);
    for (int i = 0; i < FFN; i++) x[i] = (float)((int)(next_random() % 2001) - 1000) / 1000.0f;

    /* the pool's own cost: a job of 16 empty tasks (a GEMV's task count at 2 threads) */
    double job_us = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ms();
        for (int i = 0; i < 10000; i++) tg_pool_run(16, empty_task, NULL);
        double us = (now_ms() - t0) * 1e3 / 10000;
        if (us < job_us) job_us = us;
    }

    /* compute alone: one 640 x 2560 weight (420 KB) again and again, resident in L2 */
    double l2_ms = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ms();
        for (int i = 0; i < 500; i++) tg_matmul(isa, &w[0][1], x, 1, TG_ACT_INT8, y[0]);
        double ms = (now_ms() - t0) / 500;
        if (ms < l2_ms) l2_ms = ms;
    }
    const double l2_gbs = (double)w[0][1].nbytes / l2_ms / 1e6;

    const char *names[4] = {"q,k,v", "o", "gate,up", "down"};
    read_job rj = {isa, &w[0][0], LAYERS * 7, {0}}, rh = {isa, &w[LAYERS][0], 1, {0}};
    const int64_t rtasks = read_tasks(&w[0][0], LAYERS * 7), htasks = read_tasks(&w[LAYERS][0], 1);
    double step_ms[4] = {0}, *tok = malloc(sizeof(double) * tokens), *ratio = malloc(sizeof(double) * tokens);
    double *head = malloc(sizeof(double) * tokens), *hratio = malloc(sizeof(double) * tokens);
    for (int t = 0; t < tokens + 1; t++) {
        double token_step[4] = {0}, t0 = now_ms();
        for (int l = 0; l < LAYERS; l++) {
            double a = now_ms();
            tg_matmul_shared(isa, &w[l][0], 3, x, 1, TG_ACT_INT8, y);
            double b = now_ms();
            tg_matmul(isa, &w[l][3], x, 1, TG_ACT_INT8, y[0]);
            double c = now_ms();
            tg_matmul_shared(isa, &w[l][4], 2, x, 1, TG_ACT_INT8, y);
            double d = now_ms();
            tg_matmul(isa, &w[l][6], x, 1, TG_ACT_INT8, y[0]);
            double e = now_ms();
            token_step[0] += b - a, token_step[1] += c - b, token_step[2] += d - c, token_step[3] += e - d;
        }
        double ms = now_ms() - t0, h0 = now_ms();
        tg_matmul(isa, &w[LAYERS][0], x, 1, f16_head ? TG_ACT_FLOAT : TG_ACT_Q8_0, y[0]);
        double hms = now_ms() - h0, r0 = now_ms();
        tg_pool_run(rtasks, read_task, &rj);
        double rms = now_ms() - r0, r1 = now_ms();
        tg_pool_run(htasks, read_task, &rh);
        double rhms = now_ms() - r1;
        if (t == 0) continue; /* first pass faults pages in and warms the pool */
        tok[t - 1] = ms, ratio[t - 1] = rms / ms, head[t - 1] = hms, hratio[t - 1] = rhms / hms;
        for (int i = 0; i < 4; i++) step_ms[i] += token_step[i];
    }
    qsort(tok, tokens, sizeof(double), cmp_double), qsort(ratio, tokens, sizeof(double), cmp_double);
    qsort(head, tokens, sizeof(double), cmp_double), qsort(hratio, tokens, sizeof(double), cmp_double);
    const double med = tok[tokens / 2], hmed = head[tokens / 2];
    /* ofRoof: the same bytes' plain read time over the matmuls' time, measured back to back, median */
    printf("{\"threads\":%d,\"isa\":\"%s\",\"type\":\"%s\",\"ternaryMB\":%.1f,\"ternaryMs\":%.2f,\"ternaryBestMs\":%.2f,"
           "\"ternaryGBs\":%.2f,\"ternaryOfRoof\":%.3f,\"headMB\":%.1f,\"headMs\":%.2f,\"headGBs\":%.2f,"
           "\"headOfRoof\":%.3f,\"ternaryL2GBs\":%.2f,\"poolJobUs\":%.2f",
           threads, isa->name, ternary_type == TG_I2_S ? "I2_S" : "TQ2_0", bytes / 1e6, med, tok[0], bytes / med / 1e6, ratio[tokens / 2], head_bytes / 1e6, hmed,
           head_bytes / hmed / 1e6, hratio[tokens / 2], l2_gbs, job_us);
    for (int i = 0; i < 4; i++) printf(",\"%s\":%.2f", names[i], step_ms[i] / tokens);
    printf("}\n");
    return 0;
}
