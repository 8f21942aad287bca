/*
 * N-API surface of the kernels. Every argument is checked here, before any pointer reaches a
 * kernel: a wrong size, type or alignment becomes a thrown JS error naming the argument.
 * kernels/index.ts wraps these positional functions in a typed API.
 */
#include <math.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "floatops.h"
#include "tg.h"

void tg_train_register(napi_env env, napi_value exports);

#define MAX_DIM 2147483647LL
#define MAX_TERNARY_K 65536 /* keeps |isum| < 2^24 so (float)isum is exact */

static const tg_isa_ops *default_isa;
static char default_isa_error[256];

static int get_isa(napi_env env, napi_value v, const tg_isa_ops **out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        if (!default_isa) {
            napi_throw_error(env, "ERR_TRITGATE_ISA", default_isa_error);
            return 0;
        }
        *out = default_isa;
        return 1;
    }
    char name[32] = {0};
    size_t len = 0;
    if (t != napi_string || napi_get_value_string_utf8(env, v, name, sizeof(name), &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "options.isa: expected \"scalar\", \"avx2\" or \"avx512\"");
        return 0;
    }
    *out = tg_isa_by_name(name);
    if (!*out) {
        char msg[128];
        snprintf(msg, sizeof(msg), "options.isa: \"%s\" is not a path this CPU can run", name);
        napi_throw_error(env, "ERR_TRITGATE_ISA", msg);
        return 0;
    }
    return 1;
}

static int get_format(napi_env env, napi_value v, const char *name, const tg_format **out) {
    long long type = 0;
    if (!tg_arg_int(env, v, name, 0, 255, &type)) return 0;
    *out = tg_format_of((int)type);
    if (!*out) return tg_arg_fail(env, name, "unknown weight type id %lld%.0lld", type, 0);
    return 1;
}

/* Shape checks shared by everything that takes a packed [n x k] weight. */
static int check_shape(napi_env env, const tg_format *f, long long n, long long k) {
    if (k % f->block != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "weight.cols: %lld is not a multiple of %s's block of %lld", k, f->name,
                 (long long)f->block);
        napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    if (n * k > (1LL << 40)) return tg_arg_fail(env, "weight", "%lld x %lld elements is too large", n, k);
    return 1;
}

