/*
 * The trainer's memory and its N-API surface: shapes, one allocation for every activation,
 * the choice of the step math (generic or AVX-512), and the JS entry points
 *   trainerCreate(config, params, grads, m, v) -> handle
 *   trainerStep(handle, tokens, batch, seq, grads) -> mean loss
 *   trainerAdamw(handle, lr, weightDecay, beta1, beta2, eps, step, gradScale, clip) -> grad norm
 *   trainerIsa(handle) -> "generic" | "avx512"
 * The four Float32Arrays stay owned by JS; the handle holds references so they outlive it.
 */
#include <math.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "tg.h"
#include "train.h"

#define LAYER_TENSORS 11

/* One block's tensors in layout order (train.h): their lengths, and whether AdamW decays them
 * (matrices do, norms do not). The single statement of the layout: counting, binding and the
 * optimizer's chunks all read it. */
static void layer_tensors(const tg_train_config *c, int64_t len[LAYER_TENSORS], int decay[LAYER_TENSORS]) {
    const int64_t E = c->embedding, F = c->feed_forward, d = E / c->heads;
    const int64_t Q = c->heads * d, KV = c->kv_heads * d;
    const int64_t lengths[LAYER_TENSORS] = {E, Q * E, KV * E, KV * E, E * Q, Q, E, F * E, F * E, E * F, F};
    const int decays[LAYER_TENSORS] = {0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0};
    for (int i = 0; i < LAYER_TENSORS; i++) len[i] = lengths[i], decay[i] = decays[i];
}

int64_t tg_train_param_count(const tg_train_config *c) {
    int64_t len[LAYER_TENSORS], layer = 0;
    int decay[LAYER_TENSORS];
    layer_tensors(c, len, decay);
    for (int i = 0; i < LAYER_TENSORS; i++) layer += len[i];
    return c->vocab * c->embedding + c->layers * layer + c->embedding;
}

void tg_train_bind(const tg_train_config *c, float *base, tg_train_tensors *out) {
    int64_t len[LAYER_TENSORS];
    int decay[LAYER_TENSORS];
    layer_tensors(c, len, decay);
    float *p = base;
    out->embedding = p;
    p += c->vocab * c->embedding;
    for (int64_t l = 0; l < c->layers; l++) {
        tg_train_layer *L = &out->layers[l];
        float **field[LAYER_TENSORS] = {&L->attn_norm, &L->wq,       &L->wk,  &L->wv,    &L->wo,          &L->attn_sub_norm,
                                        &L->ffn_norm,  &L->wgate,    &L->wup, &L->wdown, &L->ffn_sub_norm};
        for (int i = 0; i < LAYER_TENSORS; i++) *field[i] = p, p += len[i];
    }
    out->final_norm = p;
}

const char *tg_train_check_config(const tg_train_config *c) {
    if (c->layers < 0 || c->layers > 256) return "layers must be between 0 and 256";
    if (c->embedding < 2 || c->feed_forward < 1 || c->heads < 1 || c->kv_heads < 1 || c->vocab < 2 ||
        c->context < 1 || c->batch < 1)
        return "every size must be positive (embedding >= 2, vocab >= 2)";
    if (c->embedding % c->heads != 0) return "embedding must be a multiple of heads";
    if ((c->embedding / c->heads) % 2 != 0) return "the head size must be even for RoPE";
    if (c->heads % c->kv_heads != 0) return "heads must be a multiple of kvHeads";
    if (!(c->rope_base > 0) || !(c->eps > 0)) return "ropeBase and eps must be positive";
    if (tg_train_param_count(c) > (1LL << 31)) return "the model has more than 2^31 parameters";
    if (c->batch * c->context * (c->vocab > c->feed_forward ? c->vocab : c->feed_forward) > (1LL << 32))
        return "batch x context x max(vocab, feedForward) is too large for one step";
    return NULL;
}

#define ADAMW_CHUNK 65536

