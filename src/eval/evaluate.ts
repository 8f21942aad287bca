/**
 * `tritgate eval` as a library: one variant's perplexity on a held-out token stream, its top-1
 * agreement with the family's reference variant, and its speed, as one JSON-ready record.
 * One model is loaded at a time: the variant is scored and timed, closed, then the reference is
 * scored on the same windows; only per-position scores are kept between the two.
 */
import { mkdir, stat } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname } from "node:path";
import { hardware, type KvCacheType, setThreads } from "../../kernels/index.js";
import { BitNetEngine } from "../engines/bitnet/index.js";
import type { Engine } from "../engines/engine.js";
import { type LoadOptions, loadEngine } from "../engines/load.js";
import { OnnxEngine } from "../engines/onnx/index.js";
import { writeFileAtomic } from "../util/write-file-atomic.js";
import { planWindows, scoreTokens, summarizeScores, type TokenScores, type TokenStream } from "./perplexity.js";
import { engineScorer } from "./scorer.js";
import { measureSpeed, type SpeedOptions } from "./speed.js";

export interface EvaluateVariantOptions {
  /** the variant's model file (.gguf or .onnx) */
  readonly model: string;
  /** the family's reference variant; enables top1Agreement, referencePerplexity and quality */
  readonly reference?: string;
  /** the held-out split, tokenized with the family's tokenizer */
  readonly tokens: TokenStream;
  readonly window: number;
  readonly stride?: number;
  /** use only the first maxTokens tokens of the stream */
  readonly maxTokens?: number;
  /** kernel pool (BitNet) and onnxruntime intra-op threads; default: one per physical core */
  readonly threads?: number;
  readonly speed?: SpeedOptions;
  /** passed to the engine loader for the model (kernel path, activation mode, context cap, KV cache type) */
  readonly load?: Omit<LoadOptions, "threads">;
  /** the same for the reference; default `load` */
  readonly referenceLoad?: Omit<LoadOptions, "threads">;
}

export interface EvalResult {
  readonly model: string;
  readonly engine: Engine["kind"];
  /** what the model's KV cache stored while it was scored (a BitNet model) */
  readonly kvCacheType?: KvCacheType;
  readonly reference?: string;
  readonly window: number;
  readonly stride: number;
  readonly windows: number;
  /** positions predicted */
  readonly tokens: number;
  /** mean negative log-likelihood, nats per token */
  readonly nll: number;
  readonly perplexity: number;
  readonly top1Accuracy: number;
  readonly top1Agreement?: number;
  readonly referencePerplexity?: number;
  /** ppl_reference / ppl_variant: the router's quality score */
  readonly quality?: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** the model file plus an ONNX external-data file beside it */
  readonly bytesOnDisk: number;
  /** resident set of this process with the variant loaded, after scoring it */
  readonly rssBytes?: number;
  /** ISO 8601 */
  readonly measuredAt: string;
  readonly machine: { readonly cpu: string; readonly threads: number };
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** The file, plus ONNX external data as ours (`model.onnx.data`) or Optimum (`model.onnx_data`) names it. */
export async function modelBytesOnDisk(path: string): Promise<number> {
  const own = await fileSize(path);
  if (own === undefined) throw new Error(`${path}: no such model file`);
  if (!path.endsWith(".onnx")) return own;
  const sidecars = await Promise.all([fileSize(`${path}.data`), fileSize(`${path}_data`)]);
  return sidecars.reduce<number>((sum, size) => sum + (size ?? 0), own);
}

function streamPrefix(tokens: TokenStream, maxTokens: number | undefined): TokenStream {
  if (maxTokens === undefined) return tokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`maxTokens must be a non-negative integer, got ${maxTokens}`);
  }
  return maxTokens >= tokens.length ? tokens : tokens.slice(0, maxTokens);
}

function threadsOf(engine: Engine): number {
  return engine instanceof OnnxEngine ? engine.threads : hardware().threads;
}

async function withEngine<T>(
  path: string,
  load: EvaluateVariantOptions["load"],
  threads: number | undefined,
  use: (engine: Engine) => Promise<T>,
): Promise<T> {
  const engine = await loadEngine(path, { ...load, threads });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}

export async function evaluateVariant(options: EvaluateVariantOptions): Promise<EvalResult> {
  const tokens = streamPrefix(options.tokens, options.maxTokens);
  const windowOptions = { window: options.window, stride: options.stride };
  planWindows(tokens.length, windowOptions); // bad windows or streams fail before any model loads
  if (options.threads !== undefined) {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
    }
    setThreads(options.threads);
  }
  const measuredAt = new Date().toISOString();

  const variant = await withEngine(options.model, options.load, options.threads, async (engine) => {
    const scores = await scoreTokens(engineScorer(engine), tokens, windowOptions);
    const speed = await measureSpeed(engine, { source: tokens, ...options.speed });
    const kvCacheType = engine instanceof BitNetEngine ? engine.kvCacheType : undefined;
    const rssBytes = process.memoryUsage().rss;
    return { scores, speed, kind: engine.kind, kvCacheType, threads: threadsOf(engine), rssBytes };
  });
  let reference: TokenScores | undefined;
  if (options.reference !== undefined) {
    reference = await withEngine(options.reference, options.referenceLoad ?? options.load, options.threads, (engine) =>
      scoreTokens(engineScorer(engine), tokens, windowOptions),
    );
  }
  const summary = summarizeScores(tokens, variant.scores, reference);
  const referencePerplexity = summary.reference?.perplexity;

  return {
    model: options.model,
    engine: variant.kind,
    ...(variant.kvCacheType !== undefined && { kvCacheType: variant.kvCacheType }),
    ...(options.reference !== undefined && { reference: options.reference }),
    window: options.window,
    stride: options.stride ?? options.window,
    windows: summary.windows,
    tokens: summary.tokens,
    nll: summary.nll,
    perplexity: summary.perplexity,
    top1Accuracy: summary.top1Accuracy,
    ...(referencePerplexity !== undefined && {
      top1Agreement: summary.top1Agreement,
      referencePerplexity,
      quality: referencePerplexity / summary.perplexity,
    }),
    prefillTokensPerSecond: variant.speed.prefillTokensPerSecond,
    decodeTokensPerSecond: variant.speed.decodeTokensPerSecond,
    bytesOnDisk: await modelBytesOnDisk(options.model),
    rssBytes: variant.rssBytes,
    measuredAt,
    machine: { cpu: cpus()[0]?.model.trim() ?? "unknown", threads: variant.threads },
  };
}

/** Writes the result as pretty JSON, through a temporary name so a reader never sees half a file. */
export async function writeEvalResult(path: string, result: EvalResult): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, `${JSON.stringify(result, null, 2)}\n`);
}