/* A packed weight: (type, data, rows, cols) at argv[first..first+3]. */
static int get_weight(napi_env env, napi_value *argv, tg_weight *w, const tg_format **fmt) {
    long long n = 0, k = 0;
    tg_typed_view data;
    if (!get_format(env, argv[0], "weight.type", fmt)) return 0;
    if (!tg_arg_typed(env, argv[1], "weight.data", napi_uint8_array, "Uint8Array", &data)) return 0;
    if (!tg_arg_int(env, argv[2], "weight.rows", 1, MAX_DIM, &n)) return 0;
    if (!tg_arg_int(env, argv[3], "weight.cols", 1, MAX_DIM, &k)) return 0;
    if (!check_shape(env, *fmt, n, k)) return 0;
    long long want = tg_tensor_bytes((*fmt)->type, n, k);
    if ((long long)data.length != want) {
        char msg[256];
        snprintf(msg, sizeof(msg), "weight.data: %s [%lld x %lld] needs %lld bytes, got %lld%s", (*fmt)->name, n, k,
                 want, (long long)data.length, (long long)data.length < want ? " (truncated)" : "");
        napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    int align = (*fmt)->type == TG_F32 ? 4 : (*fmt)->type == TG_F16 ? 2 : 1;
    if ((uintptr_t)data.data % (uintptr_t)align != 0)
        return tg_arg_fail(env, "weight.data", "misaligned: this type's data must start on a %lld-byte boundary (offset %lld)",
                    (long long)align, (long long)data.byte_offset);
    w->type = (*fmt)->type;
    w->data = data.data;
    w->n = n;
    w->k = k;
    w->nbytes = want;
    return 1;
}

static napi_value make_typed(napi_env env, napi_typedarray_type type, size_t count, size_t elem, void **data) {
    napi_value buffer, array;
    napi_create_arraybuffer(env, count * elem, data, &buffer);
    napi_create_typedarray(env, type, count, buffer, 0, &array);
    return array;
}

/* ---------------- matmul (sync and async) ---------------- */

typedef struct {
    const tg_isa_ops *isa;
    tg_weight w;
    const float *x;
    int64_t m;
    tg_act_mode mode;
    float *y;
    napi_value out;
} matmul_call;

/* argv: isa, type, data, rows, cols, x, m, activations ("int8" | "q8_0" | "float" | undefined), out */
static int parse_matmul_argv(napi_env env, napi_value *argv, matmul_call *c);

static int parse_matmul(napi_env env, napi_callback_info info, matmul_call *c) {
    size_t argc = 9;
    napi_value argv[9];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    return parse_matmul_argv(env, argv, c);
}

static int parse_matmul_argv(napi_env env, napi_value *argv, matmul_call *c) {
    const tg_format *f;
    long long m;
    tg_typed_view x;
    if (!get_isa(env, argv[0], &c->isa)) return 0;
    if (!get_weight(env, argv + 1, &c->w, &f)) return 0;
    if (!tg_arg_typed(env, argv[5], "x", napi_float32_array, "Float32Array", &x)) return 0;
    if (!tg_arg_int(env, argv[6], "m", 1, MAX_DIM, &m)) return 0;
    if ((long long)x.length != m * c->w.k) {
        char msg[200];
        snprintf(msg, sizeof(msg), "x: expected m x cols = %lld x %lld = %lld floats, got %lld", m, (long long)c->w.k,
                 m * c->w.k, (long long)x.length);
        napi_throw_range_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    napi_valuetype t;
    napi_typeof(env, argv[7], &t);
    c->mode = f->ternary ? TG_ACT_INT8 : TG_ACT_FLOAT;
    if (t == napi_string) {
        char mode[16] = {0};
        size_t len;
        napi_get_value_string_utf8(env, argv[7], mode, sizeof(mode), &len);
        if (strcmp(mode, "float") == 0) c->mode = TG_ACT_FLOAT;
        else if (strcmp(mode, "int8") == 0 && f->ternary) c->mode = TG_ACT_INT8;
        else if (strcmp(mode, "q8_0") == 0 && c->w.type == TG_Q8_0) c->mode = TG_ACT_Q8_0;
        else {
            napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT",
                                  strcmp(mode, "int8") == 0   ? "options.activations: \"int8\" needs a ternary weight (TQ1_0, TQ2_0, I2_S)"
                                  : strcmp(mode, "q8_0") == 0 ? "options.activations: \"q8_0\" needs a Q8_0 weight"
                                                              : "options.activations: expected \"int8\", \"q8_0\" or \"float\"");
            return 0;
        }
    } else if (t != napi_undefined) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "options.activations: expected \"int8\", \"q8_0\" or \"float\"");
        return 0;
    }
    if (c->mode == TG_ACT_INT8 && c->w.k > MAX_TERNARY_K)
        return tg_arg_fail(env, "weight.cols", "int8 activations support at most %lld columns, got %lld", MAX_TERNARY_K,
                    (long long)c->w.k);
    c->x = x.data;
    c->m = m;
    napi_typeof(env, argv[8], &t);
    if (t == napi_undefined || t == napi_null) {
        c->out = make_typed(env, napi_float32_array, (size_t)(m * c->w.n), 4, (void **)&c->y);
    } else {
        tg_typed_view out;
        if (!tg_arg_typed(env, argv[8], "options.out", napi_float32_array, "Float32Array", &out)) return 0;
        if ((long long)out.length != m * c->w.n)
            return tg_arg_fail(env, "options.out", "expected m x rows = %lld floats, got %lld", m * c->w.n,
                        (long long)out.length);
        c->out = argv[8];
        c->y = out.data;
    }
    /* the output must not alias the inputs: kernels read x while writing y */
    const char *xb = (const char *)c->x, *yb = (const char *)c->y;
    if (yb < xb + x.length * 4 && xb < yb + m * c->w.n * 4)
        return tg_arg_fail(env, "options.out", "must not overlap x%.0lld%.0lld", 0, 0);
    return 1;
}

static napi_value js_matmul(napi_env env, napi_callback_info info) {
    matmul_call c;
    if (!parse_matmul(env, info, &c)) return NULL;
    const char *err = tg_matmul(c.isa, &c.w, c.x, c.m, c.mode, c.y);
    if (err) {
        napi_throw_error(env, "ERR_TRITGATE_KERNEL", err);
        return NULL;
    }
    return c.out;
}

/* matmulShared(isa, weights: [type, data, rows, cols][], x, m, activations, outs: Float32Array[]):
 * each weight is checked exactly as matmul checks it; the outputs must not overlap each other. */
static napi_value js_matmul_shared(napi_env env, napi_callback_info info) {
    size_t argc = 6;
    napi_value argv[6];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    uint32_t count = 0, outs = 0;
    bool is_array = false;
    napi_is_array(env, argv[1], &is_array);
    if (!is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || count < 1 || count > TG_MAX_SHARED)
        return tg_arg_fail(env, "weights", "expected an array of 1 to %lld weights%.0lld", TG_MAX_SHARED, 0), NULL;
    napi_is_array(env, argv[5], &is_array);
    if (!is_array || napi_get_array_length(env, argv[5], &outs) != napi_ok || outs != count)
        return tg_arg_fail(env, "outs", "expected an array of %lld outputs, one per weight%.0lld", count, 0), NULL;
    matmul_call c[TG_MAX_SHARED];
    tg_weight w[TG_MAX_SHARED];
    float *y[TG_MAX_SHARED];
    for (uint32_t i = 0; i < count; i++) {
        napi_value weight, one[9];
        napi_get_element(env, argv[1], i, &weight);
        napi_is_array(env, weight, &is_array);
        uint32_t fields = 0;
        if (!is_array || napi_get_array_length(env, weight, &fields) != napi_ok || fields != 4)
            return tg_arg_fail(env, "weights", "element %lld: expected [type, data, rows, cols]%.0lld", i, 0), NULL;
        one[0] = argv[0];
        for (uint32_t f = 0; f < 4; f++) napi_get_element(env, weight, f, &one[1 + f]);
        one[5] = argv[2], one[6] = argv[3], one[7] = argv[4];
        napi_get_element(env, argv[5], i, &one[8]);
        napi_valuetype t;
        napi_typeof(env, one[8], &t);
        if (t == napi_undefined || t == napi_null) return tg_arg_fail(env, "outs", "element %lld is missing%.0lld", i, 0), NULL;
        if (!parse_matmul_argv(env, one, &c[i])) return NULL;
        if (c[i].mode != c[0].mode)
            return tg_arg_fail(env, "weights", "element %lld: weights with different activations cannot share a call%.0lld", i, 0),
                   NULL;
        if (c[i].w.k != c[0].w.k)
            return tg_arg_fail(env, "weights", "element %lld: expected %lld columns like the first", i, c[0].w.k), NULL;
        for (uint32_t j = 0; j < i; j++) {
            const char *a = (const char *)c[i].y, *b = (const char *)c[j].y;
            if (a < b + c[j].m * c[j].w.n * 4 && b < a + c[i].m * c[i].w.n * 4)
                return tg_arg_fail(env, "outs", "element %lld overlaps element %lld", i, j), NULL;
        }
        w[i] = c[i].w, y[i] = c[i].y;
    }
    const char *err = tg_matmul_shared(c[0].isa, w, (int)count, c[0].x, c[0].m, c[0].mode, y);
    if (err) {
        napi_throw_error(env, "ERR_TRITGATE_KERNEL", err);
        return NULL;
    }
    return argv[5];
}