/* Bump allocator over one block: sizes first (base NULL), then pointers. */
typedef struct {
    char *base;
    size_t used;
} arena;

static float *take(arena *a, int64_t floats) {
    float *p = a->base ? (float *)(a->base + a->used) : NULL;
    a->used += ((size_t)floats * sizeof(float) + 63) & ~(size_t)63;
    return p;
}

static void layout(tg_trainer *t, arena *a) {
    const tg_train_config *c = &t->cfg;
    const int64_t N = c->batch * c->context, E = c->embedding, F = c->feed_forward, V = c->vocab;
    const int64_t d = E / c->heads, Q = c->heads * d, KV = c->kv_heads * d;
    const int64_t wsize[TG_TRAIN_LINEARS] = {Q * E, KV * E, KV * E, E * Q, F * E, F * E, E * F};
    for (int64_t l = 0; l < c->layers; l++) {
        tg_train_acts *A = &t->acts[l];
        A->x_in = take(a, N * E), A->x_mid = take(a, N * E);
        A->n1 = take(a, N * E), A->n1q = c->qat ? take(a, N * E) : NULL, A->rstd1 = take(a, N);
        A->q = take(a, N * Q), A->k = take(a, N * KV), A->v = take(a, N * KV);
        A->att = take(a, c->batch * c->heads * c->context * c->context);
        A->a = take(a, N * Q), A->s1 = take(a, N * Q), A->s1q = c->qat ? take(a, N * Q) : NULL;
        A->rstd_s1 = take(a, N);
        A->n2 = take(a, N * E), A->n2q = c->qat ? take(a, N * E) : NULL, A->rstd2 = take(a, N);
        A->g = take(a, N * F), A->u = take(a, N * F), A->h = take(a, N * F);
        A->s2 = take(a, N * F), A->s2q = c->qat ? take(a, N * F) : NULL, A->rstd_s2 = take(a, N);
        for (int i = 0; i < TG_TRAIN_LINEARS; i++) {
            A->w[i] = c->qat ? take(a, wsize[i]) : NULL; /* fp32 multiplies the parameter itself */
            A->wt[i] = take(a, wsize[i]);
        }
    }
    t->x_final = take(a, N * E), t->xf = take(a, N * E), t->rstd_f = take(a, N);
    t->logits = take(a, N * V), t->embedding_t = take(a, E * V), t->row_loss = take(a, N);
    t->rope_cos = take(a, c->context * d / 2), t->rope_sin = take(a, c->context * d / 2);
    t->dx = take(a, N * E), t->dn = take(a, N * E), t->dq = take(a, N * Q);
    t->dk = take(a, N * KV), t->dv = take(a, N * KV), t->dxf = take(a, N * (E > Q ? E : Q));
    t->df1 = take(a, N * F), t->df2 = take(a, N * F), t->df3 = take(a, N * F);
    t->norm_tasks = 16;
    t->norm_partial = take(a, t->norm_tasks * (E > F ? E : F));
}

/* Cuts one tensor of `len` values at `*offset` into chunks (counting them; recording them with `fill`). */
static void add_chunks(tg_trainer *t, int fill, int64_t len, int decay, int64_t *offset, int64_t *count) {
    for (int64_t s = 0; s < len; s += ADAMW_CHUNK, (*count)++) {
        if (!fill) continue;
        t->chunk_start[*count] = *offset + s;
        t->chunk_len[*count] = len - s < ADAMW_CHUNK ? len - s : ADAMW_CHUNK;
        t->chunk_decay[*count] = decay;
    }
    *offset += len;
}

/* The flat buffer in chunks that never straddle a tensor, each knowing if it takes weight decay. */
static int64_t plan_chunks(tg_trainer *t, int fill) {
    const tg_train_config *c = &t->cfg;
    int64_t len[LAYER_TENSORS], count = 0, offset = 0;
    int decay[LAYER_TENSORS];
    layer_tensors(c, len, decay);
    add_chunks(t, fill, c->vocab * c->embedding, 1, &offset, &count);
    for (int64_t l = 0; l < c->layers; l++)
        for (int i = 0; i < LAYER_TENSORS; i++) add_chunks(t, fill, len[i], decay[i], &offset, &count);
    add_chunks(t, fill, c->embedding, 0, &offset, &count);
    return count;
}

