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

#endif
