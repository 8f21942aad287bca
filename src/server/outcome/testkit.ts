/**
 * Tests only: a gateway in-process over engines scripted on the main thread (no workers), with an
 * observer that keeps every outcome, for the end-of-request and cascade tests.
 */
import {
  EngineError,
  GenerationAbortedError,
  type PoolGenerateRequest,
  type PoolResult,
  type PoolToken,
} from "../../engines/pool/index.js";
import { createGateway } from "../app.js";
import { CountingLimiter, MapDirectory, memoryLog, TEST_TIERS, TINY_CONFIGS } from "../testkit.js";
import type { AppDeps, VariantRuntime } from "../types.js";
import type { ObserverFactory, RequestOutcome } from "./outcome.js";

export type Script = (
  onToken: (t: PoolToken) => void,
  signal: AbortSignal | undefined,
  request: PoolGenerateRequest,
) => Promise<PoolResult>;

export const token = (text: string): PoolToken => ({ id: 1, text, logprob: -0.1, top: [] });
export const result = (text: string): PoolResult => ({
  text,
  finishReason: "stop",
  promptTokens: 7,
  completionTokens: text.length,
  prefillMs: 2,
  decodeMs: 3,
  queueMs: 0,
  tokens: [...text].map(token),
});

/** Streams `text` one character a token and answers it. */
export const answers =
  (text: string): Script =>
  async (onToken) => {
    for (const ch of text) onToken(token(ch));
    return result(text);
  };

/** Sends one token, then waits until the request is aborted. */
export const hangsAfterOneToken: Script = (onToken, signal) => {
  onToken(token("a"));
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(new GenerationAbortedError("tiny-b158")), { once: true });
  });
};

/** Sends one token, then finishes when `release` is called. */
export function heldAfterOneToken(): { script: Script; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  return {
    release,
    script: async (onToken) => {
      onToken(token("h"));
      await released;
      onToken(token("ey"));
      return result("hey");
    },
  };
}

export const failsAfterOneToken: Script = async (onToken) => {
  onToken(token("a"));
  throw new EngineError("tiny-b158", "Error", "kernel exploded");
};

export const failsAtOnce: Script = async () => {
  throw new EngineError("tiny-b158", "Error", "kernel exploded");
};

export function scripted(name: string, script: () => Script): VariantRuntime {
  return {
    name,
    state: "ready",
    error: undefined,
    info: { kind: "bitnet", contextLength: 256, vocabSize: 270, loadMs: 0 },
    slots: 4,
    running: 0,
    waiting: 0,
    generate: (request, onToken, signal) => script()((t) => onToken?.(t), signal, request),
  };
}

export function setup(
  script: Script | Record<string, Script>,
  tier: keyof typeof TEST_TIERS = "standard",
  over: Partial<AppDeps> = {},
) {
  const directory = new MapDirectory(Object.values(TEST_TIERS));
  const key = directory.addTenant("acme", tier);
  const scriptOf = (name: string) => (typeof script === "function" ? script : script[name]!);
  const limiter = new CountingLimiter();
  const seen: RequestOutcome[] = [];
  const watch: ObserverFactory = () => ({ name: "test", observe: (o) => seen.push(o) });
  const { app, recorder } = createGateway({
    directory,
    limiter,
    variants: TINY_CONFIGS.map((config) => ({ config, worker: scripted(config.name, () => scriptOf(config.name)) })),
    observers: [watch],
    log: memoryLog(),
    rateAlpha: 1e-9,
    ...over,
  });
  const post = (body: unknown, init: RequestInit = {}) =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers },
      body: JSON.stringify(body),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  return { app, post, seen, limiter, recorder: recorder as unknown as { size: number } };
}

export const chat = (extra: Record<string, unknown> = {}) => ({
  model: "tiny",
  messages: [{ role: "user", content: "hello" }],
  max_tokens: 8,
  ...extra,
});

/** Lets pending callbacks run, so that a second (wrong) firing would be seen. */
export const settle = () => new Promise((r) => setTimeout(r, 0));

export async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += decoder.decode(value, { stream: true });
  }
}