typedef struct {
    matmul_call call;
    napi_async_work work;
    napi_deferred deferred;
    napi_ref keep[3]; /* weight data, x, out: alive until the work completes */
    const char *error;
} async_matmul;

static void async_execute(napi_env env, void *data) {
    (void)env;
    async_matmul *job = data;
    job->error = tg_matmul(job->call.isa, &job->call.w, job->call.x, job->call.m, job->call.mode, job->call.y);
}

static void async_complete(napi_env env, napi_status status, void *data) {
    async_matmul *job = data;
    napi_value out;
    napi_get_reference_value(env, job->keep[2], &out);
    if (status != napi_ok || job->error) {
        napi_value msg, err;
        napi_create_string_utf8(env, job->error ? job->error : "matmul was cancelled", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &err);
        napi_reject_deferred(env, job->deferred, err);
    } else {
        napi_resolve_deferred(env, job->deferred, out);
    }
    for (int i = 0; i < 3; i++) napi_delete_reference(env, job->keep[i]);
    napi_delete_async_work(env, job->work);
    free(job);
}

static napi_value js_matmul_async(napi_env env, napi_callback_info info) {
    size_t argc = 9;
    napi_value argv[9];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    async_matmul *job = calloc(1, sizeof(*job));
    if (!job) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    if (!parse_matmul(env, info, &job->call)) {
        free(job);
        return NULL;
    }
    napi_value promise, name;
    napi_create_reference(env, argv[2], 1, &job->keep[0]);
    napi_create_reference(env, argv[5], 1, &job->keep[1]);
    napi_create_reference(env, job->call.out, 1, &job->keep[2]);
    napi_create_promise(env, &job->deferred, &promise);
    napi_create_string_utf8(env, "tritgate.matmul", NAPI_AUTO_LENGTH, &name);
    napi_create_async_work(env, NULL, name, async_execute, async_complete, job, &job->work);
    napi_queue_async_work(env, job->work);
    return promise;
}

/* ---------------- formats ---------------- */

/* quantize(type, values: Float32Array, rows, cols, absmean: boolean) -> Uint8Array */
static napi_value js_quantize(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_format *f;
    tg_typed_view x;
    long long n, k;
    bool absmean = false;
    if (!get_format(env, argv[0], "type", &f)) return NULL;
    if (f->type == TG_Q6_K) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "type: Q6_K is read only (tritgate runs it, it does not write it)");
        return NULL;
    }
    if (!tg_arg_typed(env, argv[1], "values", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!tg_arg_int(env, argv[2], "rows", 1, MAX_DIM, &n)) return NULL;
    if (!tg_arg_int(env, argv[3], "cols", 1, MAX_DIM, &k)) return NULL;
    if (!check_shape(env, f, n, k)) return NULL;
    if ((long long)x.length != n * k) {
        tg_arg_fail(env, "values", "expected rows x cols = %lld floats, got %lld", n * k, (long long)x.length);
        return NULL;
    }
    napi_get_value_bool(env, argv[4], &absmean);
    const float *src = x.data;
    float *tern = NULL;
    if (absmean) {
        if (!f->ternary) {
            napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "options.absmean: only for ternary types");
            return NULL;
        }
        tern = malloc(sizeof(float) * (size_t)(n * k));
        if (!tern) {
            napi_throw_error(env, NULL, "out of memory");
            return NULL;
        }
        tg_ternarize_absmean(src, n * k, tern);
        src = tern;
    }
    void *out;
    napi_value result = make_typed(env, napi_uint8_array, (size_t)tg_tensor_bytes(f->type, n, k), 1, &out);
    tg_quantize(f->type, src, n, k, out);
    free(tern);
    return result;
}

