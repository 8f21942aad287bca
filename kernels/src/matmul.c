/*
 * The matmul driver: ISA-neutral orchestration of one product y[M x N] = x[M x K] W[N x K]^T.
 *
 * M = 1 (decode) reads the packed weights once, straight into the ISA's fused GEMV.
 * M = 2..16 (batched decode) goes to small_m.c: multi-row kernels on the packed bytes.
 * Larger M (prefill) unpacks a panel of weight rows into per-thread scratch once and then sweeps
 * every activation row over it, so each unpacked weight byte serves all M rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tg.h"

#define PANEL_ROWS 16 /* weight rows unpacked per GEMM task */
#define TILE 4        /* rows of the dot_tile micro-kernel, both ways */
#define SMALL_M_MAX 16 /* up to here small_m.c (bench/small-m.ts: cheaper per row than the panel at 2..16) */
#define PANEL_MIN_M 8 /* batches from which the interleaved panel pays (measured: par at 8, +14% at 16, +28% at 64) */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void tg_quantize_activations(const tg_isa_ops *isa, const float *x, int64_t m, int64_t k, int8_t *q,
                             float *xscale) {
    for (int64_t r = 0; r < m; r++) isa->quantize_row_i8(x + r * k, k, q + r * k, xscale + r);
}

/* ---------------- ternary, int8 activations ---------------- */

/* Does a segment of row `row` end before block b (b > 0)? */
static int segment_ends_before(const tg_ternary_args *a, const uint8_t *row, int64_t b) {
    if (a->type == TG_I2_S) return 0;
    return tg_block_d_bits(a->type, row, b) != tg_block_d_bits(a->type, row, b - 1);
}

static float segment_scale(const tg_ternary_args *a, const uint8_t *row, int64_t b) {
    return a->type == TG_I2_S ? a->tensor_scale : tg_fp16_to_fp32(tg_block_d_bits(a->type, row, b));
}

/* One TILE x TILE (or smaller) block of outputs: rows n0.. of the panel, activation rows m0..
 * The k range is cut where any of the tile's weight rows changes scale; each row keeps summing
 * integers across cuts that are not its own, so the float work is exactly the reference's. */
static void gemm_tile(const tg_isa_ops *isa, const tg_ternary_args *a, const uint8_t *codes, int64_t n0,
                      int nt, int64_t m0, int mt) {
    const int64_t k = a->k, block = a->type == TG_I2_S ? k : TG_QK_K, nblocks = k / block;
    const int64_t groups = k / TG_GROUP;
    const uint8_t *rows[TILE];
    for (int i = 0; i < nt; i++) rows[i] = a->data + (n0 + i) * a->row_bytes;

    int32_t isum[TILE][TILE] = {{0}}, part[TILE * TILE];
    float acc[TILE][TILE] = {{0}};
    int64_t cut_start = 0;
    for (int64_t b = 1; b <= nblocks; b++) {
        int ends[TILE] = {0}, any = b == nblocks;
        for (int i = 0; i < nt && b < nblocks; i++) any |= ends[i] = segment_ends_before(a, rows[i], b);
        if (!any) continue;
        int64_t k0 = cut_start * block, k1 = b * block;
        isa->dot_tile_u8s8(codes + (n0 % PANEL_ROWS) * k, k, nt, a->xq + m0 * k, k, mt, k0, k1, part);
        for (int j = 0; j < mt; j++) {
            const int32_t *xs = a->xsum + (m0 + j) * groups;
            int32_t xsum = 0;
            for (int64_t g = k0 / TG_GROUP; g < k1 / TG_GROUP; g++) xsum += xs[g];
            for (int i = 0; i < nt; i++) isum[i][j] += part[i * mt + j] - xsum;
        }
        for (int i = 0; i < nt; i++) {
            if (!(ends[i] || b == nblocks)) continue;
            float d = segment_scale(a, rows[i], b - 1);
            for (int j = 0; j < mt; j++) {
                acc[i][j] = tg_acc_segment(acc[i][j], d, isum[i][j]);
                isum[i][j] = 0;
            }
        }
        cut_start = b;
    }
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < mt; j++) a->y[(m0 + j) * a->n + n0 + i] = acc[i][j] * a->xscale[m0 + j];
}

typedef struct {
    const tg_isa_ops *isa;
    tg_ternary_args a;
    const int32_t *xsum_row; /* [m] sum of each activation row's q */
} gemm_job;

