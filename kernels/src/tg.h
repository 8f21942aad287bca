/*
 * tritgate kernels: the shared contract between the ISA-neutral driver and the per-ISA files.
 *
 * Shape of the library (after ggml's quants): each weight format has a block struct and a
 * plain-C reference (formats.c, isa_scalar.c); isa_avx2.c and isa_avx512.c implement the same
 * operations with SIMD and must agree with the reference bit for bit on integer accumulations.
 * Only the per-ISA files are compiled with -m flags; everything else runs on any x86-64.
 */
#ifndef TG_H
#define TG_H

#include <stddef.h>
#include <stdint.h>

/* ggml's type ids, so GGUF tensors map 1:1 (I2_S is bitnet.cpp's id). */
typedef enum {
    TG_F32 = 0,
    TG_F16 = 1,
    TG_Q8_0 = 8,
    TG_Q6_K = 14,
    TG_TQ1_0 = 34,
    TG_TQ2_0 = 35,
    TG_I2_S = 36,
} tg_type;

#define TG_QK_K 256   /* TQ1_0 / TQ2_0 block length */
#define TG_QK8_0 32   /* Q8_0 block length */
#define TG_QK6_K 256  /* Q6_K super-block length */
#define TG_QK_I2S 128 /* I2_S block length (x86 layout) */
#define TG_GROUP 128  /* activation sums are kept per 128 values */
#define TG_PANEL_MT 12 /* activation rows per panel_dot_u8s8 call */

/*
 * Block structs exactly as ggml (and bitnet.cpp for I2_S) lay them out in GGUF. Kernels reach
 * block fields through these, never through byte offsets. They are packed: a tensor's data may
 * start at any byte (the addon only demands alignment of F32 and F16), so a block, and its fp16
 * scale, can sit at an odd address; packing makes the compiler read every field with unaligned-safe
 * loads. The fields are read in place, so the host must be little-endian like the files.
 */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tritgate kernels read GGUF blocks in place: little-endian hosts only"
#endif
#define TG_PACKED __attribute__((packed))

/* TQ2_0: weight 128h + 32n + m is the 2-bit code at bits 2n of qs[32h + m]. */
typedef struct TG_PACKED {
    uint8_t qs[64]; /* 2-bit codes, two halves of 128 weights */
    uint16_t d;     /* fp16 block scale */
} tg_block_tq2_0;

/* TQ1_0: trit n of qs[m] is weight 32n + m (m < 32) or 160 + 16n + (m - 32) (m >= 32); trit n
 * of qh[m] is weight 240 + 4n + m. */
typedef struct TG_PACKED {
    uint8_t qs[48]; /* 5 trits per byte */
    uint8_t qh[4];  /* 4 trits per byte (+1 padding trit) */
    uint16_t d;     /* fp16 block scale */
} tg_block_tq1_0;

/* I2_S (bitnet.cpp, x86 layout): weight 32n + m of a 128-block at bits 6 - 2n of qs[m]. The one
 * fp32 scale of the tensor follows the last row, not the blocks. */
typedef struct TG_PACKED {
    uint8_t qs[32];
} tg_block_i2_s;

typedef struct TG_PACKED {
    uint16_t d; /* fp16 block scale */
    int8_t qs[32];
} tg_block_q8_0;

/* Q6_K (read only: llama.cpp writes token_embd this way): 16 sub-blocks of 16 values, value
 * = d * scales[sub] * (q - 32) with a 6-bit q split into 4 low bits (ql) and 2 high bits (qh).
 * In each 128-value half h, for l < 32: value 32j + l takes the low nibble (j = 0, 1) or high
 * nibble (j = 2, 3) of ql[64h + l + 32 (j & 1)], bits 2j of qh[32h + l], and scale
 * scales[8h + 2j + l / 16]. */
typedef struct TG_PACKED {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d; /* fp16 super-block scale */
} tg_block_q6_k;

