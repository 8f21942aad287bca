/* The trainer's step math compiled for AVX-512 (16-float vectors in the product's register tile). */
#define TG_TRAIN_OPS tg_train_avx512
#define TG_TRAIN_NAME "avx512"
#include "train_ops.inc"