/* Does every row of the panel carry a single scale? (I2_S always does.) */
static int panel_uniform(const tg_ternary_args *a, int64_t p0, int64_t p1) {
    if (a->type == TG_I2_S) return 1;
    for (int64_t r = p0; r < p1; r++) {
        const uint8_t *row = a->data + r * a->row_bytes;
        uint16_t d0 = tg_block_d_bits(a->type, row, 0);
        for (int64_t b = 1; b < a->k / TG_QK_K; b++)
            if (tg_block_d_bits(a->type, row, b) != d0) return 0;
    }
    return 1;
}

/* The panel fast path: codes interleaved four at a time so one zmm holds 16 rows, activations
 * broadcast four bytes at a time; each lane accumulates one weight row, so no horizontal sums.
 * Every row is one segment, so the fold is the reference's single acc_segment. */
static void gemm_panel(const gemm_job *job, const uint8_t *codes, uint8_t *panel, int64_t p0, int64_t p1) {
    const tg_ternary_args *a = &job->a;
    const int64_t k = a->k, rows = p1 - p0;
    static const uint8_t zero_weight[4] = {1, 1, 1, 1}; /* padding rows: code 1 is weight 0 */
    if (job->isa->panel_pack) {
        job->isa->panel_pack(codes, k, (int)rows, k, panel);
    } else {
        for (int64_t kq = 0; kq < k / 4; kq++)
            for (int64_t r = 0; r < PANEL_ROWS; r++)
                memcpy(panel + kq * 64 + r * 4, r < rows ? codes + r * k + kq * 4 : zero_weight, 4);
    }
    float d[PANEL_ROWS];
    for (int64_t r = 0; r < rows; r++) d[r] = segment_scale(a, a->data + (p0 + r) * a->row_bytes, 0);
    int32_t out[TG_PANEL_MT * PANEL_ROWS];
    for (int64_t m0 = 0; m0 < a->m; m0 += TG_PANEL_MT) {
        const int mt = (int)min64(TG_PANEL_MT, a->m - m0);
        job->isa->panel_dot_u8s8(panel, a->xq + m0 * k, k, mt, k, out);
        for (int j = 0; j < mt; j++) {
            const int32_t xs = job->xsum_row[m0 + j];
            for (int64_t r = 0; r < rows; r++)
                a->y[(m0 + j) * a->n + p0 + r] = tg_acc_segment(0.0f, d[r], out[j * PANEL_ROWS + r] - xs) * a->xscale[m0 + j];
        }
    }
}

static void gemm_task(void *ctx, int64_t task, int thread) {
    const gemm_job *job = ctx;
    const tg_ternary_args *a = &job->a;
    int64_t p0 = task * PANEL_ROWS, p1 = min64(a->n, p0 + PANEL_ROWS);
    /* natural-order codes, then (fast path) the interleaved panel, in one 64-byte aligned scratch */
    uint8_t *codes = tg_pool_scratch(thread, (size_t)(2 * PANEL_ROWS * a->k));
    for (int64_t r = p0; r < p1; r++)
        job->isa->unpack_ternary_row(a->type, a->data + r * a->row_bytes, a->k, codes + (r - p0) * a->k);
    /* below PANEL_MIN_M activation rows the interleave costs more than the panel saves */
    if (job->isa->panel_dot_u8s8 && a->m >= PANEL_MIN_M && panel_uniform(a, p0, p1)) {
        gemm_panel(job, codes, codes + PANEL_ROWS * a->k, p0, p1);
        return;
    }
    /* activation tile outer: its TILE rows stay in L1 while the panel's codes stream from L2 */
    for (int64_t m0 = 0; m0 < a->m; m0 += TILE)
        for (int64_t n0 = p0; n0 < p1; n0 += TILE)
            gemm_tile(job->isa, a, codes, n0, (int)min64(TILE, p1 - n0), m0, (int)min64(TILE, a->m - m0));
}

/* M = 1 over several weights that read the same activations (q, k, v; gate, up): one pool job
 * whose tasks run through each weight's rows in turn, so the threads meet once, not per weight,
 * and the next weight's rows stream while the last tasks of the previous one finish. */
typedef struct {
    const tg_isa_ops *isa;
    tg_ternary_args a[TG_MAX_SHARED];
    int64_t rows_per_task[TG_MAX_SHARED], first_task[TG_MAX_SHARED + 1];
    int count;
} gemv_job;