tg_trainer *tg_trainer_new(const tg_train_config *c, float *params, float *grads, float *m, float *v) {
    tg_trainer *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->cfg = *c;
    t->param_count = tg_train_param_count(c);
    t->params = params, t->grads = grads, t->m = m, t->v = v;
    t->acts = calloc((size_t)(c->layers + 1), sizeof(tg_train_acts));
    t->p.layers = calloc((size_t)(c->layers + 1), sizeof(tg_train_layer));
    t->g.layers = calloc((size_t)(c->layers + 1), sizeof(tg_train_layer));
    t->chunks = plan_chunks(t, 0);
    t->chunk_start = calloc((size_t)t->chunks, sizeof(int64_t));
    t->chunk_len = calloc((size_t)t->chunks, sizeof(int64_t));
    t->chunk_decay = calloc((size_t)t->chunks, sizeof(int));
    t->chunk_partial = calloc((size_t)t->chunks, sizeof(double));
    arena a = {NULL, 0};
    layout(t, &a);
    if (!t->acts || !t->p.layers || !t->g.layers || !t->chunk_start || !t->chunk_len || !t->chunk_decay ||
        !t->chunk_partial || posix_memalign(&t->block, 64, a.used ? a.used : 64) != 0) {
        t->block = NULL;
        tg_trainer_free(t);
        return NULL;
    }
    a = (arena){t->block, 0};
    layout(t, &a);
    plan_chunks(t, 1);
    tg_train_bind(c, params, &t->p);
    tg_train_bind(c, grads, &t->g);
    const int64_t d = c->embedding / c->heads;
    for (int64_t pos = 0; pos < c->context; pos++)
        for (int64_t i = 0; i < d / 2; i++) {
            const double angle = (double)pos * pow((double)c->rope_base, -2.0 * (double)i / (double)d);
            t->rope_cos[pos * (d / 2) + i] = (float)cos(angle);
            t->rope_sin[pos * (d / 2) + i] = (float)sin(angle);
        }
    return t;
}

void tg_trainer_free(tg_trainer *t) {
    if (!t) return;
    free(t->block);
    free(t->acts);
    free(t->p.layers);
    free(t->g.layers);
    free(t->chunk_start);
    free(t->chunk_len);
    free(t->chunk_decay);
    free(t->chunk_partial);
    free(t);
}

/* ---------------- N-API ---------------- */

typedef struct {
    tg_trainer *trainer;
    const tg_train_ops *ops;
    napi_ref buffers[4];
} js_trainer;

static void finalize_trainer(napi_env env, void *data, void *hint) {
    (void)hint;
    js_trainer *j = data;
    for (int i = 0; i < 4; i++)
        if (j->buffers[i]) napi_delete_reference(env, j->buffers[i]);
    tg_trainer_free(j->trainer);
    free(j);
}

static int config_int(napi_env env, napi_value obj, const char *key, long long lo, long long hi, int64_t *out) {
    napi_value v;
    char name[64];
    snprintf(name, sizeof(name), "config.%s", key);
    long long x = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok || !tg_arg_int(env, v, name, lo, hi, &x)) return 0;
    *out = x;
    return 1;
}

static int config_float(napi_env env, napi_value obj, const char *key, float *out) {
    napi_value v;
    napi_valuetype t;
    double x = 0;
    if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
    napi_typeof(env, v, &t);
    if (t != napi_number || napi_get_value_double(env, v, &x) != napi_ok || !isfinite(x))
        return tg_arg_fail(env, key, "expected a finite number%.0lld%.0lld", 0, 0);
    *out = (float)x;
    return 1;
}

