/*
 * The machine's int8 compute roof for the kernels bench: how many vpdpbusd (zmm, 64 int8
 * multiply-adds each) one core retires per second when nothing but the instruction itself
 * limits it. Sixteen independent accumulators hide the latency.
 *
 *   gcc -O3 -funroll-all-loops -mavx512f -mavx512bw -mavx512vnni bench/int8-peak.c -o /tmp/int8-peak
 *   /tmp/int8-peak            # one core; run two copies at once for two cores
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define ACCUMULATORS 16

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    (void)argv;
    const long iterations = 50000000;
    __m512i acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_set1_epi32(i);
    __m512i codes = _mm512_set1_epi8(1), x = _mm512_set1_epi8((char)argc);
    double t0 = seconds();
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], codes, x);
        __asm__ volatile("" : "+v"(x)); /* keeps the compiler from folding the loop */
    }
    double t = seconds() - t0;
    __m512i sum = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) sum = _mm512_add_epi32(sum, acc[i]);
    double per_second = (double)iterations * ACCUMULATORS / t;
    printf("{\"vpdpbusd_zmm_per_s\": %.4g, \"int8_gmacs_per_core\": %.1f, \"check\": %d}\n", per_second,
           per_second * 64 / 1e9, _mm512_reduce_add_epi32(sum));
    return 0;
}