_Static_assert(sizeof(tg_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(tg_block_tq2_0) == 66, "TQ2_0 block is 66 bytes");
_Static_assert(sizeof(tg_block_tq1_0) == 54, "TQ1_0 block is 54 bytes");
_Static_assert(sizeof(tg_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(tg_block_i2_s) == TG_QK_I2S / 4, "I2_S block is 32 bytes");

/* Format facts: block length, bytes per block, and whether it is ternary. */
typedef struct {
    tg_type type;
    const char *name;
    int64_t block;       /* elements per block along a row */
    int64_t block_bytes; /* bytes per block */
    int ternary;
} tg_format;

const tg_format *tg_format_of(int type);
/* Bytes of a [n x k] tensor, or -1 when k does not fit the format's block. I2_S includes its
 * trailing scale and padding (n*k/4 + 32). */
int64_t tg_tensor_bytes(int type, int64_t n, int64_t k);
/* Bytes of one packed row (I2_S: k/4; the tensor scale lives after all rows). */
int64_t tg_row_bytes(int type, int64_t k);

float tg_fp16_to_fp32(uint16_t h);
/* tg_fp16_to_fp32 of every 16-bit pattern (256 KiB, built once): a scale converted by a load. */
const float *tg_fp16_table(void);
uint16_t tg_fp32_to_fp16(float f);

/* Reference quantizers (ggml's algorithms, byte-exact with ggml for TQ1_0/TQ2_0/Q8_0/F16;
 * I2_S as bitnet.cpp packs it: per-tensor absmax of already-ternary values). */
void tg_quantize(int type, const float *x, int64_t n, int64_t k, uint8_t *out);
/* BitNet b1.58 absmean ternarization: out = alpha * clamp(round(x / alpha), -1, 1),
 * alpha = mean(|x|). Returns alpha. */
float tg_ternarize_absmean(const float *x, int64_t count, float *out);

/*
 * A ternary matmul with int8 activations, the exact semantics every path implements.
 *
 * Activations: per row m, amax = max|x|, iscale = 127 / amax, q = clamp(rint(x * iscale)),
 * xscale = amax / 127 (all zero when amax == 0).
 * Weights: codes c in {0,1,2} (w = c - 1) with a scale per block (TQ*) or per tensor (I2_S).
 * For weight row n and activation row m, walk the blocks in order and group consecutive
 * blocks whose fp16 scale has identical bits into a segment (I2_S: one segment per row):
 *     isum_seg = sum_{k in seg} c_k * q_k - sum_{k in seg} q_k        (exact int32)
 *     acc      = acc + d_seg * (float)isum_seg                          (acc starts at 0.0f)
 *     y[m][n]  = acc * xscale[m]
 * The float operations are separate multiplies and adds in this order (the build passes
 * -ffp-contract=off), so every path that gets the integers right returns identical floats.
 * Real BitNet files carry one scale per tensor, so a row is usually a single segment and the
 * integer sum runs over the whole row before any float work.
 */
typedef struct {
    int type;             /* TG_TQ2_0, TG_TQ1_0 or TG_I2_S */
    const uint8_t *data;  /* packed rows */
    int64_t n, k;         /* rows, columns */
    int64_t row_bytes;    /* bytes per packed row */
    float tensor_scale;   /* I2_S only */
    const int8_t *xq;     /* [m][k] int8 activations */
    const int32_t *xsum;  /* [m][k/TG_GROUP] sums of xq per 128 values */
    const float *xscale;  /* [m] */
    int64_t m;
    float *y;             /* [m][n] */
} tg_ternary_args;

/*
 * A Q8_0 weight times activations quantized the same way, as llama.cpp multiplies a Q8_0 head:
 * each run of 32 activations gets d = amax / 127 and q = round(x / d) (half away from zero; all
 * zero when amax == 0), so a block's product is an exact int32 sum. For weight row n:
 *     isum_b = sum_{j < 32} w_q[32b + j] * x_q[32b + j]                (exact int32)
 *     y[n]   = sum_b ((float)isum_b * x_d[b]) * w_d[b]
 * The integers are exact on every path; the float sum over blocks is taken in each path's own
 * order, so paths agree within float rounding (as the float path does), not bit for bit.
 * The activations' scales stay fp32 (llama.cpp rounds them to fp16).
 */
typedef struct {
    const uint8_t *data; /* tg_block_q8_0 rows */
    int64_t k;           /* columns, a multiple of 32 */
    int64_t row_bytes;
    const int8_t *xq;    /* [k] */
    const float *xd;     /* [k / 32] */
    /* [k / 4]: -128 x the sum of each four consecutive xq, what a kernel that adds 128 to the
     * signed weights (to use an unsigned x signed dot product) must take off again */
    const int32_t *xbias;
    float *y;            /* [n] */
} tg_q8_0_args;

/* attention's per-group arguments (defined below), reached through the ISA table */
struct tg_attend_group_args_s;

/* One instruction set's implementation of the hot operations. */
typedef struct {
    const char *name;
    /* y[0][row0..row1) for activation row 0 (M = 1 decode path, straight from packed data). */
    void (*gemv_ternary)(const tg_ternary_args *a, int64_t row0, int64_t row1);
    /* Codes {0,1,2} of one packed row, in natural weight order (k bytes). */
    void (*unpack_ternary_row)(int type, const uint8_t *row, int64_t k, uint8_t *codes);
    /* out[i*mt + j] = sum_{k0 <= kk < k1} codes[i*cstride + kk] * x[j*xstride + kk]
     * for i < nt <= 4, j < mt <= 4; k0 and k1 are multiples of 64. */
    void (*dot_tile_u8s8)(const uint8_t *codes, int64_t cstride, int nt, const int8_t *x,
                          int64_t xstride, int mt, int64_t k0, int64_t k1, int32_t *out);
    /* Optional fast form of the M > 1 product for a 16-row panel whose rows each have one scale
     * (NULL where the ISA has none): out[j*16 + r] = sum_{kk < k} code_r[kk] * x[j*xstride + kk]
     * for j < mt <= TG_PANEL_MT, with the codes interleaved four at a time:
     * panel[(kk/4)*64 + r*4 + kk%4] = code_r[kk]. k is a multiple of 4; panel is 64-byte aligned. */
    void (*panel_dot_u8s8)(const uint8_t *panel, const int8_t *x, int64_t xstride, int mt, int64_t k, int32_t *out);
    /* Optional: that interleaved panel from natural-order codes of `rows` (<= 16) rows at stride
     * cstride; missing rows are code 1 (weight 0). k is a multiple of 64. */
    void (*panel_pack)(const uint8_t *codes, int64_t cstride, int rows, int64_t k, uint8_t *panel);
    /* Optional (NULL: the M = 1 GEMV per activation row): y[j][r] for every activation row j < a->m
     * and weight rows [row0, row1) of a TQ2_0 or I2_S weight whose rows each carry one scale (the
     * caller checks), each packed block read once for all rows; xsum_all[j] = sum of row j's q. */
    void (*gemv_ternary_multi)(const tg_ternary_args *a, int64_t row0, int64_t row1, const int32_t *xsum_all);
    /* Activation quantization of one row (semantics above). */
    void (*quantize_row_i8)(const float *x, int64_t k, int8_t *q, float *xscale);
    /* Float path: one row to fp32, and an fp32 dot product. */
    void (*dequant_row)(int type, const uint8_t *row, int64_t k, float tensor_scale, float *out);
    float (*dot_f32)(const float *a, const float *b, int64_t k);
    /* Optional (NULL: dequant_row + dot_f32 per row): y[r] = row r . x for rows [row0, row1) of an
     * F16, Q8_0 or Q6_K weight at M = 1 (the output head), converting in registers so the weights are
     * read once and never stored as fp32. Returns 0 when it does not handle the type. */
    int (*gemv_float)(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t row0,
                      int64_t row1, float *y);
    /* Q8_0 weight x Q8_0 activations (semantics at tg_q8_0_args) for rows [row0, row1). */
    void (*gemv_q8_0)(const tg_q8_0_args *a, int64_t row0, int64_t row1);
    /* Optional (NULL: gemv_q8_0 per activation row): gemv_q8_0 for m activation rows a[0..m) of one
     * weight at once, each weight block read once for all rows, every row's result gemv_q8_0's bit for bit. */
    void (*gemv_q8_0_multi)(const tg_q8_0_args *a, int64_t m, int64_t row0, int64_t row1);
    /* Optional (NULL or 0: gemv_float per activation row): gemv_float for m activation rows at once,
     * y[j * y_stride + r] = row r . x[j], each row's result gemv_float's bit for bit, each weight row
     * read and converted once for all m. Returns 0 when it does not handle the type. x is step-major
     * and 64-byte aligned (small_m.c): for s < k / 32, x[j]'s columns 32s.. 32s + 31 at (s * m + j) * 32,
     * then the k % 32 tail columns of x[j] at (k / 32) * 32 * m + j * (k % 32). */
    int (*gemv_float_multi)(int type, const uint8_t *data, int64_t row_bytes, int64_t k, const float *x, int64_t m,
                            int64_t row0, int64_t row1, float *y, int64_t y_stride);
    /* Sum of a read-only buffer, used to measure the machine's read bandwidth. */
    double (*read_sum)(const float *p, int64_t count);
    /* One attention task (tg_attend_group_args, at attention below); the paths agree to float rounding. */
    void (*attend_group)(const struct tg_attend_group_args_s *g);
    /* Optional (NULL: tg_fp32_to_fp16 per value): out[i] = tg_fp32_to_fp16(x[i]) for i < n, the same bits
     * (an fp16 KV cache's store: a call per step and layer converts every new key and value). */
    void (*fp32_to_fp16_row)(const float *x, int64_t n, uint16_t *out);
} tg_isa_ops;

extern const tg_isa_ops tg_isa_scalar;
extern const tg_isa_ops tg_isa_avx2;
extern const tg_isa_ops tg_isa_avx512;

/* Dequantize rows [row0, row1) into out (row-major, k floats per row) with the ISA's dequant_row:
 * every path gives the scalar reference's bits (F16 widening is exact; the rest is one multiply). */
void tg_dequantize_rows(const tg_isa_ops *isa, int type, const uint8_t *data, int64_t n, int64_t k, int64_t row0,
                        int64_t row1, float *out);

/* Shared by every path: fold one segment's integer sum into the float accumulator. */
static inline float tg_acc_segment(float acc, float d, int32_t isum) {
    float part = d * (float)isum;
    return acc + part;
}

/* fp16 scale bits of ternary block b of a packed row (TQ1_0 / TQ2_0). */
static inline uint16_t tg_block_d_bits(int type, const uint8_t *row, int64_t b) {
    return type == TG_TQ2_0 ? ((const tg_block_tq2_0 *)row)[b].d : ((const tg_block_tq1_0 *)row)[b].d;
}

/* ---- thread pool (pool.c) ---- */
typedef void (*tg_task_fn)(void *ctx, int64_t task, int thread);
/* Runs fn(ctx, t, thread) for t in [0, ntasks) on the pool; the caller takes part. */
void tg_pool_run(int64_t ntasks, tg_task_fn fn, void *ctx);
int tg_pool_threads(void);
/* Physical cores in this process's affinity mask (SMT siblings counted once). */
int tg_physical_cores(void);
int tg_pool_set_threads(int n);
/* Workers spinning for the next job go to sleep now instead of at the end of their spin (the next
 * job wakes them): for when the cores go to another engine until this pool's next job. */
void tg_pool_park(void);
/* The calling thread's jobs from now on use n of the pool's threads (the caller included; clamped to 1..threads; the others
 * sleep and are not woken for them): how the CPU budget hands the pool the cores other engines leave. */
int tg_pool_set_active(int n);
/* Tasks the pool's thread `thread` has run since the process started (0 = the callers). */
long long tg_pool_thread_tasks(int thread);
/* Per-thread scratch that lives as long as the pool (grown on demand, 64-byte aligned). */
void *tg_pool_scratch(int thread, size_t bytes);
/* Frees the calling thread's scratch (its role as a job's caller): when that thread is done with kernels. */
void tg_pool_release_caller_scratch(void);
/* The most jobs that ran at once since the last call (then reset to those running now). */
int tg_pool_take_most_jobs(void);

/* ---- driver (matmul.c) ---- */
/* INT8: BitNet's per-token int8 (ternary weights); FLOAT: fp32; Q8_0: per-32 int8 (Q8_0 weights) */
typedef enum { TG_ACT_INT8 = 0, TG_ACT_FLOAT = 1, TG_ACT_Q8_0 = 2 } tg_act_mode;

typedef struct {
    int type;
    const uint8_t *data;
    int64_t n, k;
    int64_t nbytes;
} tg_weight;

/* y[m][n] = W x[m] for a packed weight [n x k]; returns NULL or a static error string. */
const char *tg_matmul(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m,
                      tg_act_mode mode, float *y);
/* The same for up to TG_MAX_SHARED weights of equal k that read the same x (q, k, v; gate, up):
 * y[i] = W[i] x. The results equal separate tg_matmul calls bit for bit; the activations are
 * quantized once and, at m = 1, all weights' rows are one pool job. */
#define TG_MAX_SHARED 4
const char *tg_matmul_shared(const tg_isa_ops *isa, const tg_weight *w, int count, const float *x, int64_t m,
                             tg_act_mode mode, float *const *y);
/* Small M (small_m.c): cache-sized chunks of weight rows through the ISA's multi-row kernels, or
 * its M = 1 GEMV once per activation row, so the weights stream from memory once and every row's
 * result is the M = 1 result bit for bit. The driver takes it for ternary weights at M = 2..16
 * (TQ1_0: 2, 3) and for float-path weights at every M > 1; tg_small_m_float returns 0 when the ISA
 * has no fused GEMV for the type. xsum_all[j] is the sum of activation row j's q. */
void tg_small_m_ternary(const tg_isa_ops *isa, const tg_ternary_args *args, int count, const int32_t *xsum_all);
int tg_small_m_float(const tg_isa_ops *isa, const tg_weight *w, const float *x, int64_t m, float *y);
/* Per-token int8 quantization of m rows (the activation half of tg_matmul). */
void tg_quantize_activations(const tg_isa_ops *isa, const float *x, int64_t m, int64_t k,
                             int8_t *q, float *xscale);
/* Q8_0-style quantization of one activation row (semantics at tg_q8_0_args): the same C on every path. */
void tg_quantize_row_q8_0(const float *x, int64_t k, int8_t *q, float *d);
/* Read bandwidth in bytes/s over a buffer of the given size, best of `passes`, all threads. */
double tg_read_bandwidth(const tg_isa_ops *isa, int64_t bytes, int passes);

/* ---- attention (attention.c) ---- */
/*
 * A sequence's cache for one layer, per KV head a plane of `positions` slots (a multiple of
 * TG_ATTN_BLOCK). Keys are stored transposed in blocks of TG_ATTN_BLOCK positions, so one vector
 * load holds dimension d of sixteen positions and a block's scores are multiply-adds with no
 * horizontal sums; values stay one row per position. A head's planes are contiguous, so a task
 * streams its keys and values instead of picking head_dim floats out of every position's row.
 * The planes hold fp32 or fp16 (tg_kv_type, the same for every sequence of a call): fp16 halves the
 * bytes a task streams, and a batched step's caches come from L3, not L2 (the stored value is the
 * fp32 one rounded to nearest even, widened exactly when read).
 */
#define TG_ATTN_BLOCK 16
typedef enum { TG_KV_F32 = 0, TG_KV_F16 = 1 } tg_kv_type;
typedef struct {
    void *keys;          /* [kv_heads][positions / TG_ATTN_BLOCK][head_dim][TG_ATTN_BLOCK] */
    void *values;        /* [kv_heads][positions][head_dim] */
    int64_t positions;   /* slots per KV head, a multiple of TG_ATTN_BLOCK, >= start + rows */
    int64_t first, rows; /* its rows first..first+rows-1 of the batch */
    int64_t start;       /* row first + r sits at position start + r and sees positions 0..start+r */
} tg_attention_seq;
typedef struct {
    const float *q; /* [batch rows][heads * head_dim], rotated */
    const float *k; /* [batch rows][kv_heads * head_dim], rotated: stored at each row's position first */
    const float *v; /* [batch rows][kv_heads * head_dim] */
    const tg_attention_seq *seqs;
    int64_t count;
    int64_t heads, kv_heads, head_dim;
    tg_kv_type kv_type; /* what every sequence's planes hold */
    float *out;         /* [batch rows][heads * head_dim]; rows no sequence names are left alone */
} tg_attention_args;
/* Stores every sequence's new keys and values in its cache, then runs causal grouped-query attention
 * for all of them in one pool job, one task per (sequence, row, KV head): a (row, head)'s result
 * depends on nothing else in the call. */
void tg_attention(const tg_isa_ops *isa, const tg_attention_args *a);
/* One task: the `group` query heads of a row that share one KV head. */
typedef struct tg_attend_group_args_s {
    const float *q;     /* [group][head_dim] */
    const void *keys;   /* this KV head's key plane (tg_attention_seq's layout) */
    const void *values; /* this KV head's value plane: position t at element t * head_dim */
    tg_kv_type kv_type;
    int64_t visible, head_dim, group;
    float *scores; /* scratch: [group][padded], padded = visible rounded up to TG_ATTN_BLOCK */
    float *out;    /* [group][head_dim] */
} tg_attend_group_args;
/* Element `at` of a plane, widened to fp32. */
static inline float tg_attn_load(const void *plane, tg_kv_type type, int64_t at) {
    return type == TG_KV_F16 ? tg_fp16_to_fp32(((const uint16_t *)plane)[at]) : ((const float *)plane)[at];
}
/* Index of dimension d of position t in a key plane. */
static inline int64_t tg_attn_key_at(int64_t head_dim, int64_t t, int64_t d) {
    return ((t / TG_ATTN_BLOCK) * head_dim + d) * TG_ATTN_BLOCK + t % TG_ATTN_BLOCK;
}
/* The plain C reference (the scalar path's attend_group). */
void tg_attend_group_ref(const tg_attend_group_args *g);

/* ---- dispatch (cpu.c) ---- */
typedef struct {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avxvnni;
} tg_cpu_features;
tg_cpu_features tg_cpu_detect(void);
/* NULL when the CPU lacks what the path needs. */
const tg_isa_ops *tg_isa_by_name(const char *name);
const tg_isa_ops *tg_isa_best(void);

#endif
