/**
 * Batched steps (`OnnxEngine.forwardBatch`) against each sequence run alone, on the committed
 * nano-fp32 ONNX model (our exporter's graph) and on the tiny in-memory graphs of testkit.ts:
 * the same greedy and seeded tokens, logits within onnxruntime's batch-size rounding, with mixed
 * prompt lengths, sequences joining (their prefill beside the others' decode) and leaving; the
 * decodes of one step really share one `session.run`; refusals change no session.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, afterEach, describe, expect, it, type MockInstance, vi } from "vitest";
import type { LogitsSession } from "../engine.js";
import { ContextOverflowError } from "../errors.js";
import { Sampler } from "../sampler/index.js";
import { loadOnnxEngine, type OnnxEngine } from "./engine.js";
import { maxDiff, type TinyDecoderSpec, tinyDecoder, writeModelDir } from "./testkit.js";

const NANO = "models/nano/nano-fp32/model.onnx";
/**
 * Largest |Δlogit| allowed between a batched step and the same step alone. Measured here (Zen 4,
 * onnxruntime 1.30, 1 thread): decodes at equal past lengths came out bit-identical at batch 2,
 * 4 and 8; with mixed past lengths the pads lengthen attention's reductions (scores against
 * masked keys are exactly 0 after softmax, but the sums are blocked differently), and nano-fp32
 * differed by at most 1.0e-5 in this schedule and 1.4e-5 over 8 sequences x 40 steps, at logits
 * of magnitude up to ~18 (a few float32 ulps); the tiny float32 graph by 1.4e-6. 1e-4 leaves
 * room for other CPUs' kernels and stays far below the greedy margins here.
 */
const TOLERANCE = 1e-4;
/**
 * The same for a graph that emits float16 logits: a float32 difference of 1e-6 before the final
 * cast can flip the last bit of a half, 2^-10 relative (9.8e-4 at |logit| < 2, measured: one such
 * flip), 2e-3 at |logit| < 4.
 */
const HALF_TOLERANCE = 4e-3;

const root = mkdtempSync(join(tmpdir(), "tritgate-onnx-batch-"));
const engines: OnnxEngine[] = [];
let dirs = 0;
/** the class behind ort.InferenceSession.create, whose run every session calls */
const sessionClass = ort.InferenceSession as unknown as { prototype: ort.InferenceSession };
let runs: MockInstance<ort.InferenceSession["run"]>;
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  rmSync(root, { recursive: true, force: true });
});
afterEach(() => runs?.mockRestore());

/** Counts every session.run (and lets it run): the batch each one fed. */
function countRuns(): () => number[] {
  runs = vi.spyOn(sessionClass.prototype, "run");
  return () => runs.mock.calls.map(([feeds]) => (feeds as Record<string, ort.Tensor>).input_ids?.dims[0] ?? 0);
}

async function tiny(spec: TinyDecoderSpec = {}): Promise<OnnxEngine> {
  const path = writeModelDir(join(root, `m${dirs++}`), tinyDecoder(spec).bytes);
  const engine = await loadOnnxEngine(path, { threads: 1 });
  engines.push(engine);
  return engine;
}

async function nano(): Promise<OnnxEngine> {
  const engine = await loadOnnxEngine(NANO, { threads: 1 });
  engines.push(engine);
  return engine;
}

interface Plan {
  readonly prompt: readonly number[];
  /** the batched step at which the sequence joins */
  readonly join: number;
  readonly maxTokens: number;
  readonly sampling: { temperature: number; seed?: number; topP?: number };
}

interface Trace {
  readonly tokens: number[];
  /** every logits vector the sequence received, in order */
  readonly logits: Float32Array[];
}

/** Each sequence alone: prefill its prompt, then one token a step. */
async function alone(engine: OnnxEngine, plan: Plan): Promise<Trace> {
  const session = engine.newSession();
  const sampler = new Sampler(plan.sampling, engine.vocabSize);
  const trace: Trace = { tokens: [], logits: [] };
  const history = [...plan.prompt];
  let logits = await session.append(plan.prompt);
  for (let t = 0; t < plan.maxTokens; t++) {
    trace.logits.push(logits);
    const id = sampler.sample(logits, history).id;
    trace.tokens.push(id);
    history.push(id);
    if (t + 1 < plan.maxTokens) logits = await session.append([id]);
  }
  session.close?.();
  return trace;
}

interface Live {
  readonly session: LogitsSession;
  readonly sampler: Sampler;
  readonly history: number[];
  next: readonly number[];
  readonly trace: Trace;
  readonly plan: Plan;
}

interface Schedule {
  readonly traces: Trace[];
  /** per forwardBatch call: the steps' token counts and past lengths */
  readonly calls: Array<{ tokens: number[]; past: number[] }>;
}