/* dequantize(type, data, rows, cols) -> Float32Array */
static napi_value js_dequantize(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_weight w;
    const tg_format *f;
    if (!get_weight(env, argv, &w, &f)) return NULL;
    void *out;
    napi_value result = make_typed(env, napi_float32_array, (size_t)(w.n * w.k), 4, &out);
    tg_dequantize_rows(default_isa, w.type, w.data, w.n, w.k, 0, w.n, out);
    return result;
}

/* dequantizeRows(type, data, rows, cols, ids, out) -> out: row ids[i] of the weight at out[i * cols] (an
 * embedding lookup for a whole step in one crossing, no array per row) */
static napi_value js_dequantize_rows(napi_env env, napi_callback_info info) {
    size_t argc = 6;
    napi_value argv[6];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_weight w;
    const tg_format *f;
    tg_typed_view ids, out;
    if (!get_weight(env, argv, &w, &f)) return NULL;
    if (!tg_arg_typed(env, argv[4], "ids", napi_int32_array, "Int32Array", &ids)) return NULL;
    if (!tg_arg_typed(env, argv[5], "out", napi_float32_array, "Float32Array", &out)) return NULL;
    const int32_t *id = ids.data;
    if ((long long)out.length != (long long)ids.length * w.k)
        return tg_arg_fail(env, "out", "expected ids x cols = %lld floats, got %lld", (long long)ids.length * w.k,
                           (long long)out.length),
               NULL;
    for (size_t i = 0; i < ids.length; i++)
        if (id[i] < 0 || id[i] >= w.n)
            return tg_arg_fail(env, "ids", "row %lld is outside the weight's %lld rows", (long long)id[i], w.n), NULL;
    float *o = out.data;
    for (size_t i = 0; i < ids.length; i++) tg_dequantize_rows(default_isa, w.type, w.data, w.n, w.k, id[i], id[i] + 1, o + i * w.k);
    return argv[5];
}

/* quantizeActivations(isa, x, m, k) -> [Int8Array q, Float32Array scale] */
static napi_value js_quantize_activations(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_isa_ops *isa;
    tg_typed_view x;
    long long m, k;
    if (!get_isa(env, argv[0], &isa)) return NULL;
    if (!tg_arg_typed(env, argv[1], "x", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!tg_arg_int(env, argv[2], "m", 1, MAX_DIM, &m)) return NULL;
    if (!tg_arg_int(env, argv[3], "k", 1, MAX_DIM, &k)) return NULL;
    if ((long long)x.length != m * k) {
        tg_arg_fail(env, "x", "expected m x k = %lld floats, got %lld", m * k, (long long)x.length);
        return NULL;
    }
    void *q, *scale;
    napi_value result, qv = make_typed(env, napi_int8_array, (size_t)(m * k), 1, &q);
    napi_value sv = make_typed(env, napi_float32_array, (size_t)m, 4, &scale);
    tg_quantize_activations(isa, x.data, m, k, q, scale);
    napi_create_array_with_length(env, 2, &result);
    napi_set_element(env, result, 0, qv);
    napi_set_element(env, result, 1, sv);
    return result;
}

/* ---------------- float steps between matmuls (floatops.c) ---------------- */

static int get_double(napi_env env, napi_value v, const char *name, double *out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_number || napi_get_value_double(env, v, out) != napi_ok || !isfinite(*out))
        return tg_arg_fail(env, name, "expected a finite number%.0lld%.0lld", 0, 0);
    return 1;
}

static int same_length(napi_env env, const char *name, const tg_typed_view *v, long long want) {
    if ((long long)v->length == want) return 1;
    return tg_arg_fail(env, name, "expected %lld floats, got %lld", want, (long long)v->length);
}

