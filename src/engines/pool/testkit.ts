/** Test fixtures: a tiny real BitNet GGUF and its fp32 ONNX twin (family "tiny"). Not exported. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertToOnnx } from "../../convert/to-onnx.js";
import { writeGGUF } from "../../formats/gguf/index.js";
import { type SyntheticBitNetSpec, syntheticBitNet } from "../bitnet/index.js";
import { TINY_BITNET } from "../bitnet/testkit.js";

export const TINY_SPEC: SyntheticBitNetSpec = { ...TINY_BITNET, contextLength: 256 };

export interface TinyFamily {
  readonly dir: string;
  /** the ternary variant "tiny-b158" */
  readonly gguf: string;
  /** its fp32 twin "tiny-fp32" */
  readonly onnx: string;
}

let cached: Promise<TinyFamily> | undefined;

/** Writes the two model files once per test process. */
export function tinyFamily(): Promise<TinyFamily> {
  cached ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-pool-"));
    const gguf = join(dir, "tiny-b158.gguf");
    await writeGGUF(gguf, syntheticBitNet(TINY_SPEC));
    const onnx = join(dir, "fp32", "model.onnx");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(dir, "fp32"), { recursive: true });
    await convertToOnnx(gguf, onnx);
    return { dir, gguf, onnx };
  })();
  return cached;
}
