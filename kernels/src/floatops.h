/* The float steps between matmuls (floatops.c): one version for every CPU, bit-identical everywhere. */
#ifndef TG_FLOATOPS_H
#define TG_FLOATOPS_H

#include <stdint.h>

/* interleaved double partial sums of RMSNorm's sum of squares (a power of two) */
#define TG_NORM_LANES 16

enum { TG_ACT_RELU2 = 0, TG_ACT_SILU = 1 };

/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, for `rows` rows of n values (out may be x) */
void tg_rms_norm(const float *x, const float *weight, int64_t rows, int64_t n, double eps, float *out);
/* out = act(gate) * up, act = relu(g)^2 or silu(g) (out may be gate) */
void tg_gated_activation(int kind, const float *gate, const float *up, int64_t n, float *out);
void tg_add_in_place(float *x, const float *delta, int64_t n);
void tg_scale_in_place(float *x, double scale, int64_t n);
/* NeoX RoPE in place: in each head of each row, x[i], x[i + half] rotate by angles[(r * half + i) * 2 + {0, 1}]
 * (cos, sin), in double as the JS it replaced, rounded to float once */
void tg_rope(float *x, int64_t rows, int64_t heads, int64_t head_dim, int64_t half, const double *angles);

/* The sampler's statistics of one row of logits (see tg_logit_stats) */
typedef struct {
    double max;     /* largest clean logit; -INFINITY when every logit is -Infinity or NaN */
    int64_t argmax; /* lowest id holding max; -1 with max = -INFINITY */
    double sum_exp; /* sum of exp(x[i] - max) in index order; 0 when max is -INFINITY, NaN when not asked */
} tg_logit_stats_result;

/* The clean logits (NaN -> -Infinity, +Infinity -> DBL_MAX) into x, their max and lowest argmax, and
 * exp(x[i] - max) (fastexp.ts's exp) into w with its index-order sum, bit for bit the sampler's JS; x and w
 * may be NULL; without with_sum only x, max and argmax (w untouched). The vector paths give the same bits and
 * run only on a CPU that has their instructions. */
typedef enum { TG_LOGITS_PLAIN = 0, TG_LOGITS_AVX2 = 1, TG_LOGITS_AVX512 = 2 } tg_logit_path;
void tg_logit_stats(tg_logit_path path, const float *logits, int64_t n, double *x, double *w, int with_sum,
                    tg_logit_stats_result *out);

#endif
