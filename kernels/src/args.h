/* Argument checks shared by the N-API entry points (args.c). */
#ifndef TG_ARGS_H
#define TG_ARGS_H

#include <node_api.h>
#include <stdint.h>
#include <stddef.h>

typedef struct {
    void *data;
    size_t length; /* elements */
    size_t byte_offset;
} tg_typed_view;

/* Throws a TypeError "name: <fmt with a, b>"; returns 0. */
int tg_arg_fail(napi_env env, const char *name, const char *fmt, long long a, long long b);
/* An integer in [lo, hi]. */
int tg_arg_int(napi_env env, napi_value v, const char *name, long long lo, long long hi, long long *out);
/* A typed array of the wanted element type. */
int tg_arg_typed(napi_env env, napi_value v, const char *name, napi_typedarray_type want, const char *want_name,
                 tg_typed_view *out);
/* As tg_arg_fail, naming the argument "base[index]" (formatted only when it fails). */
int tg_arg_fail_at(napi_env env, const char *base, uint32_t index, const char *fmt, long long a, long long b);
/* Element `index` of a JS array: a typed array of the wanted element type, named "base[index]" if not. */
int tg_arg_typed_element(napi_env env, napi_value array, uint32_t index, const char *base, napi_typedarray_type want,
                         const char *want_name, tg_typed_view *out);

#endif