static const tg_train_ops *choose_ops(napi_env env, napi_value obj) {
    napi_value v;
    napi_valuetype t;
    char name[32] = {0};
    size_t len = 0;
    napi_get_named_property(env, obj, "isa", &v);
    napi_typeof(env, v, &t);
    const char *forced = getenv("TRITGATE_ISA");
    if (t == napi_string) napi_get_value_string_utf8(env, v, name, sizeof(name), &len);
    else if (forced && *forced) snprintf(name, sizeof(name), "%s", strcmp(forced, "avx512") == 0 ? "avx512" : "generic");
    const int has_avx512 = tg_cpu_detect().avx512f && tg_cpu_detect().fma;
    if (!*name) return has_avx512 ? &tg_train_avx512 : &tg_train_generic;
    if (strcmp(name, "generic") == 0) return &tg_train_generic;
    if (strcmp(name, "avx512") == 0 && has_avx512) return &tg_train_avx512;
    char msg[128];
    snprintf(msg, sizeof(msg), "config.isa: \"%s\" is not a trainer path this CPU can run (generic, avx512)", name);
    napi_throw_error(env, "ERR_TRITGATE_ISA", msg);
    return NULL;
}

static js_trainer *get_trainer(napi_env env, napi_value v) {
    void *data = NULL;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_external || napi_get_value_external(env, v, &data) != napi_ok || !data) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "trainer: expected a handle from trainerCreate");
        return NULL;
    }
    return data;
}

static napi_value js_trainer_create(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5], handle;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    napi_valuetype ct;
    napi_typeof(env, argv[0], &ct);
    if (argc < 5 || ct != napi_object) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "trainerCreate(config, params, grads, m, v)");
        return NULL;
    }
    tg_train_config c = {0};
    int64_t qat = 0;
    if (!config_int(env, argv[0], "layers", 0, 256, &c.layers) ||
        !config_int(env, argv[0], "embedding", 2, 1 << 16, &c.embedding) ||
        !config_int(env, argv[0], "feedForward", 1, 1 << 18, &c.feed_forward) ||
        !config_int(env, argv[0], "heads", 1, 1024, &c.heads) ||
        !config_int(env, argv[0], "kvHeads", 1, 1024, &c.kv_heads) ||
        !config_int(env, argv[0], "vocab", 2, 1 << 20, &c.vocab) ||
        !config_int(env, argv[0], "context", 1, 1 << 16, &c.context) ||
        !config_int(env, argv[0], "batch", 1, 1 << 16, &c.batch) || !config_int(env, argv[0], "qat", 0, 1, &qat) ||
        !config_float(env, argv[0], "ropeBase", &c.rope_base) || !config_float(env, argv[0], "eps", &c.eps))
        return NULL;
    c.qat = (int)qat;
    const char *bad = tg_train_check_config(&c);
    if (bad) {
        napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", bad);
        return NULL;
    }
    const tg_train_ops *ops = choose_ops(env, argv[0]);
    if (!ops) return NULL;
    const char *names[4] = {"params", "grads", "m", "v"};
    float *ptr[4];
    const int64_t count = tg_train_param_count(&c);
    for (int i = 0; i < 4; i++) {
        tg_typed_view view;
        if (!tg_arg_typed(env, argv[1 + i], names[i], napi_float32_array, "Float32Array", &view)) return NULL;
        if ((int64_t)view.length != count) {
            char msg[160];
            snprintf(msg, sizeof(msg), "%s: the model has %lld parameters, got %lld", names[i], (long long)count,
                     (long long)view.length);
            napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", msg);
            return NULL;
        }
        ptr[i] = view.data;
    }
    js_trainer *j = calloc(1, sizeof(*j));
    if (j) j->trainer = tg_trainer_new(&c, ptr[0], ptr[1], ptr[2], ptr[3]);
    if (!j || !j->trainer) {
        free(j);
        napi_throw_error(env, "ERR_TRITGATE_MEMORY", "trainerCreate: not enough memory for the activations");
        return NULL;
    }
    j->ops = ops;
    for (int i = 0; i < 4; i++) napi_create_reference(env, argv[1 + i], 1, &j->buffers[i]);
    napi_create_external(env, j, finalize_trainer, NULL, &handle);
    return handle;
}

