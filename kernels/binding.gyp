# The kernels addon. Each instruction set is its own static library so that only its file is
# compiled with its -m flags; the addon's own files get none and dispatch at run time. The trainer's
# step math (train_ops.inc) is built twice the same way, with reassociation allowed so its sums vectorize.
{
  "target_defaults": {
    "cflags_c": ["-std=gnu11", "-O3", "-fPIC", "-ffp-contract=off", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "cflags!": ["-fno-omit-frame-pointer"]
  },
  "targets": [
    {
      "target_name": "tg_isa_avx2",
      "type": "static_library",
      "sources": ["src/isa_avx2.c", "src/isa_avx2_multi.c", "src/head_multi_avx2.c", "src/attention_avx2.c"],
      "cflags_c": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "tg_isa_avx512",
      "type": "static_library",
      "sources": ["src/isa_avx512.c", "src/head_avx512.c", "src/head_multi_avx512.c", "src/isa_avx512_multi.c", "src/attention_avx512.c"],
      "cflags_c": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "tg_train_generic",
      "type": "static_library",
      "sources": ["src/train_generic.c"],
      "cflags_c": ["-Wno-psabi", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-fassociative-math", "-fno-signed-zeros"]
    },
    {
      "target_name": "tg_train_avx512",
      "type": "static_library",
      "sources": ["src/train_avx512.c"],
      "cflags_c": ["-mavx512f", "-mavx512vl", "-mavx2", "-mfma", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-fassociative-math", "-fno-signed-zeros"]
    },
    {
      "target_name": "tritgate_kernels",
      "sources": ["src/addon.c", "src/args.c", "src/attention.c", "src/cpu.c", "src/floatops.c", "src/formats.c", "src/isa_scalar.c", "src/matmul.c", "src/pool.c", "src/small_m.c", "src/train.c"],
      "dependencies": ["tg_isa_avx2", "tg_isa_avx512", "tg_train_generic", "tg_train_avx512"],
      "libraries": ["-lpthread", "-lm"],
      # never unloaded: node dlcloses an addon when the last worker thread that loaded it ends, and the
      # kernel pool's threads (process-wide, started by that worker) would then run unmapped code
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
