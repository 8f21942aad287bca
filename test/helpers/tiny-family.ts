/**
 * Test fixtures across modules: a tiny real BitNet GGUF and its fp32 ONNX twin (family "tiny"), for the
 * suites that run both engines (the pool, the server, `tritgate serve`). The twin is made by the
 * converter, so this lives here rather than in a testkit of a layer below `src/convert`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertToOnnx } from "../../src/convert/to-onnx.js";
import { type SyntheticBitNetSpec, syntheticBitNet } from "../../src/engines/bitnet/index.js";
import { TINY_BITNET } from "../../src/engines/bitnet/testkit.js";
import { writeGGUF } from "../../src/formats/gguf/index.js";

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
