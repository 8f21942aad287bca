/*
 * Which paths this CPU can run, decided once at load. __builtin_cpu_supports also checks that
 * the OS saves the wide registers, so a feature it reports is safe to use.
 */
#include <string.h>

#include "tg.h"

tg_cpu_features tg_cpu_detect(void) {
    __builtin_cpu_init();
    tg_cpu_features f = {
        .avx2 = __builtin_cpu_supports("avx2"),
        .fma = __builtin_cpu_supports("fma"),
        .f16c = __builtin_cpu_supports("f16c"),
        .avx512f = __builtin_cpu_supports("avx512f"),
        .avx512bw = __builtin_cpu_supports("avx512bw"),
        .avx512vl = __builtin_cpu_supports("avx512vl"),
        .avx512vnni = __builtin_cpu_supports("avx512vnni"),
        .avxvnni = __builtin_cpu_supports("avxvnni"),
    };
    return f;
}

static int can_run(const tg_isa_ops *isa) {
    tg_cpu_features f = tg_cpu_detect();
    if (isa == &tg_isa_scalar) return 1;
    int avx2 = f.avx2 && f.fma && f.f16c;
    if (isa == &tg_isa_avx2) return avx2;
    if (isa == &tg_isa_avx512) return avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
    return 0;
}

const tg_isa_ops *tg_isa_by_name(const char *name) {
    const tg_isa_ops *all[] = {&tg_isa_scalar, &tg_isa_avx2, &tg_isa_avx512};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0) return can_run(all[i]) ? all[i] : NULL;
    return NULL;
}

const tg_isa_ops *tg_isa_best(void) {
    if (can_run(&tg_isa_avx512)) return &tg_isa_avx512;
    if (can_run(&tg_isa_avx2)) return &tg_isa_avx2;
    return &tg_isa_scalar;
}
