/**
 * The behaviour every Engine's LogitsSession and decode loop must show, as a vitest suite written once
 * and run against each engine (BitNet on our kernels, ONNX on onnxruntime) on its test fixtures:
 * appending in any split gives the logits of one full prefill, appendAll's rows are the step-by-step
 * logits, and generation is a function of prompt and seed. Test-only: not built into `dist/`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "./engine.js";

export interface ContractSubject {
  /** the engine under test; loaded once for the suite (the caller closes it) */
  readonly load: () => Promise<Engine> | Engine;
  /** a token sequence of at least 8 ids that fits the engine's vocabulary and context */
  readonly tokens: readonly number[];
  /** largest logit difference two ways of computing the same position may show */
  readonly tolerance: number;
  /** the same for appendAll's last row against one append of every token (default: `tolerance`) */
  readonly lastRowTolerance?: number;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

export function logitsSessionContract(name: string, subject: ContractSubject): void {
  const { tokens, tolerance } = subject;
  let engine: Engine;
  let vocab: number;
  describe(`${name}: the engine contract`, () => {
    beforeAll(async () => {
      engine = await subject.load();
      vocab = engine.vocabSize;
    });

    describe("a LogitsSession", () => {
      it("appended step by step gives, at every position, the logits of one full prefill", async () => {
        const stepwise = engine.newSession();
        let logits = await stepwise.append(tokens.slice(0, 4));
        expect(stepwise.length).toBe(4);
        for (let n = 4; n <= tokens.length; n++) {
          const full = await engine.newSession().append(tokens.slice(0, n));
          expect(full).toBeInstanceOf(Float32Array);
          expect(full.length).toBe(vocab);
          expect(maxDiff(logits, full), `position ${n - 1}`).toBeLessThanOrEqual(tolerance);
          if (n < tokens.length) logits = await stepwise.append([tokens[n] as number]);
        }
        expect(stepwise.length).toBe(tokens.length);
      });

      it("appended in uneven chunks gives the logits of one full prefill", async () => {
        const chunked = engine.newSession();
        await chunked.append(tokens.slice(0, 3));
        await chunked.append(tokens.slice(3, 7));
        const last = await chunked.append(tokens.slice(7));
        expect(chunked.length).toBe(tokens.length);
        expect(maxDiff(last, await engine.newSession().append(tokens))).toBeLessThanOrEqual(tolerance);
      });

      it("appendAll returns every position's logits, row-major, as step-by-step appends give them", async () => {
        const session = engine.newSession();
        await session.append(tokens.slice(0, 2));
        const all = await session.appendAll(tokens.slice(2));
        const rows = tokens.length - 2;
        expect(all).toBeInstanceOf(Float32Array);
        expect(all.length).toBe(rows * vocab);
        expect(session.length).toBe(tokens.length);
        const stepwise = engine.newSession();
        await stepwise.append(tokens.slice(0, 2));
        for (let r = 0; r < rows; r++) {
          const step = await stepwise.append([tokens[2 + r] as number]);
          expect(maxDiff(all.subarray(r * vocab, (r + 1) * vocab), step), `row ${r}`).toBeLessThanOrEqual(tolerance);
        }
        // the last row is what append would have returned
        const last = await engine.newSession().append(tokens);
        expect(maxDiff(all.subarray((rows - 1) * vocab), last)).toBeLessThanOrEqual(
          subject.lastRowTolerance ?? tolerance,
        );
      });
    });

    describe("generation", () => {
      const request = (seed: number) => ({
        prompt: tokens,
        maxTokens: 12,
        ignoreEos: true,
        sampling: { seed, temperature: 1 },
      });

      it("the same prompt and seed give the same tokens and text; another seed other tokens", async () => {
        const streamed: number[] = [];
        const a = await engine.generate(request(42), (t) => streamed.push(t.id));
        const b = await engine.generate(request(42));
        const other = await engine.generate(request(43));
        expect(a.finishReason).toBe("length");
        expect(a.completionTokens).toBe(12);
        expect(a.promptTokens).toBe(tokens.length);
        expect(b.tokens.map((t) => t.id)).toEqual(a.tokens.map((t) => t.id));
        expect(b.text).toBe(a.text);
        expect(streamed).toEqual(a.tokens.map((t) => t.id));
        expect(other.tokens.map((t) => t.id)).not.toEqual(a.tokens.map((t) => t.id));
      });

      it("greedy decoding needs no seed: the argmax of the session's logits, each token with its top alternatives", async () => {
        const greedy = { prompt: tokens, maxTokens: 6, ignoreEos: true, sampling: { temperature: 0, topLogprobs: 3 } };
        const a = await engine.generate(greedy);
        const b = await engine.generate(greedy);
        expect(b.tokens.map((t) => t.id)).toEqual(a.tokens.map((t) => t.id));
        const logits = await engine.newSession().append(tokens);
        expect(a.tokens[0]?.id).toBe(logits.indexOf(Math.max(...logits)));
        for (const t of a.tokens) {
          expect(t.logprob).toBeLessThanOrEqual(0);
          expect(t.top).toHaveLength(3);
          expect(t.top[0]?.id).toBe(t.id);
        }
      });
    });
  });
}
