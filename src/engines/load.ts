/** Opens a model file with the engine its format needs. */
import type { Isa, KvCacheType } from "../../kernels/index.js";
import { loadBitNetEngine } from "./bitnet/index.js";
import type { Engine } from "./engine.js";
import { ModelLoadError } from "./errors.js";
import { loadOnnxEngine } from "./onnx/index.js";

export interface LoadOptions {
  readonly isa?: Isa;
  readonly contextLength?: number;
  readonly activations?: "int8" | "float";
  /** what a BitNet model's KV caches store (ONNX models keep their own) */
  readonly kvCacheType?: KvCacheType;
  /** onnxruntime intra-op threads (the kernels' pool is sized with setThreads) */
  readonly threads?: number;
  /** onnxruntime's threads spin-wait between runs (default on; off when engines take CPU turns) */
  readonly spinning?: boolean;
}

export async function loadEngine(path: string, options: LoadOptions = {}): Promise<Engine> {
  if (path.endsWith(".gguf")) return loadBitNetEngine(path, options);
  if (path.endsWith(".onnx"))
    return loadOnnxEngine(path, {
      contextLength: options.contextLength,
      threads: options.threads,
      spinning: options.spinning,
    });
  throw new ModelLoadError(path, "unknown model format (tritgate loads BitNet .gguf and ONNX decoder .onnx files)");
}
