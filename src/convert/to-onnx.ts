/**
 * `tritgate convert --to onnx`: a BitNet GGUF becomes an fp32 ONNX decoder (Optimum I/O names)
 * that onnxruntime runs as the model's full-precision twin. Written to temporary names and
 * renamed into place. Models whose weights pass protobuf's 2 GB limit (or when asked) keep
 * their large initializers in `<out>.data` beside the model, ONNX's external data convention.
 * The GGUF's vocabulary goes beside it as tokenizer.json (+ config files) for the ONNX engine.
 */
import { open, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { readGGUF } from "../formats/gguf/index.js";
import { ConvertError } from "./errors.js";
import { buildBitNetOnnx } from "./export-bitnet.js";
import { writeHuggingFaceTokenizerFiles } from "./gguf-tokenizer.js";

export interface OnnxConvertOptions {
  /** element type of the past/present KV tensors (default float32) */
  readonly kvType?: "float32" | "float16";
  /** put large initializers in `<out>.data`; "auto" (default) does so only past ~1.8 GB of weights */
  readonly externalData?: boolean | "auto";
  /** write tokenizer.json, tokenizer_config.json and config.json beside the model (default true) */
  readonly tokenizerFiles?: boolean;
}

export interface OnnxConvertSummary {
  readonly nodes: number;
  readonly initializers: number;
  readonly bytesIn: number;
  /** the .onnx file plus its external data file, if any */
  readonly bytesOut: number;
  readonly seconds: number;
  /** path of the external data file, when one was written */
  readonly dataPath?: string;
}

/** Past this many initializer bytes the model cannot be one protobuf message. */
const INLINE_LIMIT = 1.8e9;

async function writeChunks(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const handle = await open(path, "w");
  try {
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
        written += bytesWritten;
      }
    }
  } finally {
    await handle.close();
  }
}

export async function convertToOnnx(
  inPath: string,
  outPath: string,
  options: OnnxConvertOptions = {},
): Promise<OnnxConvertSummary> {
  const started = performance.now();
  if (resolve(inPath) === resolve(outPath)) throw new ConvertError(outPath, "the output would overwrite the input");
  const file = await readGGUF(inPath);
  const graph = buildBitNetOnnx(file, { kvType: options.kvType ?? "float32" });
  const mode = options.externalData ?? "auto";
  const external = mode === true || (mode === "auto" && graph.initializerBytes > INLINE_LIMIT);
  const dataPath = `${outPath}.data`;
  const serialized = graph.serialize(external ? { location: basename(dataPath) } : undefined);

  const suffix = `.partial-${process.pid}`;
  const temporaries = [`${outPath}${suffix}`, ...(external ? [`${dataPath}${suffix}`] : [])];
  try {
    if (external) await writeChunks(`${dataPath}${suffix}`, serialized.data);
    await writeFile(`${outPath}${suffix}`, serialized.model);
    if (external) await rename(`${dataPath}${suffix}`, dataPath);
    await rename(`${outPath}${suffix}`, outPath);
  } catch (e) {
    await Promise.all(temporaries.map((t) => rm(t, { force: true })));
    throw e;
  }
  if (options.tokenizerFiles !== false) await writeHuggingFaceTokenizerFiles(file, dirname(resolve(outPath)));
  const bytesOut = (await stat(outPath)).size + (external ? (await stat(dataPath)).size : 0);
  return {
    nodes: graph.nodeCount,
    initializers: graph.initializerCount,
    bytesIn: (await stat(inPath)).size,
    bytesOut,
    seconds: (performance.now() - started) / 1000,
    ...(external ? { dataPath } : {}),
  };
}
