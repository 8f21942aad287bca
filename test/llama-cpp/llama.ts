/**
 * llama.cpp for the cross-check tests, through node-llama-cpp's prebuilt CPU build installed in
 * this folder by `install.sh` (it is not a dependency of tritgate itself, see README.md).
 *
 * The package is imported by path, and only the few calls the tests make are typed here, so that
 * `npm run lint` type-checks without it installed; the tests themselves fail with the install
 * command when it is missing (never skip: a cross-check that silently does not run checks nothing).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ENTRY = join(HERE, "node_modules", "node-llama-cpp", "dist", "index.js");
export const INSTALL_HINT = "run test/llama-cpp/install.sh (installs llama.cpp's CPU build for the cross-check)";

/** llama.cpp's log levels as node-llama-cpp names them. */
type LogLevel = "disabled" | "fatal" | "error" | "warn" | "info" | "log" | "debug";

interface LlamaSequence {
  evaluateWithMetadata(
    tokens: number[],
    metadata: { probabilities: true },
    options: { temperature: number; yieldEogToken: boolean },
  ): AsyncGenerator<{ token: number; probabilities: Map<number, number> }, void, void>;
}

interface LlamaContext {
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}

export interface LlamaModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  readonly tokens: {
    readonly bos: number | null;
    readonly eos: number | null;
    readonly shouldPrependBosToken: boolean;
  };
  createContext(options: {
    contextSize: number;
    threads: number;
    flashAttention: boolean;
    experimentalKvCacheKeyType: "F32";
    experimentalKvCacheValueType: "F32";
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}

interface Llama {
  loadModel(options: { modelPath: string; vocabOnly?: boolean }): Promise<LlamaModel>;
}

interface NodeLlamaCpp {
  getLlama(options: {
    gpu: false;
    build: "never";
    logLevel: LogLevel;
    logger: (level: LogLevel, message: string) => void;
  }): Promise<Llama>;
}

export interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
}

/** One llama.cpp instance with its log captured (llama.cpp logs per process, not per model). */
export class LlamaCpp {
  private readonly lines: LogLine[] = [];

  private constructor(private readonly llama: Llama) {}

  static async load(): Promise<LlamaCpp> {
    if (!existsSync(ENTRY)) throw new Error(`llama.cpp is not installed: ${INSTALL_HINT}`);
    const module = (await import(pathToFileURL(ENTRY).href)) as NodeLlamaCpp;
    let instance: LlamaCpp | undefined;
    const pending: LogLine[] = [];
    const llama = await module.getLlama({
      gpu: false,
      build: "never",
      logLevel: "info",
      logger: (level, message) => (instance ? instance.lines : pending).push({ level, message: message.trim() }),
    });
    instance = new LlamaCpp(llama);
    instance.lines.push(...pending);
    return instance;
  }

  /** `vocabOnly` reads the metadata and the vocabulary and skips the tensors. */
  loadModel(path: string, options: { vocabOnly?: boolean } = {}): Promise<LlamaModel> {
    return this.llama.loadModel({ modelPath: path, vocabOnly: options.vocabOnly });
  }

  /** Runs `work` and returns what llama.cpp logged meanwhile (info level and above). */
  async logged<T>(work: () => Promise<T>): Promise<{ result: T | Error; lines: LogLine[] }> {
    this.lines.length = 0;
    let result: T | Error;
    try {
      result = await work();
    } catch (e) {
      result = e instanceof Error ? e : new Error(String(e));
    }
    // llama.cpp logs from its loader thread; node-llama-cpp hands the lines to the main thread
    // through a queue, so lines logged just before the load returned may still be on their way
    await new Promise((done) => setTimeout(done, 100));
    return { result, lines: this.lines.splice(0) };
  }

  /**
   * llama.cpp's greedy continuation of `prompt` and its log-probabilities (over the whole
   * vocabulary) before each generated token. One thread, F32 KV cache and no flash attention,
   * so that what remains between the engines is the arithmetic of the weights.
   */
  async greedy(path: string, prompt: readonly number[], steps: number): Promise<GreedyRun> {
    const model = await this.loadModel(path);
    try {
      const context = await model.createContext({
        contextSize: 256,
        threads: 1,
        flashAttention: false,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
      });
      try {
        const tokens: number[] = [];
        const logProbs: Map<number, number>[] = [];
        const run = context.getSequence().evaluateWithMetadata(
          [...prompt],
          { probabilities: true },
          {
            temperature: 0,
            yieldEogToken: true, // keep going past an end-of-generation token: we compare arithmetic, not stopping
          },
        );
        for await (const next of run) {
          tokens.push(next.token);
          logProbs.push(new Map([...next.probabilities].map(([id, p]) => [id, Math.log(p)])));
          if (tokens.length >= steps) break;
        }
        return { tokens, logProbs };
      } finally {
        await context.dispose();
      }
    } finally {
      await model.dispose();
    }
  }
}

/**
 * llama.cpp loaded once per test file and awaited inside each test, so that a missing install
 * fails every test with the command to run (a failing beforeAll would only mark them skipped).
 */
export function llamaCppOnce(): () => Promise<LlamaCpp> {
  let loading: Promise<LlamaCpp> | undefined;
  return () => {
    loading ??= LlamaCpp.load();
    return loading;
  };
}

export interface GreedyRun {
  readonly tokens: number[];
  /** per generated token: id → log-probability of being that token */
  readonly logProbs: Map<number, number>[];
}
