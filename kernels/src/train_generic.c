/* The trainer's step math for any x86-64 (and the reference the AVX-512 build is tested against). */
#define TG_TRAIN_OPS tg_train_generic
#define TG_TRAIN_NAME "generic"
#include "train_ops.inc"