/* rmsNorm(x, weight, rows, eps, out) */
static napi_value js_rms_norm(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_typed_view x, weight, out;
    long long rows;
    double eps;
    if (!tg_arg_typed(env, argv[0], "x", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!tg_arg_typed(env, argv[1], "weight", napi_float32_array, "Float32Array", &weight)) return NULL;
    if (!tg_arg_int(env, argv[2], "rows", 1, MAX_DIM, &rows)) return NULL;
    if (!get_double(env, argv[3], "eps", &eps)) return NULL;
    if (!tg_arg_typed(env, argv[4], "out", napi_float32_array, "Float32Array", &out)) return NULL;
    long long n = (long long)weight.length;
    if (n == 0) return tg_arg_fail(env, "weight", "expected at least one float%.0lld%.0lld", 0, 0), NULL;
    if ((long long)x.length < rows * n) {
        tg_arg_fail(env, "x", "expected at least rows x weight.length = %lld floats, got %lld", rows * n,
                    (long long)x.length);
        return NULL;
    }
    if ((long long)out.length < rows * n) {
        tg_arg_fail(env, "out", "expected at least %lld floats, got %lld", rows * n, (long long)out.length);
        return NULL;
    }
    tg_rms_norm(x.data, weight.data, rows, n, eps, out.data);
    return argv[4];
}

/* gatedActivation(kind, gate, up, out): kind 0 relu2, 1 silu */
static napi_value js_gated_activation(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    long long kind;
    tg_typed_view gate, up, out;
    if (!tg_arg_int(env, argv[0], "kind", TG_ACT_RELU2, TG_ACT_SILU, &kind)) return NULL;
    if (!tg_arg_typed(env, argv[1], "gate", napi_float32_array, "Float32Array", &gate)) return NULL;
    if (!tg_arg_typed(env, argv[2], "up", napi_float32_array, "Float32Array", &up)) return NULL;
    if (!tg_arg_typed(env, argv[3], "out", napi_float32_array, "Float32Array", &out)) return NULL;
    long long n = (long long)gate.length;
    if (!same_length(env, "up", &up, n) || !same_length(env, "out", &out, n)) return NULL;
    tg_gated_activation((int)kind, gate.data, up.data, n, out.data);
    return argv[3];
}

/* addInPlace(x, delta): x += delta, elementwise */
static napi_value js_add_in_place(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_typed_view x, delta;
    if (!tg_arg_typed(env, argv[0], "x", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!tg_arg_typed(env, argv[1], "delta", napi_float32_array, "Float32Array", &delta)) return NULL;
    if (!same_length(env, "delta", &delta, (long long)x.length)) return NULL;
    tg_add_in_place(x.data, delta.data, (int64_t)x.length);
    return argv[0];
}

/* scaleInPlace(x, scale): x *= scale */
static napi_value js_scale_in_place(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_typed_view x;
    double scale;
    if (!tg_arg_typed(env, argv[0], "x", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!get_double(env, argv[1], "scale", &scale)) return NULL;
    tg_scale_in_place(x.data, scale, (int64_t)x.length);
    return argv[0];
}

/* an optional Float64Array of at least n values: null and undefined give NULL */
static int optional_doubles(napi_env env, napi_value v, const char *name, long long n, double **out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_null || t == napi_undefined) {
        *out = NULL;
        return 1;
    }
    tg_typed_view view;
    if (!tg_arg_typed(env, v, name, napi_float64_array, "Float64Array, null or undefined", &view)) return 0;
    if ((long long)view.length < n)
        return tg_arg_fail(env, name, "expected at least %lld values, got %lld", n, (long long)view.length);
    *out = view.data;
    return 1;
}

/* logitStats(isa, logits, n, stats, x, w, sumExp): stats = [max, argmax, sumExp] of the first n clean logits;
 * the clean logits into x and exp(x - max) into w unless they are null; with sumExp false, no exps at all
 * (stats[2] NaN, w untouched). Each isa has its path (the same bits). */
static napi_value js_logit_stats(napi_env env, napi_callback_info info) {
    size_t argc = 7;
    napi_value argv[7];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_isa_ops *isa;
    tg_typed_view logits, stats;
    long long n;
    double *x, *w;
    if (!get_isa(env, argv[0], &isa)) return NULL;
    if (!tg_arg_typed(env, argv[1], "logits", napi_float32_array, "Float32Array", &logits)) return NULL;
    if (!tg_arg_int(env, argv[2], "n", 0, (long long)logits.length, &n)) return NULL;
    if (!tg_arg_typed(env, argv[3], "stats", napi_float64_array, "Float64Array", &stats)) return NULL;
    if (stats.length < 3) {
        tg_arg_fail(env, "stats", "expected at least %lld values, got %lld", 3, (long long)stats.length);
        return NULL;
    }
    if (!optional_doubles(env, argv[4], "x", n, &x) || !optional_doubles(env, argv[5], "w", n, &w)) return NULL;
    bool with_sum;
    if (napi_get_value_bool(env, argv[6], &with_sum) != napi_ok) {
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", "sumExp: expected a boolean");
        return NULL;
    }
    tg_logit_stats_result r;
    const tg_logit_path path = isa == &tg_isa_avx512 ? TG_LOGITS_AVX512
                               : isa == &tg_isa_avx2 ? TG_LOGITS_AVX2
                                                     : TG_LOGITS_PLAIN;
    tg_logit_stats(path, logits.data, n, x, w, with_sum, &r);
    double *out = stats.data;
    out[0] = r.max;
    out[1] = (double)r.argmax;
    out[2] = r.sum_exp;
    return NULL;
}

/* attention(isa, q, k, v, keys[], values[], spans, heads, kvHeads, headDim, out) -> out; spans holds
 * [first, rows, start, positions] per sequence (keys[i], values[i] its cache planes: all Float32Arrays
 * for an fp32 cache or all Uint16Arrays for an fp16 one, as keys[0] is); k and v are the step's rows,
 * stored in the caches before attending */
static napi_value js_attention(napi_env env, napi_callback_info info) {
    size_t argc = 11;
    napi_value argv[11];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_isa_ops *isa;
    tg_typed_view q, k, v, spans, out;
    long long heads, kv_heads, head_dim;
    uint32_t count = 0, values_count = 0;
    bool is_array = false;
    if (!get_isa(env, argv[0], &isa)) return NULL;
    if (!tg_arg_typed(env, argv[1], "q", napi_float32_array, "Float32Array", &q)) return NULL;
    if (!tg_arg_typed(env, argv[2], "k", napi_float32_array, "Float32Array", &k)) return NULL;
    if (!tg_arg_typed(env, argv[3], "v", napi_float32_array, "Float32Array", &v)) return NULL;
    napi_is_array(env, argv[4], &is_array);
    if (!is_array || napi_get_array_length(env, argv[4], &count) != napi_ok || count < 1 || count > 4096)
        return tg_arg_fail(env, "keys", "expected an array of 1..4096 cache planes%.0lld%.0lld", 0, 0), NULL;
    napi_is_array(env, argv[5], &is_array);
    if (!is_array || napi_get_array_length(env, argv[5], &values_count) != napi_ok || values_count != count)
        return tg_arg_fail(env, "values", "expected an array of %lld cache planes (one per keys)%.0lld", count, 0),
               NULL;
    if (!tg_arg_typed(env, argv[6], "spans", napi_int32_array, "Int32Array", &spans)) return NULL;
    if (!tg_arg_int(env, argv[7], "heads", 1, 4096, &heads)) return NULL;
    if (!tg_arg_int(env, argv[8], "kvHeads", 1, 4096, &kv_heads)) return NULL;
    if (!tg_arg_int(env, argv[9], "headDim", 1, 65536, &head_dim)) return NULL;
    if (!tg_arg_typed(env, argv[10], "out", napi_float32_array, "Float32Array", &out)) return NULL;
    if (heads % kv_heads != 0)
        return tg_arg_fail(env, "kvHeads", "%lld query heads cannot share %lld KV heads evenly", heads, kv_heads), NULL;
    const long long width = heads * head_dim, kv_width = kv_heads * head_dim, qlen = (long long)q.length;
    if (qlen % width != 0)
        return tg_arg_fail(env, "q", "expected rows x heads x headDim floats (a multiple of %lld), got %lld", width,
                           qlen),
               NULL;
    const long long batch_rows = qlen / width;
    if ((long long)k.length != batch_rows * kv_width)
        return tg_arg_fail(env, "k", "expected %lld floats (a row of kvHeads x headDim per q row), got %lld",
                           batch_rows * kv_width, (long long)k.length),
               NULL;
    if ((long long)v.length != batch_rows * kv_width)
        return tg_arg_fail(env, "v", "expected %lld floats (as k), got %lld", batch_rows * kv_width,
                           (long long)v.length),
               NULL;
    if ((long long)out.length != qlen)
        return tg_arg_fail(env, "out", "expected %lld floats, got %lld", qlen, (long long)out.length), NULL;
    if ((long long)spans.length != 4LL * count)
        return tg_arg_fail(env, "spans", "expected [first, rows, start, positions] per sequence: %lld ints, got %lld",
                           4LL * count, (long long)spans.length),
               NULL;
    /* the cache type, from the first plane: every other plane must be the same kind of array */
    napi_value first_keys;
    napi_typedarray_type plane_type = napi_float32_array;
    bool is_typed = false;
    napi_get_element(env, argv[4], 0, &first_keys);
    napi_is_typedarray(env, first_keys, &is_typed);
    if (is_typed) napi_get_typedarray_info(env, first_keys, &plane_type, NULL, NULL, NULL, NULL);
    if (!is_typed || (plane_type != napi_float32_array && plane_type != napi_uint16_array))
        return tg_arg_fail(env, "keys[0]", "expected a Float32Array (fp32 cache) or Uint16Array (fp16)%.0lld%.0lld", 0,
                           0),
               NULL;
    const tg_kv_type kv_type = plane_type == napi_uint16_array ? TG_KV_F16 : TG_KV_F32;
    const char *plane_name = kv_type == TG_KV_F16 ? "Uint16Array (as keys[0])" : "Float32Array (as keys[0])";
    tg_attention_seq *seqs = malloc(sizeof(tg_attention_seq) * count);
    if (!seqs) return napi_throw_error(env, "ERR_TRITGATE_KERNEL", "attention: out of memory"), NULL;
    const int32_t *span = spans.data;
    for (uint32_t i = 0; i < count; i++) {
        /* names are formatted only for an error: a batch-8 step makes 6 of these calls */
        tg_typed_view keys, values;
        const long long first = span[4 * i], rows = span[4 * i + 1], start = span[4 * i + 2],
                        positions = span[4 * i + 3];
        if (first < 0 || rows < 1 || start < 0 || first + rows > batch_rows) {
            tg_arg_fail_at(env, "spans", i, "rows %lld.. of the batch are not within q's %lld rows", first, batch_rows);
            goto fail;
        }
        for (uint32_t j = 0; j < i; j++)
            if (first < seqs[j].first + seqs[j].rows && seqs[j].first < first + rows) {
                tg_arg_fail_at(env, "spans", i, "rows %lld.. overlap spans[%lld]'s (each row is stored in one cache)",
                               first, (long long)j);
                goto fail;
            }
        if (positions % TG_ATTN_BLOCK != 0 || positions < start + rows) {
            tg_arg_fail_at(env, "spans", i, "positions %lld must be a multiple of 16 and hold start + rows = %lld",
                           positions, start + rows);
            goto fail;
        }
        const long long plane = positions * kv_width;
        if (!tg_arg_typed_element(env, argv[4], i, "keys", plane_type, plane_name, &keys)) goto fail;
        if ((long long)keys.length != plane) {
            tg_arg_fail_at(env, "keys", i, "expected %lld elements (positions x kvHeads x headDim), got %lld", plane,
                           (long long)keys.length);
            goto fail;
        }
        if (!tg_arg_typed_element(env, argv[5], i, "values", plane_type, plane_name, &values)) goto fail;
        if ((long long)values.length != plane) {
            tg_arg_fail_at(env, "values", i, "expected %lld elements (positions x kvHeads x headDim), got %lld", plane,
                           (long long)values.length);
            goto fail;
        }
        seqs[i] = (tg_attention_seq){keys.data, values.data, positions, first, rows, start};
    }
    tg_attention_args a = {q.data, k.data, v.data, seqs, count, heads, kv_heads, head_dim, kv_type, out.data};
    tg_attention(isa, &a);
    free(seqs);
    return argv[10];
fail:
    free(seqs);
    return NULL;
}

/* rope(x, rows, heads, headDim, angles): angles holds [rows][half][cos, sin] (floatops.c) */
static napi_value js_rope(napi_env env, napi_callback_info info) {
    size_t argc = 5;
    napi_value argv[5];
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    tg_typed_view x, angles;
    long long rows, heads, head_dim;
    if (!tg_arg_typed(env, argv[0], "x", napi_float32_array, "Float32Array", &x)) return NULL;
    if (!tg_arg_int(env, argv[1], "rows", 1, MAX_DIM, &rows)) return NULL;
    if (!tg_arg_int(env, argv[2], "heads", 1, 4096, &heads)) return NULL;
    if (!tg_arg_int(env, argv[3], "headDim", 1, 65536, &head_dim)) return NULL;
    if (!tg_arg_typed(env, argv[4], "angles", napi_float64_array, "Float64Array", &angles)) return NULL;
    if ((long long)x.length < rows * heads * head_dim)
        return tg_arg_fail(env, "x", "expected at least rows x heads x headDim = %lld floats, got %lld",
                           rows * heads * head_dim, (long long)x.length),
               NULL;
    const long long half = (long long)angles.length / (2 * rows);
    if ((long long)angles.length != 2 * rows * half || 2 * half > head_dim)
        return tg_arg_fail(env, "angles", "expected rows x 2 x (at most headDim / 2) doubles, got %lld (rows %lld)",
                           (long long)angles.length, rows),
               NULL;
    tg_rope(x.data, rows, heads, head_dim, half, angles.data);
    return argv[0];
}

/* tensorBytes(type, rows, cols) -> number (-1 when cols does not fit the block) */
static napi_value js_tensor_bytes(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_format *f;
    long long n, k;
    if (!get_format(env, argv[0], "type", &f)) return NULL;
    if (!tg_arg_int(env, argv[1], "rows", 1, MAX_DIM, &n)) return NULL;
    if (!tg_arg_int(env, argv[2], "cols", 1, MAX_DIM, &k)) return NULL;
    napi_create_double(env, (double)tg_tensor_bytes(f->type, n, k), &result);
    return result;
}

/* ---------------- machine ---------------- */

static void set_bool(napi_env env, napi_value obj, const char *key, int v) {
    napi_value b;
    napi_get_boolean(env, v != 0, &b);
    napi_set_named_property(env, obj, key, b);
}

static void set_string(napi_env env, napi_value obj, const char *key, const char *v) {
    napi_value s;
    napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, obj, key, s);
}

/* hardware() -> { isa, isaError, available[], features{}, threads } */
static napi_value js_hardware(napi_env env, napi_callback_info info) {
    (void)info;
    tg_cpu_features f = tg_cpu_detect();
    napi_value report, features, available, num;
    napi_create_object(env, &report);
    napi_create_object(env, &features);
    set_bool(env, features, "avx2", f.avx2);
    set_bool(env, features, "fma", f.fma);
    set_bool(env, features, "f16c", f.f16c);
    set_bool(env, features, "avx512f", f.avx512f);
    set_bool(env, features, "avx512bw", f.avx512bw);
    set_bool(env, features, "avx512vl", f.avx512vl);
    set_bool(env, features, "avx512vnni", f.avx512vnni);
    set_bool(env, features, "avxvnni", f.avxvnni);
    napi_set_named_property(env, report, "features", features);
    napi_create_array(env, &available);
    const char *names[] = {"scalar", "avx2", "avx512"};
    uint32_t count = 0;
    for (int i = 0; i < 3; i++)
        if (tg_isa_by_name(names[i])) {
            napi_value s;
            napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s);
            napi_set_element(env, available, count++, s);
        }
    napi_set_named_property(env, report, "available", available);
    if (default_isa) set_string(env, report, "isa", default_isa->name);
    else set_string(env, report, "isaError", default_isa_error);
    napi_create_int32(env, tg_pool_threads(), &num);
    napi_set_named_property(env, report, "threads", num);
    napi_create_int32(env, tg_physical_cores(), &num);
    napi_set_named_property(env, report, "physicalCores", num);
    return report;
}

