/*
 * Causal grouped-query attention over a KV cache, in fp32. Decode time is dominated by the
 * weights, but attention grows with the context: at a few hundred positions a scripted loop
 * costs as much as all the matmuls, so it runs here, one (query row, head) pair per task.
 */
#include <math.h>
#include <string.h>

#include "tg.h"

typedef struct {
    const tg_isa_ops *isa;
    const tg_attention_args *a;
} attention_job;

static void attention_task(void *ctx, int64_t task, int thread) {
    const attention_job *job = ctx;
    const tg_attention_args *a = job->a;
    const int64_t r = task / a->heads, h = task % a->heads;
    const int64_t visible = a->start + r + 1, dim = a->head_dim;
    const int64_t kv_row = a->kv_heads * dim, kv_off = (h / (a->heads / a->kv_heads)) * dim;
    const float *q = a->q + (r * a->heads + h) * dim;
    float *out = a->out + (r * a->heads + h) * dim;
    float *scores = tg_pool_scratch(thread, sizeof(float) * (size_t)visible);
    const float scale = 1.0f / sqrtf((float)dim);

    float max = -INFINITY;
    for (int64_t t = 0; t < visible; t++) {
        scores[t] = job->isa->dot_f32(q, a->keys + t * kv_row + kv_off, dim) * scale;
        if (scores[t] > max) max = scores[t];
    }
    double total = 0.0;
    for (int64_t t = 0; t < visible; t++) {
        scores[t] = expf(scores[t] - max);
        total += scores[t];
    }
    const float inv = (float)(1.0 / total);
    memset(out, 0, sizeof(float) * (size_t)dim);
    for (int64_t t = 0; t < visible; t++) {
        const float w = scores[t] * inv;
        const float *v = a->values + t * kv_row + kv_off;
        for (int64_t d = 0; d < dim; d++) out[d] += w * v[d];
    }
}

void tg_attention(const tg_isa_ops *isa, const tg_attention_args *a) {
    attention_job job = {isa, a};
    tg_pool_run(a->rows * a->heads, attention_task, &job);
}
