/*
 * Small M (2 .. 16 activation rows: batched decode), ISA-neutral orchestration.
 *
 * A decode step of n sequences is an M = n product whose weights are far larger than any cache.
 * Each task walks its weight rows in chunks small enough to stay in L1/L2 (CHUNK_BYTES),
 * prefetching the next chunk into L2, and per chunk takes the ISA's multi-row kernel when it has
 * one for the case (gemv_ternary_multi: TQ2_0 / I2_S rows of one scale; gemv_float_multi: the
 * F16 / Q8_0 heads), which reads and decodes each packed block once for all M rows. Otherwise it
 * runs the ISA's own M = 1 GEMV once per activation row over the chunk: the bytes still come
 * from memory once. Either way every activation row gets exactly its M = 1 result, bit for bit
 * (the multi-row kernels keep the M = 1 operations per row; the fallback is the M = 1 code), so
 * also the float heads, whose M = 1 sum order differs from the dequantize-and-dot path.
 */
#include <stdlib.h>
#include <string.h>

#include "tg.h"

#define CHUNK_BYTES (24 * 1024) /* packed bytes per sweep: resident in L1/L2 while all M rows pass */
#define MIN_TASK_ROWS 16

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Rows per sweep: a multiple of four (the GEMVs' row group), at least four. */
static int64_t chunk_rows(int64_t row_bytes) {
    int64_t rows = CHUNK_BYTES / (row_bytes > 0 ? row_bytes : 1);
    rows &= ~(int64_t)3;
    return rows < 4 ? 4 : rows;
}

static void prefetch_l2(const uint8_t *p, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 1);
}

/* ---------------- ternary, int8 activations ---------------- */

typedef struct {
    const tg_isa_ops *isa;
    const tg_ternary_args *a;
    const int32_t *xsum_all; /* [m] sum of each activation row's q */
    int64_t rows_per_task[TG_MAX_SHARED], first_task[TG_MAX_SHARED + 1];
    int count;
} ternary_job;

/* Does every row in [r0, r1) carry a single scale? (I2_S always does; TQ1_0 has no multi kernel.) */
static int multi_applies(const tg_isa_ops *isa, const tg_ternary_args *a, int64_t r0, int64_t r1) {
    if (!isa->gemv_ternary_multi || a->type == TG_TQ1_0) return 0;
    if (a->type == TG_I2_S) return 1;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = a->data + r * a->row_bytes;
        const uint16_t d0 = tg_block_d_bits(a->type, row, 0);
        for (int64_t b = 1; b < a->k / TG_QK_K; b++)
            if (tg_block_d_bits(a->type, row, b) != d0) return 0;
    }
    return 1;
}

static void ternary_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const ternary_job *job = ctx;
    int i = 0;
    while (task >= job->first_task[i + 1]) i++;
    const tg_ternary_args *a = &job->a[i];
    const int64_t r0 = (task - job->first_task[i]) * job->rows_per_task[i];
    /* whole 16-row blocks per chunk (the AVX-512 multi-row kernel's widest pass is four quads; a
     * 2B-4T 6912-column row gave 12-row chunks, and M = 4 there ran at 0.88x in narrower passes) */
    const int64_t r1 = min64(a->n, r0 + job->rows_per_task[i]), step = (chunk_rows(a->row_bytes) + 15) & ~(int64_t)15;
    const int64_t groups = a->k / TG_GROUP;
    for (int64_t c0 = r0; c0 < r1; c0 += step) {
        const int64_t c1 = min64(r1, c0 + step);
        if (c1 < r1) prefetch_l2(a->data + c1 * a->row_bytes, (min64(r1, c1 + step) - c1) * a->row_bytes);
        if (multi_applies(job->isa, a, c0, c1)) {
            job->isa->gemv_ternary_multi(a, c0, c1, job->xsum_all);
            continue;
        }
        for (int64_t j = 0; j < a->m; j++) {
            tg_ternary_args one = *a;
            one.xq = a->xq + j * a->k;
            one.xsum = a->xsum + j * groups;
            one.xscale = a->xscale + j;
            one.m = 1;
            one.y = a->y + j * a->n;
            job->isa->gemv_ternary(&one, c0, c1);
        }
    }
}