static napi_value js_trainer_step(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    js_trainer *j = get_trainer(env, argv[0]);
    if (!j) return NULL;
    const tg_train_config *c = &j->trainer->cfg;
    tg_typed_view tokens;
    long long batch, seq;
    bool grads = false;
    if (!tg_arg_typed(env, argv[1], "tokens", napi_int32_array, "Int32Array", &tokens) ||
        !tg_arg_int(env, argv[2], "batch", 1, c->batch, &batch) ||
        !tg_arg_int(env, argv[3], "seq", 1, c->context, &seq))
        return NULL;
    napi_get_value_bool(env, argv[4], &grads);
    if ((long long)tokens.length != batch * (seq + 1))
        return tg_arg_fail(env, "tokens", "expected batch x (seq + 1) = %lld ids, got %lld", batch * (seq + 1),
                           (long long)tokens.length),
               NULL;
    const int32_t *ids = tokens.data;
    for (size_t i = 0; i < tokens.length; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return tg_arg_fail(env, "tokens", "id %lld is outside the vocabulary of %lld", ids[i], c->vocab), NULL;
    napi_create_double(env, j->ops->step(j->trainer, ids, batch, seq, grads), &result);
    return result;
}

static int arg_float(napi_env env, napi_value v, const char *name, double lo, double hi, float *out) {
    napi_valuetype t;
    double x = 0;
    napi_typeof(env, v, &t);
    if (t == napi_number) napi_get_value_double(env, v, &x);
    if (t != napi_number || !(x >= lo && x <= hi)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: expected a number between %g and %g", name, lo, hi);
        napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    *out = (float)x;
    return 1;
}

static napi_value js_trainer_adamw(napi_env env, napi_callback_info info) {
    size_t argc = 9;
    napi_value argv[9], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    js_trainer *j = get_trainer(env, argv[0]);
    if (!j) return NULL;
    tg_adamw_args a = {0};
    long long step;
    if (!arg_float(env, argv[1], "lr", 0, 10, &a.lr) || !arg_float(env, argv[2], "weightDecay", 0, 10, &a.weight_decay) ||
        !arg_float(env, argv[3], "beta1", 0, 0.999999, &a.beta1) ||
        !arg_float(env, argv[4], "beta2", 0, 0.999999, &a.beta2) || !arg_float(env, argv[5], "eps", 0, 1, &a.eps) ||
        !tg_arg_int(env, argv[6], "step", 1, 1LL << 40, &step) ||
        !arg_float(env, argv[7], "gradScale", 0, 1e6, &a.grad_scale) ||
        !arg_float(env, argv[8], "clip", 0, 1e9, &a.clip))
        return NULL;
    a.step = step;
    napi_create_double(env, j->ops->adamw(j->trainer, &a), &result);
    return result;
}

static napi_value js_trainer_isa(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    js_trainer *j = get_trainer(env, argv[0]);
    if (!j) return NULL;
    napi_create_string_utf8(env, j->ops->name, NAPI_AUTO_LENGTH, &result);
    return result;
}

void tg_train_register(napi_env env, napi_value exports) {
    napi_property_descriptor props[] = {
        {"trainerCreate", NULL, js_trainer_create, NULL, NULL, NULL, napi_enumerable, NULL},
        {"trainerStep", NULL, js_trainer_step, NULL, NULL, NULL, napi_enumerable, NULL},
        {"trainerAdamw", NULL, js_trainer_adamw, NULL, NULL, NULL, napi_enumerable, NULL},
        {"trainerIsa", NULL, js_trainer_isa, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
