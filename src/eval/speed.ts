/**
 * Prefill and decode speed of an engine, from a short greedy generation: a prompt of
 * `promptTokens` run as one batch (prefill), then `newTokens` single-token steps, each feeding
 * back the previous step's most likely token (decode). One untimed run of the same shape warms
 * the engine up first. decode tokens/s counts forward passes: newTokens / their total time.
 */
import type { Engine } from "../engines/engine.js";
import { argmax } from "./logits.js";

export interface SpeedOptions {
  /** prompt length (default 64, fewer when the context is short) */
  readonly promptTokens?: number;
  /** decode steps (default 32, fewer when the context is short) */
  readonly newTokens?: number;
  /** token ids the prompt is taken from, repeated as needed (default: a spread over the vocabulary) */
  readonly source?: ArrayLike<number>;
}

export interface SpeedResult {
  readonly promptTokens: number;
  readonly newTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
}

type SpeedEngine = Pick<Engine, "vocabSize" | "contextLength" | "newSession">;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** The default shape: 64 + 32 tokens, scaled down to fit a shorter context. */
function shape(contextLength: number, options: SpeedOptions): { prompt: number; steps: number } {
  const fit = Math.min(1, contextLength / 96);
  const prompt = positiveInteger("promptTokens", options.promptTokens ?? Math.max(1, Math.floor(64 * fit)));
  const steps = positiveInteger("newTokens", options.newTokens ?? Math.max(1, Math.floor(32 * fit)));
  if (prompt + steps > contextLength) {
    throw new RangeError(
      `promptTokens + newTokens = ${prompt + steps} do not fit the model's context of ${contextLength}`,
    );
  }
  return { prompt, steps };
}

function promptIds(length: number, vocabSize: number, source: ArrayLike<number> | undefined): number[] {
  if (source !== undefined && source.length > 0) {
    return Array.from({ length }, (_, i) => source[i % source.length] as number);
  }
  return Array.from({ length }, (_, i) => (i * 7919 + 1) % vocabSize);
}

async function timedRun(engine: SpeedEngine, prompt: readonly number[], steps: number) {
  const session = engine.newSession(prompt.length + steps);
  const t0 = performance.now();
  let logits = await session.append(prompt);
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) logits = await session.append([argmax(logits)]);
  const t2 = performance.now();
  return { prefillMs: t1 - t0, decodeMs: t2 - t1 };
}

export async function measureSpeed(engine: SpeedEngine, options: SpeedOptions = {}): Promise<SpeedResult> {
  const { prompt, steps } = shape(engine.contextLength, options);
  const ids = promptIds(prompt, engine.vocabSize, options.source);
  await timedRun(engine, ids, steps);
  const { prefillMs, decodeMs } = await timedRun(engine, ids, steps);
  return {
    promptTokens: prompt,
    newTokens: steps,
    prefillMs,
    decodeMs,
    prefillTokensPerSecond: (1000 * prompt) / prefillMs,
    decodeTokensPerSecond: (1000 * steps) / decodeMs,
  };
}
