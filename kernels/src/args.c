/* Argument checks shared by the N-API entry points: each returns 0 after throwing a JS error
 * that names the argument. */
#include <node_api.h>
#include <stdio.h>

#include "args.h"

int tg_arg_fail(napi_env env, const char *name, const char *fmt, long long a, long long b) {
    char msg[512], detail[384];
    snprintf(detail, sizeof(detail), fmt, a, b);
    snprintf(msg, sizeof(msg), "%s: %s", name, detail);
    napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", msg);
    return 0;
}

int tg_arg_int(napi_env env, napi_value v, const char *name, long long lo, long long hi, long long *out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_number) return tg_arg_fail(env, name, "expected an integer%.0lld%.0lld", 0, 0);
    double d;
    napi_get_value_double(env, v, &d);
    if (d != d || d != (double)(long long)d) return tg_arg_fail(env, name, "expected an integer%.0lld%.0lld", 0, 0);
    if (d < (double)lo || d > (double)hi) return tg_arg_fail(env, name, "must be between %lld and %lld", lo, hi);
    *out = (long long)d;
    return 1;
}


int tg_arg_typed(napi_env env, napi_value v, const char *name, napi_typedarray_type want,
                     const char *want_name, tg_typed_view *out) {
    bool is_typed = false;
    napi_is_typedarray(env, v, &is_typed);
    napi_typedarray_type type = napi_int8_array;
    napi_value buffer;
    if (is_typed) napi_get_typedarray_info(env, v, &type, &out->length, &out->data, &buffer, &out->byte_offset);
    if (!is_typed || type != want) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: expected a %s", name, want_name);
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    return 1;
}

int tg_arg_fail_at(napi_env env, const char *base, uint32_t index, const char *fmt, long long a, long long b) {
    char name[64];
    snprintf(name, sizeof(name), "%s[%u]", base, index);
    return tg_arg_fail(env, name, fmt, a, b);
}

int tg_arg_typed_element(napi_env env, napi_value array, uint32_t index, const char *base, napi_typedarray_type want,
                         const char *want_name, tg_typed_view *out) {
    napi_value v;
    bool is_typed = false;
    napi_typedarray_type type = napi_int8_array;
    napi_value buffer;
    if (napi_get_element(env, array, index, &v) == napi_ok) napi_is_typedarray(env, v, &is_typed);
    if (is_typed) napi_get_typedarray_info(env, v, &type, &out->length, &out->data, &buffer, &out->byte_offset);
    if (!is_typed || type != want) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s[%u]: expected a %s", base, index, want_name);
        napi_throw_type_error(env, "ERR_TRITGATE_ARGUMENT", msg);
        return 0;
    }
    return 1;
}