/* fn(threads) for a JS call with one `threads` argument (1..256), returning what fn returns */
static napi_value call_with_threads(napi_env env, napi_callback_info info, int (*fn)(int)) {
    size_t argc = 1;
    napi_value argv[1], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    long long n = 1;
    if (!tg_arg_int(env, argv[0], "threads", 1, 256, &n)) return NULL;
    napi_create_int32(env, fn((int)n), &result);
    return result;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
    return call_with_threads(env, info, tg_pool_set_threads);
}

static napi_value js_take_most_jobs(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value result;
    napi_create_int32(env, tg_pool_take_most_jobs(), &result);
    return result;
}

static napi_value js_park_threads(napi_env env, napi_callback_info info) {
    (void)info;
    tg_pool_park();
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    return undefined;
}

/* setActiveThreads(n) -> the threads jobs now use; poolThreadTasks() -> tasks run per pool thread */
static napi_value js_set_active_threads(napi_env env, napi_callback_info info) {
    return call_with_threads(env, info, tg_pool_set_active);
}

static napi_value js_pool_thread_tasks(napi_env env, napi_callback_info info) {
    (void)info;
    int threads = tg_pool_threads();
    napi_value list;
    napi_create_array_with_length(env, (size_t)threads, &list);
    for (int i = 0; i < threads; i++) {
        napi_value n;
        napi_create_double(env, (double)tg_pool_thread_tasks(i), &n);
        napi_set_element(env, list, (uint32_t)i, n);
    }
    return list;
}

