/**
 * Batched decode (`forwardBatch`) against each sequence decoded alone: the same logits bit for
 * bit and the same tokens, greedy and seeded, with mixed prompt lengths, sequences joining
 * mid-way (their prefill beside the others' decode) and leaving mid-way, on every ISA path, for
 * the committed nano model (fp32 and fp16 KV caches) and synthetic 2-layer models (TQ2_0, TQ1_0,
 * I2_S linears; F16 and Q8_0 heads).
 */
import { describe, expect, it } from "vitest";
import { hardware, type Isa } from "../../../kernels/index.js";
import { encodeGGUF, parseGGUF, readGGUF } from "../../formats/gguf/index.js";
import { ContextOverflowError } from "../errors.js";
import { Sampler } from "../sampler/index.js";
import { type BitNetEngine, type BitNetSession, bitnetEngineFromFile, syntheticBitNet } from "./index.js";
import { TINY_BITNET } from "./testkit.js";

const NANO = "models/nano/nano-b158/model.gguf";

interface Plan {
  readonly prompt: readonly number[];
  /** the batched step at which the sequence joins */
  readonly join: number;
  readonly maxTokens: number;
  readonly sampling: { temperature: number; seed?: number; topP?: number };
}

interface Trace {
  tokens: number[];
  /** hex of every logits vector the sequence received, in order */
  logits: string[];
}

function hex(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

/** Each sequence alone: prefill its prompt, then one token a step. */
async function alone(engine: BitNetEngine, plan: Plan): Promise<Trace> {
  const session = engine.newSession(plan.prompt.length + plan.maxTokens + 1);
  const sampler = new Sampler(plan.sampling, engine.vocabSize);
  const trace: Trace = { tokens: [], logits: [] };
  let logits = await session.append(plan.prompt);
  const history = [...plan.prompt];
  for (let t = 0; t < plan.maxTokens; t++) {
    trace.logits.push(hex(logits));
    const id = sampler.sample(logits, history).id;
    trace.tokens.push(id);
    history.push(id);
    if (t + 1 < plan.maxTokens) logits = await session.append([id]);
  }
  session.close();
  return trace;
}

/** All sequences through forwardBatch: a sequence joins at its step, leaves after maxTokens. */
function batched(engine: BitNetEngine, plans: readonly Plan[]): { traces: Trace[]; batchSizes: number[] } {
  interface Live {
    session: BitNetSession;
    sampler: Sampler;
    history: number[];
    next: readonly number[];
    trace: Trace;
    plan: Plan;
  }
  const traces = plans.map((): Trace => ({ tokens: [], logits: [] }));
  const live = new Map<number, Live>();
  const batchSizes: number[] = [];
  for (let step = 0; live.size > 0 || plans.some((p) => p.join >= step); step++) {
    plans.forEach((plan, i) => {
      if (plan.join !== step) return;
      live.set(i, {
        session: engine.newSession(plan.prompt.length + plan.maxTokens + 1),
        sampler: new Sampler(plan.sampling, engine.vocabSize),
        history: [...plan.prompt],
        next: plan.prompt,
        trace: traces[i] as Trace,
        plan,
      });
    });
    if (live.size === 0) continue;
    const order = [...live.entries()];
    batchSizes.push(order.length);
    const logits = engine.forwardBatch(order.map(([, s]) => ({ session: s.session, tokens: s.next })));
    order.forEach(([i, s], at) => {
      const l = logits[at] as Float32Array;
      s.trace.logits.push(hex(l));
      const id = s.sampler.sample(l, s.history).id;
      s.trace.tokens.push(id);
      s.history.push(id);
      s.next = [id];
      if (s.trace.tokens.length === s.plan.maxTokens) {
        s.session.close();
        live.delete(i);
      }
    });
  }
  return { traces, batchSizes };
}

function plansFor(vocab: number, promptStart: number): Plan[] {
  const prompt = (n: number, salt: number) =>
    Array.from({ length: n }, (_, i) => promptStart + ((i * 7 + salt) % (vocab - promptStart)));
  return [
    { prompt: prompt(5, 1), join: 0, maxTokens: 9, sampling: { temperature: 0 } },
    { prompt: prompt(1, 2), join: 0, maxTokens: 4, sampling: { temperature: 0.9, seed: 11 } }, // leaves early
    { prompt: prompt(12, 3), join: 0, maxTokens: 8, sampling: { temperature: 1.2, seed: 5, topP: 0.9 } },
    { prompt: prompt(3, 4), join: 2, maxTokens: 6, sampling: { temperature: 0 } }, // joins mid-way
    { prompt: prompt(7, 5), join: 5, maxTokens: 5, sampling: { temperature: 0.7, seed: 3 } }, // joins after one left
  ];
}

async function expectBatchedEqualsAlone(engine: BitNetEngine, promptStart: number) {
  const plans = plansFor(engine.vocabSize, promptStart);
  const want: Trace[] = [];
  for (const plan of plans) want.push(await alone(engine, plan));
  const { traces, batchSizes } = batched(engine, plans);
  // the schedule really batched: several sizes, up to four sequences at once
  expect(Math.max(...batchSizes)).toBeGreaterThanOrEqual(4);
  expect(new Set(batchSizes).size).toBeGreaterThan(2);
  traces.forEach((got, i) => {
    expect(got.tokens, `sequence ${i} tokens`).toEqual(want[i]?.tokens);
    expect(got.logits.length).toBe(want[i]?.logits.length);
    for (const [t, l] of got.logits.entries()) {
      expect(l === want[i]?.logits[t], `sequence ${i} logits at token ${t}`).toBe(true);
    }
  });
}

const paths = hardware().available as readonly Isa[];
const nanoFile = await readGGUF(NANO);

describe.each(paths)("%s: batched decode equals each sequence alone", (isa) => {
  for (const kvCacheType of ["f32", "f16"] as const) {
    it(`nano-b158 (the committed model), ${kvCacheType} KV cache`, async () => {
      await expectBatchedEqualsAlone(bitnetEngineFromFile(nanoFile, { isa, kvCacheType }), 0);
    });
  }

  for (const [linearType, embeddingType] of [
    ["TQ2_0", "F16"],
    ["TQ1_0", "Q8_0"],
    ["I2_S", "F16"],
  ] as const) {
    it(`synthetic 2-layer ${linearType} linears, ${embeddingType} head`, async () => {
      const spec = { ...TINY_BITNET, linearType, embeddingType, separateOutput: embeddingType === "Q8_0" };
      const engine = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(spec)), "tiny.gguf"), { isa });
      await expectBatchedEqualsAlone(engine, 0);
    });
  }
});

