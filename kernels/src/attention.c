/*
 * Causal grouped-query attention over KV caches (fp32 or fp16, computed in fp32) for every sequence
 * of a batched step in one pool job. Decode time is dominated by the weights, but attention grows
 * with the context and with the batch: one call per sequence and a dot-product call per position
 * made it the largest single cost of a batched nano step. Here a task is one (sequence, row, KV
 * head): the query heads that share the KV head (GQA) read each key and value once, through the
 * ISA's attend_group (vector scores, exp and V sums on AVX2 / AVX-512; the plain C below is the
 * reference). A task's result depends only on its own row, head and cache, so a sequence's
 * attention is the same bits whatever else shares the call, however the tasks are split and on any
 * number of threads.
 *
 * The call first writes the step's keys and values into the caches (tg.h's layout: per KV head a
 * plane, keys transposed in blocks of TG_ATTN_BLOCK positions): the caller hands over the rows the
 * q/k/v product made and never sees the layout, and a batched step makes one crossing per layer
 * instead of two copies per sequence beside it.
 */
#include <math.h>
#include <string.h>

#include "tg.h"

/* Plain C: double dot products and sum, libm expf, the softmax weight applied per position. */
void tg_attend_group_ref(const tg_attend_group_args *g) {
    const int64_t dim = g->head_dim;
    const float scale = 1.0f / sqrtf((float)dim);
    for (int64_t h = 0; h < g->group; h++) {
        const float *q = g->q + h * dim;
        float *out = g->out + h * dim, *scores = g->scores;
        float max = -INFINITY;
        for (int64_t t = 0; t < g->visible; t++) {
            double dot = 0.0;
            for (int64_t d = 0; d < dim; d++)
                dot += (double)q[d] * (double)tg_attn_load(g->keys, g->kv_type, tg_attn_key_at(dim, t, d));
            scores[t] = (float)dot * scale;
            if (scores[t] > max) max = scores[t];
        }
        double total = 0.0;
        for (int64_t t = 0; t < g->visible; t++) {
            scores[t] = expf(scores[t] - max);
            total += scores[t];
        }
        const float inv = (float)(1.0 / total);
        memset(out, 0, sizeof(float) * (size_t)dim);
        for (int64_t t = 0; t < g->visible; t++) {
            const float w = scores[t] * inv;
            for (int64_t d = 0; d < dim; d++) out[d] += w * tg_attn_load(g->values, g->kv_type, t * dim + d);
        }
    }
}

typedef struct {
    const tg_isa_ops *isa;
    const tg_attention_args *a;
} attention_job;

static void attention_task(void *ctx, int64_t task, int thread) {
    const attention_job *job = ctx;
    const tg_attention_args *a = job->a;
    /* a step holds a few sequences: walking them is cheaper than a table to search */
    const tg_attention_seq *seq = a->seqs;
    int64_t local = task;
    while (local >= seq->rows * a->kv_heads) local -= (seq++)->rows * a->kv_heads;
    const int64_t r = local / a->kv_heads, kv = local % a->kv_heads;
    const int64_t group = a->heads / a->kv_heads, dim = a->head_dim;
    const int64_t visible = seq->start + r + 1;
    const int64_t padded = (visible + TG_ATTN_BLOCK - 1) / TG_ATTN_BLOCK * TG_ATTN_BLOCK;
    const int64_t at = ((seq->first + r) * a->heads + kv * group) * dim;
    const size_t element = a->kv_type == TG_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    const size_t plane = (size_t)(kv * seq->positions * dim) * element;
    tg_attend_group_args g = {
        .q = a->q + at,
        .keys = (const char *)seq->keys + plane,
        .values = (const char *)seq->values + plane,
        .kv_type = a->kv_type,
        .visible = visible,
        .head_dim = dim,
        .group = group,
        .scores = tg_pool_scratch(thread, sizeof(float) * (size_t)(group * padded)),
        .out = a->out + at,
    };
    job->isa->attend_group(&g);
}

/* n floats as halves, through the ISA's conversion when it has one (the same bits). */
static void to_fp16(const tg_isa_ops *isa, const float *x, int64_t n, uint16_t *out) {
    if (isa->fp32_to_fp16_row) isa->fp32_to_fp16_row(x, n, out);
    else
        for (int64_t i = 0; i < n; i++) out[i] = tg_fp32_to_fp16(x[i]);
}

/* The step's keys and values of every sequence into its planes (the caller's thread: a decode step
 * writes a few KB), rounded to nearest even for an fp16 cache: a batch row's keys are converted at
 * once into `half_keys`, then spread over the transposed block, and its values straight into place.
 * A call converted one value at a time cost ~4 ns a value, a fifth of a batch-8 nano attention step. */
static void store_rows(const tg_isa_ops *isa, const tg_attention_args *a, uint16_t *half_keys) {
    const int64_t dim = a->head_dim, width = a->kv_heads * dim;
    const int half = a->kv_type == TG_KV_F16;
    for (int64_t s = 0; s < a->count; s++) {
        const tg_attention_seq *seq = &a->seqs[s];
        for (int64_t r = 0; r < seq->rows; r++) {
            const int64_t t = seq->start + r, row = (seq->first + r) * width;
            if (half) to_fp16(isa, a->k + row, width, half_keys);
            for (int64_t kv = 0; kv < a->kv_heads; kv++) {
                const float *k = a->k + row + kv * dim, *v = a->v + row + kv * dim;
                const int64_t plane = kv * seq->positions * dim, value = plane + t * dim;
                if (half) {
                    uint16_t *keys = seq->keys;
                    for (int64_t d = 0; d < dim; d++) keys[plane + tg_attn_key_at(dim, t, d)] = half_keys[kv * dim + d];
                    to_fp16(isa, v, dim, (uint16_t *)seq->values + value);
                } else {
                    float *keys = seq->keys;
                    for (int64_t d = 0; d < dim; d++) keys[plane + tg_attn_key_at(dim, t, d)] = k[d];
                    memcpy((float *)seq->values + value, v, sizeof(float) * (size_t)dim);
                }
            }
        }
    }
}

void tg_attention(const tg_isa_ops *isa, const tg_attention_args *a) {
    /* the caller's thread is pool thread 0: its scratch holds one batch row's keys as halves */
    uint16_t *half_keys = a->kv_type == TG_KV_F16
                              ? tg_pool_scratch(0, sizeof(uint16_t) * (size_t)(a->kv_heads * a->head_dim))
                              : NULL;
    store_rows(isa, a, half_keys);
    int64_t tasks = 0;
    for (int64_t s = 0; s < a->count; s++) tasks += a->seqs[s].rows * a->kv_heads;
    attention_job job = {isa, a};
    tg_pool_run(tasks, attention_task, &job);
}