static void gemv_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const gemv_job *job = ctx;
    int i = 0;
    while (task >= job->first_task[i + 1]) i++;
    int64_t r0 = (task - job->first_task[i]) * job->rows_per_task[i];
    job->isa->gemv_ternary(&job->a[i], r0, min64(job->a[i].n, r0 + job->rows_per_task[i]));
}

static const char *matmul_ternary(const tg_isa_ops *isa, const tg_weight *w, int count, const float *x, int64_t m,
                                  float *const *y) {
    const int64_t k = w[0].k, groups = k / TG_GROUP;
    int8_t *xq = aligned_alloc(64, (size_t)((m * k + 63) & ~63));
    float *xscale = malloc(sizeof(float) * (size_t)m);
    int32_t *xsum = malloc(sizeof(int32_t) * (size_t)(m * groups));
    if (!xq || !xscale || !xsum) {
        free(xq), free(xscale), free(xsum);
        return "out of memory";
    }
    tg_quantize_activations(isa, x, m, k, xq, xscale);
    for (int64_t r = 0; r < m; r++)
        for (int64_t g = 0; g < groups; g++) {
            int32_t s = 0;
            const int8_t *q = xq + r * k + g * TG_GROUP;
            for (int j = 0; j < TG_GROUP; j++) s += q[j];
            xsum[r * groups + g] = s;
        }

    tg_ternary_args args[TG_MAX_SHARED];
    for (int i = 0; i < count; i++) {
        args[i] = (tg_ternary_args){
            .type = w[i].type, .data = w[i].data, .n = w[i].n, .k = k, .row_bytes = tg_row_bytes(w[i].type, k),
            .xq = xq, .xsum = xsum, .xscale = xscale, .m = m, .y = y[i],
        };
        if (w[i].type == TG_I2_S) memcpy(&args[i].tensor_scale, w[i].data + w[i].n * args[i].row_bytes, 4);
    }

    if (m == 1) {
        gemv_job job = {.isa = isa, .count = count};
        int64_t threads = tg_pool_threads();
        for (int i = 0; i < count; i++) {
            /* enough tasks to balance the threads, each long enough to amortize dispatch */
            int64_t rpt = (w[i].n + threads * 8 - 1) / (threads * 8);
            rpt = rpt < 16 ? 16 : (rpt + 15) & ~(int64_t)15;
            job.a[i] = args[i];
            job.rows_per_task[i] = rpt;
            job.first_task[i + 1] = job.first_task[i] + (w[i].n + rpt - 1) / rpt;
        }
        tg_pool_run(job.first_task[count], gemv_task, &job);
    } else {
        int32_t *xsum_row = malloc(sizeof(int32_t) * (size_t)m);
        if (!xsum_row) {
            free(xq), free(xscale), free(xsum);
            return "out of memory";
        }
        for (int64_t r = 0; r < m; r++) {
            int32_t s = 0;
            for (int64_t g = 0; g < groups; g++) s += xsum[r * groups + g];
            xsum_row[r] = s;
        }
        /* TQ1_0 has no multi-row kernel: from M = 4 its unpacked tiles and panel win (bench/small-m.ts) */
        int any_tq1 = 0;
        for (int i = 0; i < count; i++) any_tq1 |= w[i].type == TG_TQ1_0;
        if (m <= SMALL_M_MAX && (!any_tq1 || m < 4)) {
            /* batched decode: each packed block read once for all rows, no unpacking (small_m.c) */
            tg_small_m_ternary(isa, args, count, xsum_row);
        } else {
            for (int i = 0; i < count; i++) {
                gemm_job job = {isa, args[i], xsum_row};
                tg_pool_run((w[i].n + PANEL_ROWS - 1) / PANEL_ROWS, gemm_task, &job);
            }
        }
        free(xsum_row);
    }
    free(xq), free(xscale), free(xsum);
    return NULL;
}

/* ---------------- Q8_0 weights, Q8_0 activations ---------------- */

void tg_quantize_row_q8_0(const float *x, int64_t k, int8_t *q, float *d) {
    for (int64_t b = 0; b < k / TG_QK8_0; b++) {
        const float *xb = x + b * TG_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < TG_QK8_0; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float scale = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        d[b] = scale;
        for (int j = 0; j < TG_QK8_0; j++) q[b * TG_QK8_0 + j] = (int8_t)roundf(xb[j] * inv);
    }
}