/* readBandwidth(isa, bytes, passes) -> bytes per second */
static napi_value js_read_bandwidth(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3], result;
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
    const tg_isa_ops *isa;
    long long bytes, passes;
    if (!get_isa(env, argv[0], &isa)) return NULL;
    if (!tg_arg_int(env, argv[1], "bytes", 1 << 20, 1LL << 36, &bytes)) return NULL;
    if (!tg_arg_int(env, argv[2], "passes", 1, 1000, &passes)) return NULL;
    double bw = tg_read_bandwidth(isa, bytes, (int)passes);
    if (bw < 0) {
        napi_throw_error(env, "ERR_TRITGATE_KERNEL", "readBandwidth: allocation failed or the pass was wrong");
        return NULL;
    }
    napi_create_double(env, bw, &result);
    return result;
}

/* ---------------- module ---------------- */

static void choose_default_isa(void) {
    const char *forced = getenv("TRITGATE_ISA");
    if (!forced || !*forced) {
        default_isa = tg_isa_best();
        return;
    }
    default_isa = tg_isa_by_name(forced);
    if (!default_isa)
        snprintf(default_isa_error, sizeof(default_isa_error),
                 "TRITGATE_ISA=%s: not a path this CPU can run (use scalar, avx2 or avx512; see `tritgate hw`)",
                 forced);
}

