/** Opens a model file with the engine its format needs. */
import type { Isa } from "../../kernels/index.js";
import { loadBitNetEngine } from "./bitnet/index.js";
import type { Engine } from "./engine.js";
import { ModelLoadError } from "./errors.js";

export interface LoadOptions {
  readonly isa?: Isa;
  readonly contextLength?: number;
  readonly activations?: "int8" | "float";
}

export async function loadEngine(path: string, options: LoadOptions = {}): Promise<Engine> {
  if (path.endsWith(".gguf")) return loadBitNetEngine(path, options);
  throw new ModelLoadError(path, "unknown model format (tritgate loads .gguf BitNet models)");
}