typedef struct {
    const tg_isa_ops *isa;
    tg_q8_0_args *rows; /* one per activation row */
    int64_t m, n, rows_per_task;
} q8_0_job;

/* Packed bytes per sweep of all M activation rows (as small_m.c): a task of the 2B-4T head is
 * ~20 MB, so one GEMV per activation row over the whole task read it from memory M times. */
#define Q8_0_CHUNK_BYTES (24 * 1024)

static void q8_0_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const q8_0_job *job = ctx;
    const int64_t r0 = task * job->rows_per_task, r1 = min64(job->n, r0 + job->rows_per_task);
    if (job->m == 1) {
        job->isa->gemv_q8_0(&job->rows[0], r0, r1);
        return;
    }
    const int64_t row_bytes = job->rows[0].row_bytes;
    int64_t step = Q8_0_CHUNK_BYTES / row_bytes & ~(int64_t)3;
    if (step < 4) step = 4;
    for (int64_t c0 = r0; c0 < r1; c0 += step) {
        const int64_t c1 = min64(r1, c0 + step);
        if (c1 < r1) /* the next chunk into L2 while this one serves every activation row */
            for (int64_t o = 0; o < (min64(r1, c1 + step) - c1) * row_bytes; o += 64)
                __builtin_prefetch(job->rows[0].data + c1 * row_bytes + o, 0, 1);
        if (job->isa->gemv_q8_0_multi) {
            job->isa->gemv_q8_0_multi(job->rows, job->m, c0, c1);
            continue;
        }
        for (int64_t j = 0; j < job->m; j++) job->isa->gemv_q8_0(&job->rows[j], c0, c1);
    }
}

static const char *matmul_q8_0(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m, float *y) {
    if (w->k % TG_QK8_0) return "Q8_0 activations need a multiple of 32 columns";
    int8_t *xq = malloc((size_t)(m * w->k));
    float *xd = malloc(sizeof(float) * (size_t)(m * (w->k / TG_QK8_0)));
    int32_t *xbias = malloc(sizeof(int32_t) * (size_t)(m * (w->k / 4)));
    tg_q8_0_args *rows = malloc(sizeof(tg_q8_0_args) * (size_t)m);
    if (!xq || !xd || !xbias || !rows) return free(xq), free(xd), free(xbias), free(rows), "out of memory";
    for (int64_t j = 0; j < m; j++) {
        int8_t *q = xq + j * w->k;
        int32_t *bias = xbias + j * (w->k / 4);
        tg_quantize_row_q8_0(x + j * w->k, w->k, q, xd + j * (w->k / TG_QK8_0));
        for (int64_t g = 0; g < w->k / 4; g++) bias[g] = -128 * (q[4 * g] + q[4 * g + 1] + q[4 * g + 2] + q[4 * g + 3]);
        rows[j] = (tg_q8_0_args){w->data, w->k, tg_row_bytes(w->type, w->k), q, xd + j * (w->k / TG_QK8_0), bias,
                                 y + j * w->n};
    }
    int64_t threads = tg_pool_threads();
    int64_t rpt = (w->n + threads * 8 - 1) / (threads * 8);
    q8_0_job job = {isa, rows, m, w->n, rpt < 4 ? 4 : rpt};
    tg_pool_run((w->n + job.rows_per_task - 1) / job.rows_per_task, q8_0_task, &job);
    free(xq), free(xd), free(xbias), free(rows);
    return NULL;
}

/* ---------------- float activations (any format) ---------------- */

typedef struct {
    const tg_isa_ops *isa;
    const tg_weight *w;
    const float *x;
    int64_t m, row_bytes, rows_per_task;
    float tensor_scale;
    float *y;
} float_job;

static void float_task(void *ctx, int64_t task, int thread) {
    const float_job *job = ctx;
    const tg_weight *w = job->w;
    int64_t r0 = task * job->rows_per_task, r1 = min64(w->n, r0 + job->rows_per_task);
    /* one activation row: the ISA's fused GEMV reads each weight once, converting in registers */
    if (job->m == 1 && job->isa->gemv_float &&
        job->isa->gemv_float(w->type, w->data, job->row_bytes, w->k, job->x, r0, r1, job->y))
        return;
    float *row = w->type == TG_F32 ? NULL : tg_pool_scratch(thread, sizeof(float) * (size_t)w->k);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *packed = w->data + r * job->row_bytes;
        const float *wr = (const float *)packed;
        if (row) {
            job->isa->dequant_row(w->type, packed, w->k, job->tensor_scale, row);
            wr = row;
        }
        for (int64_t j = 0; j < job->m; j++) job->y[j * w->n + r] = job->isa->dot_f32(wr, job->x + j * w->k, w->k);
    }
}