/** All sequences through forwardBatch: a sequence joins at its step, leaves after maxTokens. */
async function batched(engine: OnnxEngine, plans: readonly Plan[]): Promise<Schedule> {
  const traces = plans.map((): Trace => ({ tokens: [], logits: [] }));
  const live = new Map<number, Live>();
  const calls: Schedule["calls"] = [];
  for (let step = 0; live.size > 0 || plans.some((p) => p.join >= step); step++) {
    plans.forEach((plan, i) => {
      if (plan.join !== step) return;
      live.set(i, {
        session: engine.newSession(),
        sampler: new Sampler(plan.sampling, engine.vocabSize),
        history: [...plan.prompt],
        next: plan.prompt,
        trace: traces[i] as Trace,
        plan,
      });
    });
    if (live.size === 0) continue;
    const order = [...live.entries()];
    calls.push({ tokens: order.map(([, s]) => s.next.length), past: order.map(([, s]) => s.session.length) });
    const logits = await engine.forwardBatch(order.map(([, s]) => ({ session: s.session, tokens: s.next })));
    order.forEach(([i, s], at) => {
      const l = logits[at] as Float32Array;
      s.trace.logits.push(l);
      const id = s.sampler.sample(l, s.history).id;
      s.trace.tokens.push(id);
      s.history.push(id);
      s.next = [id];
      if (s.trace.tokens.length === s.plan.maxTokens) {
        s.session.close?.();
        live.delete(i);
      }
    });
  }
  return { traces, calls };
}

function plansFor(vocab: number): Plan[] {
  const prompt = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 7 + salt * 13 + 3) % vocab);
  return [
    { prompt: prompt(5, 1), join: 0, maxTokens: 9, sampling: { temperature: 0 } },
    { prompt: prompt(1, 2), join: 0, maxTokens: 4, sampling: { temperature: 0.9, seed: 11 } }, // leaves early
    { prompt: prompt(12, 3), join: 0, maxTokens: 8, sampling: { temperature: 1.2, seed: 5, topP: 0.9 } },
    { prompt: prompt(3, 4), join: 2, maxTokens: 6, sampling: { temperature: 0 } }, // joins mid-way
    { prompt: prompt(7, 5), join: 5, maxTokens: 5, sampling: { temperature: 0.7, seed: 3 } }, // joins after one left
    { prompt: prompt(5, 6), join: 0, maxTokens: 7, sampling: { temperature: 0 } }, // same length as the first
  ];
}