describe("forwardBatch refuses what cannot run, before changing any sequence", () => {
  const engine = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));

  it("a step that overflows one cache leaves every cache as it was", () => {
    const a = engine.newSession(8);
    const b = engine.newSession(4);
    engine.forwardBatch([
      { session: a, tokens: [1, 2] },
      { session: b, tokens: [3, 4, 5] },
    ]);
    expect(() =>
      engine.forwardBatch([
        { session: a, tokens: [6] },
        { session: b, tokens: [7, 8] },
      ]),
    ).toThrow(ContextOverflowError);
    expect([a.length, b.length]).toEqual([2, 3]);
  });

  it("the same sequence twice, a closed one, another engine's, an empty step or no tokens", () => {
    const other = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));
    const a = engine.newSession(8);
    const closed = engine.newSession(8);
    closed.close();
    expect(() =>
      engine.forwardBatch([
        { session: a, tokens: [1] },
        { session: a, tokens: [2] },
      ]),
    ).toThrow(/only once/);
    expect(() => engine.forwardBatch([{ session: closed, tokens: [1] }])).toThrow(/closed/);
    expect(() => engine.forwardBatch([{ session: other.newSession(8), tokens: [1] }])).toThrow(/another engine/);
    expect(() => engine.forwardBatch([])).toThrow(/at least one/);
    expect(() => engine.forwardBatch([{ session: a, tokens: [] }])).toThrow(/at least one token/);
    expect(a.length).toBe(0);
  });

  it("allLogits returns every row of that sequence, equal to appendAll alone", async () => {
    const tokens = [256, 72, 101, 108];
    const alone = engine.newSession(8);
    const want = await alone.appendAll(tokens);
    const a = engine.newSession(8);
    const b = engine.newSession(8);
    const [all, last] = engine.forwardBatch([
      { session: a, tokens, allLogits: true },
      { session: b, tokens: [256] },
    ]);
    expect(all?.length).toBe(tokens.length * engine.vocabSize);
    expect(last?.length).toBe(engine.vocabSize);
    expect(hex(all as Float32Array)).toBe(hex(want));
  });
});

describe("forwardBatch with logitsInto: each sequence's logits written into its own buffer", () => {
  const engine = bitnetEngineFromFile(parseGGUF(encodeGGUF(syntheticBitNet(TINY_BITNET)), "tiny.gguf"));

  it("returns the buffers, holding exactly what a fresh array holds, beside a prefill and an allLogits step", () => {
    const fresh = [engine.newSession(16), engine.newSession(16), engine.newSession(16)];
    const reused = [engine.newSession(16), engine.newSession(16), engine.newSession(16)];
    const buffers = reused.map(() => new Float32Array(engine.vocabSize).fill(Number.NaN));
    const steps = [
      [[256, 72], [256], [256, 9, 10]],
      [[101], [102], [103]],
      [[104], [105, 106, 107], [108]],
    ];
    for (const [s, tokens] of steps.entries()) {
      // the last step's third sequence asks for all its rows: it gets a new array, not its buffer
      const allLogits = (i: number) => s === 2 && i === 2;
      const want = engine.forwardBatch(
        fresh.map((session, i) => ({ session, tokens: tokens[i]!, allLogits: allLogits(i) })),
      );
      const got = engine.forwardBatch(
        reused.map((session, i) => ({
          session,
          tokens: tokens[i]!,
          allLogits: allLogits(i),
          logitsInto: buffers[i],
        })),
      );
      for (const i of [0, 1, 2]) {
        expect(hex(got[i]!)).toBe(hex(want[i]!));
        if (allLogits(i)) expect(got[i]).not.toBe(buffers[i]);
        else expect(got[i]).toBe(buffers[i]);
      }
    }
    // a step where only some rows have a buffer: those are written, the others are new arrays
    const [a, b] = engine.forwardBatch([
      { session: reused[0]!, tokens: [7], logitsInto: buffers[0] },
      { session: reused[1]!, tokens: [8] },
    ]);
    const [wantA, wantB] = engine.forwardBatch([
      { session: fresh[0]!, tokens: [7] },
      { session: fresh[1]!, tokens: [8] },
    ]);
    expect(a).toBe(buffers[0]);
    expect(b).not.toBe(buffers[1]);
    expect([hex(a!), hex(b!)]).toEqual([hex(wantA!), hex(wantB!)]);
  });

  it("refuses a buffer of the wrong length before changing any sequence", () => {
    const a = engine.newSession(8);
    expect(() =>
      engine.forwardBatch([{ session: a, tokens: [1], logitsInto: new Float32Array(engine.vocabSize - 1) }]),
    ).toThrow(/logitsInto holds/);
    expect(a.length).toBe(0);
  });
});