static void matmul_float(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m, float *y) {
    /* at every M the fused GEMV per activation row, so a row's result does not depend on the
     * batch it came in (a batched decode's logits equal the unbatched ones bit for bit) */
    if (m > 1 && tg_small_m_float(isa, w, x, m, y)) return;
    float_job job = {isa, w, x, m, tg_row_bytes(w->type, w->k), 0, 0.0f, y};
    if (w->type == TG_I2_S) memcpy(&job.tensor_scale, w->data + w->n * job.row_bytes, 4);
    int64_t threads = tg_pool_threads();
    int64_t rpt = (w->n + threads * 8 - 1) / (threads * 8);
    job.rows_per_task = rpt < 4 ? 4 : rpt;
    tg_pool_run((w->n + job.rows_per_task - 1) / job.rows_per_task, float_task, &job);
}

const char *tg_matmul_shared(const tg_isa_ops *isa, const tg_weight *w, int count, const float *x, int64_t m,
                             tg_act_mode mode, float *const *y) {
    if (count < 1 || count > TG_MAX_SHARED) return "between 1 and TG_MAX_SHARED weights";
    for (int i = 0; i < count; i++) {
        const tg_format *f = tg_format_of(w[i].type);
        if (!f) return "unknown weight type";
        if (tg_tensor_bytes(w[i].type, w[i].n, w[i].k) != w[i].nbytes) return "weight size does not match its shape";
        if (w[i].k != w[0].k) return "weights sharing an input must have the same number of columns";
        if (mode == TG_ACT_INT8 && !f->ternary) return "int8 activations need a ternary weight type";
        if (mode == TG_ACT_Q8_0 && w[i].type != TG_Q8_0) return "Q8_0 activations need a Q8_0 weight";
    }
    if (m < 1) return "m must be >= 1";
    if (mode == TG_ACT_INT8) return matmul_ternary(isa, w, count, x, m, y);
    if (mode == TG_ACT_Q8_0) {
        for (int i = 0; i < count; i++) {
            const char *err = matmul_q8_0(isa, &w[i], x, m, y[i]);
            if (err) return err;
        }
        return NULL;
    }
    for (int i = 0; i < count; i++) matmul_float(isa, &w[i], x, m, y[i]);
    return NULL;
}

const char *tg_matmul(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m, tg_act_mode mode,
                      float *y) {
    return tg_matmul_shared(isa, w, 1, x, m, mode, &y);
}

/* ---------------- read bandwidth (a STREAM-like read pass) ---------------- */

typedef struct {
    const tg_isa_ops *isa;
    const float *buf;
    int64_t chunk;
    double sums[256];
} read_job;

static void read_task(void *ctx, int64_t task, int thread) {
    read_job *job = ctx;
    job->sums[thread] += job->isa->read_sum(job->buf + task * job->chunk, job->chunk);
}

#include <time.h>
static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double tg_read_bandwidth(const tg_isa_ops *isa, int64_t bytes, int passes) {
    const int64_t chunk = 1 << 18; /* floats per task: 1 MiB */
    int64_t count = (bytes / 4 + chunk - 1) / chunk * chunk;
    float *buf = aligned_alloc(64, (size_t)count * 4);
    if (!buf) return -1.0;
    for (int64_t i = 0; i < count; i++) buf[i] = 1.0f; /* touch every page before timing */
    read_job job = {isa, buf, chunk, {0}};
    double best = 0.0;
    for (int p = 0; p < passes; p++) {
        double t0 = seconds();
        tg_pool_run(count / chunk, read_task, &job);
        double bw = (double)count * 4 / (seconds() - t0);
        if (bw > best) best = bw;
    }
    double total = 0;
    for (int i = 0; i < 256; i++) total += job.sums[i];
    free(buf);
    /* every element is 1.0: a wrong sum means the pass skipped memory */
    return total == (double)count * passes ? best : -1.0;
}
