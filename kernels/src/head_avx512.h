/*
 * The one reduction the AVX-512 F16 heads share (head_avx512.c at M = 1, head_multi_avx512.c at
 * small M): a row's result must be the same bits on both, so both fold their accumulators here.
 * Include only from files built with the AVX-512 flags.
 */
#ifndef TG_HEAD_AVX512_H
#define TG_HEAD_AVX512_H

#include <immintrin.h>

/*
 * Lane i of the result is the sum of v_i's sixteen lanes, added in exactly the tree of
 * _mm512_reduce_add_ps (lane l with l + 8, then + 4, + 2, + 1), but for four vectors at once: 9
 * shuffles and 6 adds instead of four separate reductions' ~28 instructions. At nano's 256
 * columns a row is only 16 multiply-adds, so the separate reductions cost a third of the head.
 */
static inline __attribute__((always_inline)) __m128 head_reduce4_ps(__m512 v0, __m512 v1, __m512 v2, __m512 v3) {
    /* 256-bit halves: [v0 + 8, v1 + 8] and [v2 + 8, v3 + 8] */
    const __m512 p = _mm512_add_ps(_mm512_shuffle_f32x4(v0, v1, 0x44), _mm512_shuffle_f32x4(v0, v1, 0xEE));
    const __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(v2, v3, 0x44), _mm512_shuffle_f32x4(v2, v3, 0xEE));
    /* 128-bit block i: v_i's lanes l + (l + 4) */
    const __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x88), _mm512_shuffle_f32x4(p, q, 0xDD));
    /* within each block: l + (l + 2), then + (l + 1) */
    const __m512 t = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4E));
    const __m512 u = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), u));
}

#endif
