/*
 * The native trainer of the nano models (llm.c style): one training step of the BitNet
 * architecture — forward over a batch of sequences, mean next-token cross-entropy, exact
 * backward — in float32, in two modes: fp32, and BitNet b1.58 quantization-aware training
 * (absmean ternary weights and absmax int8 inputs for the seven linear layers of each block,
 * straight-through estimator in the backward pass).
 *
 * The TypeScript reference (src/train/reference/forward-backward.ts) defines the semantics;
 * this is its fast twin and is tested against it. Parameters live in one flat float buffer
 * owned by the caller, tensors in this order (the reference's namedTensors order):
 *   embedding [V x E]; per layer attnNorm [E], wq [H·d x E], wk [KV·d x E], wv [KV·d x E],
 *   wo [E x H·d], attnSubNorm [H·d], ffnNorm [E], wGate [F x E], wUp [F x E], wDown [E x F],
 *   ffnSubNorm [F]; finalNorm [E].
 * Gradients and the two AdamW moments use the same layout.
 *
 * The step math is compiled twice (train_generic.c, train_avx512.c) from train_ops.inc, each
 * with its own flags; train.c picks one at run time, like the kernels' ISA paths.
 */
#ifndef TG_TRAIN_H
#define TG_TRAIN_H

#include <stdint.h>

typedef struct {
    int64_t layers, embedding, feed_forward, heads, kv_heads, vocab, context;
    float rope_base, eps;
    int qat;       /* 0: fp32, 1: BitNet b1.58 quantization-aware */
    int64_t batch; /* most sequences one step takes */
} tg_train_config;

typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *attn_sub_norm, *ffn_norm, *wgate, *wup, *wdown, *ffn_sub_norm;
} tg_train_layer;

#define TG_TRAIN_LINEARS 7

/* Pointers into one flat parameter-shaped buffer. */
typedef struct {
    float *embedding;
    tg_train_layer *layers; /* [config.layers] */
    float *final_norm;
} tg_train_tensors;

/* What one layer's forward pass keeps for the backward pass (rows N = batch x seq). */
typedef struct {
    float *x_in, *x_mid;            /* residual stream entering the block and after attention [N x E] */
    float *n1, *n1q, *rstd1;        /* attn norm output, what the QKV projections multiply */
    float *q, *k, *v;               /* q and k after RoPE */
    float *att;                     /* softmax probabilities [batch x heads x T x T] */
    float *a, *s1, *s1q, *rstd_s1;  /* attention output, its sub-norm, wo's input */
    float *n2, *n2q, *rstd2;        /* ffn norm output, what gate/up multiply */
    float *g, *u, *h, *s2, *s2q, *rstd_s2; /* gate, up, relu(g)²·u, its sub-norm, wDown's input */
    /* the weights the forward pass multiplied (ternarized under QAT) and their transposes */
    float *w[TG_TRAIN_LINEARS], *wt[TG_TRAIN_LINEARS];
} tg_train_acts;

typedef struct {
    tg_train_config cfg;
    int64_t param_count;
    float *params, *grads, *m, *v; /* caller-owned, param_count each */
    tg_train_tensors p, g;
    tg_train_acts *acts;   /* [layers] */
    float *x_final;        /* residual stream after the last block [N x E] */
    float *xf, *rstd_f;    /* final norm output */
    float *logits;         /* [N x V], replaced by dL/dlogits in a training step */
    float *embedding_t;    /* [E x V] */
    float *row_loss;       /* [N] */
    float *rope_cos, *rope_sin; /* [context x d/2] */
    /* backward scratch */
    float *dx, *dn, *dq, *dk, *dv, *dxf, *df1, *df2, *df3;
    float *norm_partial;   /* per-task partial sums of a norm weight's gradient */
    int64_t norm_tasks;
    /* AdamW: chunks of the flat buffer, each with its weight-decay flag */
    int64_t *chunk_start, *chunk_len;
    int *chunk_decay;
    double *chunk_partial;
    int64_t chunks;
    void *block; /* one allocation behind every buffer above that the trainer owns */
} tg_trainer;

typedef struct {
    float lr, weight_decay, beta1, beta2, eps;
    int64_t step;     /* 1-based, for bias correction */
    float grad_scale; /* multiplies the accumulated gradients first (1/micro-batches) */
    float clip;       /* global gradient-norm clip; 0 = none */
} tg_adamw_args;

typedef struct {
    const char *name;
    /* Mean loss over batch x seq next-token predictions; tokens [batch x (seq + 1)]. With
     * `grads`, adds this batch's gradients to trainer->grads (callers zero them first). */
    double (*step)(tg_trainer *t, const int32_t *tokens, int64_t batch, int64_t seq, int grads);
    /* Returns the gradient norm after grad_scale, before clipping. */
    double (*adamw)(tg_trainer *t, const tg_adamw_args *a);
} tg_train_ops;

extern const tg_train_ops tg_train_generic;
extern const tg_train_ops tg_train_avx512;

int64_t tg_train_param_count(const tg_train_config *c);
/* Points `out` at the tensors of a flat buffer (out->layers must hold config.layers entries). */
void tg_train_bind(const tg_train_config *c, float *base, tg_train_tensors *out);
/* NULL or a static message naming what is wrong. */
const char *tg_train_check_config(const tg_train_config *c);
/* Allocates the activations; NULL on allocation failure. */
tg_trainer *tg_trainer_new(const tg_train_config *c, float *params, float *grads, float *m, float *v);
void tg_trainer_free(tg_trainer *t);

#endif