/** Which steps of one forwardBatch call may share a run, as the engine documents it. */
function expectedRuns(call: { tokens: number[]; past: number[] }, padsAllowed: boolean): number[] {
  const groups = new Map<string, number>();
  call.tokens.forEach((n, i) => {
    const key = padsAllowed ? `${n}` : `${n}:${call.past[i]}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  });
  return [...groups.values()];
}

async function expectBatchedEqualsAlone(
  engine: OnnxEngine,
  padsAllowed: boolean,
  tolerance = TOLERANCE,
): Promise<void> {
  const plans = plansFor(engine.vocabSize);
  const want: Trace[] = [];
  for (const plan of plans) want.push(await alone(engine, plan));
  const batchesFed = countRuns();
  const { traces, calls } = await batched(engine, plans);
  // one session.run per group of each call, fed the group's size through the batch dimension
  expect(batchesFed()).toEqual(calls.flatMap((call) => expectedRuns(call, padsAllowed)));
  expect(Math.max(...batchesFed())).toBeGreaterThanOrEqual(padsAllowed ? 4 : 2);
  traces.forEach((got, i) => {
    expect(got.tokens, `sequence ${i} tokens`).toEqual(want[i]?.tokens);
    got.logits.forEach((l, t) => {
      const d = maxDiff(l, want[i]?.logits[t] as Float32Array);
      expect(d, `sequence ${i} logits at token ${t}`).toBeLessThan(tolerance);
    });
  });
}

describe("batched steps equal each sequence alone", () => {
  it("nano-fp32 (the committed ONNX model): decodes at different past lengths share one run", async () => {
    const engine = await nano();
    expect(engine.signature.batchable).toBe(true);
    await expectBatchedEqualsAlone(engine, true);
  });

  const variants: ReadonlyArray<[string, TinyDecoderSpec, boolean, number?]> = [
    ["tiny graph fed position_ids", {}, true],
    [
      "tiny graph with float16 KV and logits, inputs in another order",
      { kvType: "float16", logitsType: "float16", inputOrder: "shuffled" },
      true,
      HALF_TOLERANCE,
    ],
    // positions derived by the graph: only equal past lengths share a run (no pads)
    ["tiny graph deriving positions from attention_mask", { positionIds: false }, false],
  ];
  for (const [label, spec, padsAllowed, tolerance] of variants) {
    it(label, async () => {
      await expectBatchedEqualsAlone(await tiny({ seed: 6, ...spec }), padsAllowed, tolerance);
    });
  }

  it("a graph with a fixed batch of 1 runs each step alone, bit for bit", async () => {
    const engine = await tiny({ seed: 6, fixedBatch: true });
    expect(engine.signature.batchable).toBe(false);
    const plans = plansFor(engine.vocabSize);
    const want: Trace[] = [];
    for (const plan of plans) want.push(await alone(engine, plan));
    const batchesFed = countRuns();
    const { traces, calls } = await batched(engine, plans);
    expect(batchesFed()).toEqual(calls.flatMap((call) => call.tokens.map(() => 1)));
    traces.forEach((got, i) => {
      expect(got.tokens).toEqual(want[i]?.tokens);
      for (const [t, l] of got.logits.entries()) expect(maxDiff(l, want[i]?.logits[t] as Float32Array)).toBe(0);
    });
  });

  it("a group that keeps stepping together feeds its present back without a copy, in any order", async () => {
    const engine = await nano();
    const prompts = [
      [4089, 300, 301],
      [4089, 500, 501, 502, 503, 504, 505],
      [4089, 700],
    ];
    const want: Float32Array[][] = [];
    for (const prompt of prompts) {
      const s = engine.newSession();
      await s.append(prompt);
      want.push([await s.append([11]), await s.append([12]), await s.append([13])]);
    }
    const [a, b, c] = prompts.map(() => engine.newSession()) as [LogitsSession, LogitsSession, LogitsSession];
    await Promise.all([
      a.append(prompts[0] as number[]),
      b.append(prompts[1] as number[]),
      c.append(prompts[2] as number[]),
    ]);
    countRuns();
    const first = await engine.forwardBatch([a, b, c].map((session) => ({ session, tokens: [11] })));
    // the same company, listed in another order
    const second = await engine.forwardBatch([c, a, b].map((session) => ({ session, tokens: [12] })));
    const fedTo = (call: number) => runs.mock.calls[call]?.[0] as Record<string, ort.Tensor>;
    const out = (await runs.mock.results[0]?.value) as Record<string, ort.Tensor>;
    const fed = fedTo(1);
    expect(fed["past_key_values.0.key"]).toBe(out["present.0.key"]);
    expect(fed["past_key_values.5.value"]).toBe(out["present.5.value"]);
    // b leaves: a and c are copied out of the shared cache into a batch of two, padded to the
    // longest remaining past (a's 5), no longer to b's 9
    b.close?.();
    const third = await engine.forwardBatch([a, c].map((session) => ({ session, tokens: [13] })));
    expect(fedTo(2)["past_key_values.0.key"]?.dims).toEqual([2, 4, 5, 32]);
    const got = [
      [first[0], second[1], third[0]],
      [first[1], second[2]],
      [first[2], second[0], third[1]],
    ];
    got.forEach((rows, i) => {
      rows.forEach((l, t) => {
        expect(maxDiff(l as Float32Array, want[i]?.[t] as Float32Array), `sequence ${i} step ${t}`).toBeLessThan(
          TOLERANCE,
        );
      });
    });
  });

  it("allLogits returns every row of that sequence, like appendAll alone; equal prefills share a run", async () => {
    const engine = await nano();
    const tokens = [4089, 72, 101, 108, 108];
    const other = [4089, 300, 301, 302, 303];
    const wantAll = await engine.newSession().appendAll(tokens);
    const wantLast = await engine.newSession().append(other);
    const a = engine.newSession();
    const b = engine.newSession();
    const batchesFed = countRuns();
    const [all, last] = await engine.forwardBatch([
      { session: a, tokens, allLogits: true },
      { session: b, tokens: other },
    ]);
    expect(batchesFed()).toEqual([2]);
    expect(all?.length).toBe(tokens.length * engine.vocabSize);
    expect(maxDiff(all as Float32Array, wantAll)).toBeLessThan(TOLERANCE);
    expect(maxDiff(last as Float32Array, wantLast)).toBeLessThan(TOLERANCE);
    expect([a.length, b.length]).toEqual([5, 5]);
  });
});

describe("forwardBatch refuses what cannot run, before changing any session", () => {
  /** a and b after a prefill of 3 and 5 tokens, and what each gives next when nothing else happened */
  async function pair(engine: OnnxEngine) {
    const a = engine.newSession(8);
    const b = engine.newSession(6);
    await engine.forwardBatch([
      { session: a, tokens: [1, 2, 3] },
      { session: b, tokens: [4, 5, 6, 7, 8] },
    ]);
    const refA = engine.newSession(8);
    const refB = engine.newSession(6);
    await refA.append([1, 2, 3]);
    await refB.append([4, 5, 6, 7, 8]);
    const want = [await refA.append([9]), await refB.append([10])];
    return { a, b, want };
  }

  async function expectUnchanged(engine: OnnxEngine, p: Awaited<ReturnType<typeof pair>>): Promise<void> {
    expect([p.a.length, p.b.length]).toEqual([3, 5]);
    const got = await engine.forwardBatch([
      { session: p.a, tokens: [9] },
      { session: p.b, tokens: [10] },
    ]);
    expect(maxDiff(got[0] as Float32Array, p.want[0] as Float32Array)).toBeLessThan(TOLERANCE);
    expect(maxDiff(got[1] as Float32Array, p.want[1] as Float32Array)).toBeLessThan(TOLERANCE);
  }

  it("a step that overflows one session's capacity", async () => {
    const engine = await tiny({ seed: 8 });
    const p = await pair(engine);
    await expect(
      engine.forwardBatch([
        { session: p.a, tokens: [9] },
        { session: p.b, tokens: [10, 11] },
      ]),
    ).rejects.toBeInstanceOf(ContextOverflowError);
    await expectUnchanged(engine, p);
  });

  it("an empty batch, no tokens, a bad id, the same session twice, a closed one, another engine's", async () => {
    const engine = await tiny({ seed: 8 });
    const other = await tiny({ seed: 8 });
    const p = await pair(engine);
    const closed = engine.newSession();
    await closed.append([1]);
    closed.close?.();
    const batchesFed = countRuns();
    await expect(engine.forwardBatch([])).rejects.toThrow(/at least one sequence/);
    const refused: Array<[Parameters<OnnxEngine["forwardBatch"]>[0], RegExp | typeof RangeError]> = [
      [
        [
          { session: p.a, tokens: [9] },
          { session: p.b, tokens: [] },
        ],
        /at least one token/,
      ],
      [
        [
          { session: p.a, tokens: [9] },
          { session: p.b, tokens: [300] },
        ],
        RangeError,
      ],
      [
        [
          { session: p.a, tokens: [9] },
          { session: p.a, tokens: [10] },
        ],
        /only once/,
      ],
      [
        [
          { session: p.a, tokens: [9] },
          { session: closed, tokens: [1] },
        ],
        /closed/,
      ],
      [
        [
          { session: p.a, tokens: [9] },
          { session: other.newSession(), tokens: [1] },
        ],
        /another engine/,
      ],
    ];
    for (const [steps, error] of refused) await expect(engine.forwardBatch(steps)).rejects.toThrow(error);
    expect(batchesFed()).toEqual([]);
    await expectUnchanged(engine, p);
  });

  it("a session already running a step", async () => {
    const engine = await tiny({ seed: 8 });
    const p = await pair(engine);
    const running = p.a.append([9]);
    await expect(
      engine.forwardBatch([
        { session: p.b, tokens: [10] },
        { session: p.a, tokens: [11] },
      ]),
    ).rejects.toThrow(/already running/);
    expect(maxDiff(await running, p.want[0] as Float32Array)).toBeLessThan(TOLERANCE);
    expect(p.b.length).toBe(5);
  });

  it("onnxruntime failing in the second run of a call leaves the first run's sessions as they were", async () => {
    const engine = await tiny({ seed: 8 });
    const p = await pair(engine);
    const c = engine.newSession();
    // a decode group (a, b) and a prefill (c): two runs; the second one fails
    const original = sessionClass.prototype.run;
    runs = vi.spyOn(sessionClass.prototype, "run");
    runs.mockImplementationOnce(function (this: ort.InferenceSession, ...args: Parameters<typeof original>) {
      return original.apply(this, args);
    });
    runs.mockRejectedValueOnce(new Error("simulated onnxruntime failure"));
    await expect(
      engine.forwardBatch([
        { session: p.a, tokens: [9] },
        { session: c, tokens: [1, 2] },
        { session: p.b, tokens: [10] },
      ]),
    ).rejects.toThrow(/simulated/);
    expect(runs).toHaveBeenCalledTimes(2);
    expect(c.length).toBe(0);
    await expectUnchanged(engine, p);
  });

  it("a closed engine", async () => {
    const engine = await tiny({ seed: 8 });
    const session = engine.newSession();
    await engine.close();
    await expect(engine.forwardBatch([{ session, tokens: [1] }])).rejects.toThrow(/closed/);
    expect(session.length).toBe(0);
  });
});