void tg_small_m_ternary(const tg_isa_ops *isa, const tg_ternary_args *args, int count, const int32_t *xsum_all) {
    ternary_job job = {.isa = isa, .a = args, .xsum_all = xsum_all, .count = count};
    const int64_t threads = tg_pool_threads();
    for (int i = 0; i < count; i++) {
        /* as at M = 1: enough tasks to balance the threads, each a whole number of row groups */
        int64_t rpt = (args[i].n + threads * 8 - 1) / (threads * 8);
        rpt = rpt < MIN_TASK_ROWS ? MIN_TASK_ROWS : (rpt + 15) & ~(int64_t)15;
        job.rows_per_task[i] = rpt;
        job.first_task[i + 1] = job.first_task[i] + (args[i].n + rpt - 1) / rpt;
    }
    tg_pool_run(job.first_task[count], ternary_task, &job);
}

/* ---------------- float activations (F16, Q8_0, Q6_K heads) ---------------- */

typedef struct {
    const tg_isa_ops *isa;
    const tg_weight *w;
    const float *x;
    const float *xs; /* x laid out for gemv_float_multi (step_major), NULL: gemv_float per row */
    int64_t m, row_bytes, rows_per_task;
    float *y;
} float_job;

static void float_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const float_job *job = ctx;
    const tg_weight *w = job->w;
    const int64_t r0 = task * job->rows_per_task, r1 = min64(w->n, r0 + job->rows_per_task);
    const int64_t step = chunk_rows(job->row_bytes);
    for (int64_t c0 = r0; c0 < r1; c0 += step) {
        const int64_t c1 = min64(r1, c0 + step);
        if (c1 < r1) prefetch_l2(w->data + c1 * job->row_bytes, (min64(r1, c1 + step) - c1) * job->row_bytes);
        if (job->xs && job->isa->gemv_float_multi(w->type, w->data, job->row_bytes, w->k, job->xs, job->m, c0, c1, job->y, w->n))
            continue;
        for (int64_t j = 0; j < job->m; j++)
            job->isa->gemv_float(w->type, w->data, job->row_bytes, w->k, job->x + j * w->k, c0, c1, job->y + j * w->n);
    }
}

/*
 * The activations as gemv_float_multi takes them (tg.h): in steps of 32 columns, each step holding
 * every row's 32 values in turn, then the k % 32 tail columns row after row. One aligned copy of
 * m x k floats per call (8 KiB for nano's batch of 8 against its 2 MiB head), so the kernel reads
 * all rows' activations through one pointer at fixed, aligned offsets.
 */
static float *step_major(const float *x, int64_t m, int64_t k) {
    float *xs = aligned_alloc(64, (size_t)((m * k * 4 + 63) & ~(int64_t)63));
    if (!xs) return NULL;
    const int64_t steps = k / 32, tail = k - 32 * steps;
    for (int64_t j = 0; j < m; j++) {
        for (int64_t s = 0; s < steps; s++) memcpy(xs + (s * m + j) * 32, x + j * k + 32 * s, 32 * sizeof(float));
        memcpy(xs + steps * 32 * m + j * tail, x + j * k + 32 * steps, (size_t)tail * sizeof(float));
    }
    return xs;
}

int tg_small_m_float(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m, float *y) {
    if (!isa->gemv_float) return 0;
    /* ask with an empty row range whether the ISA's GEMV handles this type */
    if (!isa->gemv_float(w->type, w->data, tg_row_bytes(w->type, w->k), w->k, x, 0, 0, y)) return 0;
    /* without the copy (out of memory) the M = 1 GEMV per row: slower, the same bits */
    float *xs = isa->gemv_float_multi ? step_major(x, m, w->k) : NULL;
    float_job job = {isa, w, x, xs, m, tg_row_bytes(w->type, w->k), 0, y};
    const int64_t threads = tg_pool_threads();
    int64_t rpt = (w->n + threads * 8 - 1) / (threads * 8);
    job.rows_per_task = rpt < 4 ? 4 : (rpt + 3) & ~(int64_t)3;
    tg_pool_run((w->n + job.rows_per_task - 1) / job.rows_per_task, float_task, &job);
    free(xs);
    return 1;
}