/* A worker thread's environment is ending: the scratch it used as a job's caller goes with it. */
static void release_thread_scratch(void *unused) { tg_pool_release_caller_scratch(); }

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
    choose_default_isa();
    napi_add_env_cleanup_hook(env, release_thread_scratch, NULL);
    napi_property_descriptor props[] = {
        {"matmul", NULL, js_matmul, NULL, NULL, NULL, napi_enumerable, NULL},
        {"matmulShared", NULL, js_matmul_shared, NULL, NULL, NULL, napi_enumerable, NULL},
        {"matmulAsync", NULL, js_matmul_async, NULL, NULL, NULL, napi_enumerable, NULL},
        {"quantize", NULL, js_quantize, NULL, NULL, NULL, napi_enumerable, NULL},
        {"dequantize", NULL, js_dequantize, NULL, NULL, NULL, napi_enumerable, NULL},
        {"dequantizeRows", NULL, js_dequantize_rows, NULL, NULL, NULL, napi_enumerable, NULL},
        {"quantizeActivations", NULL, js_quantize_activations, NULL, NULL, NULL, napi_enumerable, NULL},
        {"attention", NULL, js_attention, NULL, NULL, NULL, napi_enumerable, NULL},
        {"rope", NULL, js_rope, NULL, NULL, NULL, napi_enumerable, NULL},
        {"rmsNorm", NULL, js_rms_norm, NULL, NULL, NULL, napi_enumerable, NULL},
        {"gatedActivation", NULL, js_gated_activation, NULL, NULL, NULL, napi_enumerable, NULL},
        {"addInPlace", NULL, js_add_in_place, NULL, NULL, NULL, napi_enumerable, NULL},
        {"scaleInPlace", NULL, js_scale_in_place, NULL, NULL, NULL, napi_enumerable, NULL},
        {"logitStats", NULL, js_logit_stats, NULL, NULL, NULL, napi_enumerable, NULL},
        {"tensorBytes", NULL, js_tensor_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
        {"hardware", NULL, js_hardware, NULL, NULL, NULL, napi_enumerable, NULL},
        {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
        {"parkThreads", NULL, js_park_threads, NULL, NULL, NULL, napi_enumerable, NULL},
        {"setActiveThreads", NULL, js_set_active_threads, NULL, NULL, NULL, napi_enumerable, NULL},
        {"poolThreadTasks", NULL, js_pool_thread_tasks, NULL, NULL, NULL, napi_enumerable, NULL},
        {"takeMostJobsAtOnce", NULL, js_take_most_jobs, NULL, NULL, NULL, napi_enumerable, NULL},
        {"readBandwidth", NULL, js_read_bandwidth, NULL, NULL, NULL, napi_enumerable, NULL},
    };
    napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
    tg_train_register(env, exports);
    return exports;
}
