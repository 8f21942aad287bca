import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allowsAttempt } from "./circuit.js";
import { decide } from "./decide.js";
import { predict } from "./predict.js";
import { featuresArb, tierArb, variantsArb } from "./testkit.js";
import type { DecisionInput, VariantState } from "./types.js";

const inputArb: fc.Arbitrary<DecisionInput> = fc.record({
  features: featuresArb,
  tier: tierArb,
  variants: variantsArb,
  now: fc.integer({ min: 0, max: 60_000 }),
});

const RUNS = { numRuns: 500 };

/** An oracle computed from the inputs alone, independent of decide's candidate bookkeeping. */
function oracle(i: DecisionInput) {
  const allowed = (v: VariantState) => i.tier.allowedVariants.includes(v.name);
  const usable = i.variants.filter((v) => allowed(v) && allowsAttempt(v.breaker, i.now));
  const best = Math.max(0, ...i.variants.filter(allowed).map((v) => v.quality));
  const need = Math.max(i.tier.qualityFloor, Math.min(i.features.qualityNeed, best));
  const totalSla = Math.min(i.tier.totalSlaMs, i.features.slaMsHint ?? Number.POSITIVE_INFINITY);
  const p = (v: VariantState) => predict(v, i.features, { now: i.now, prices: i.tier });
  const inSla = (v: VariantState) => p(v).ttftMs <= i.tier.ttftSlaMs && p(v).totalMs <= totalSla;
  const goodEnough = (v: VariantState) => v.quality + 1e-9 >= need;
  const feasible = usable.filter((v) => goodEnough(v) && inSla(v));
  return { allowed, usable, need, p, inSla, goodEnough, feasible };
}

describe("decide — properties", () => {
  it("a chosen variant is always one the tier allows and whose breaker lets it through", () => {
    fc.assert(
      fc.property(inputArb, (i) => {
        const d = decide(i);
        if (d.kind !== "routed") return;
        const v = i.variants.find((x) => x.name === d.chosen)!;
        expect(i.tier.allowedVariants).toContain(d.chosen);
        expect(allowsAttempt(v.breaker, i.now)).toBe(true);
        for (const f of d.fallback) {
          const fv = i.variants.find((x) => x.name === f)!;
          expect(i.tier.allowedVariants).toContain(f);
          expect(allowsAttempt(fv.breaker, i.now)).toBe(true);
        }
        expect(new Set([d.chosen, ...d.fallback]).size).toBe(d.fallback.length + 1);
      }),
      RUNS,
    );
  });

  it("when some variant is fully feasible, the sla strategy routes the cheapest feasible one, not degraded", () => {
    fc.assert(
      fc.property(inputArb, (i0) => {
        const i = { ...i0, tier: { ...i0.tier, strategy: "sla" as const } };
        const o = oracle(i);
        fc.pre(o.feasible.length > 0);
        const d = decide(i);
        expect(d.kind).toBe("routed");
        expect(d.degraded).toBe(false);
        expect(d.slaAtRisk).toBe(false);
        const chosen = o.feasible.find((v) => v.name === d.chosen);
        expect(chosen).toBeDefined();
        const cheapest = Math.min(...o.feasible.map((v) => o.p(v).cost));
        expect(o.p(chosen!).cost).toBe(cheapest);
        expect(["cheapest_feasible", "only_feasible", "quality_floor"]).toContain(d.reason);
      }),
      RUNS,
    );
  });

  it("degrade never rejects while an allowed healthy variant exists, and never picks a disallowed one", () => {
    fc.assert(
      fc.property(inputArb, (i0) => {
        const i = { ...i0, tier: { ...i0.tier, strategy: "sla" as const, onOverload: "degrade" as const } };
        const o = oracle(i);
        const d = decide(i);
        if (o.usable.length > 0) {
          expect(d.kind).toBe("routed");
          expect(i.tier.allowedVariants).toContain(d.chosen);
        } else {
          expect(d.reason).toMatch(/^no_(allowed|healthy)_variant$/);
        }
        if (d.kind === "routed" && d.reason === "degraded_sla") {
          const v = i.variants.find((x) => x.name === d.chosen)!;
          expect(o.inSla(v)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it("rejects only when the policy leaves no option", () => {
    fc.assert(
      fc.property(inputArb, (i) => {
        const d = decide(i);
        if (d.kind !== "rejected") return;
        const o = oracle(i);
        switch (d.reason) {
          case "no_allowed_variant":
            expect(i.variants.some(o.allowed)).toBe(false);
            break;
          case "no_healthy_variant":
            expect(o.usable).toHaveLength(0);
            break;
          case "no_quality_variant":
            expect(i.tier.onOverload).toBe("queue");
            expect(o.usable.some(o.goodEnough)).toBe(false);
            break;
          case "rejected_overload":
            expect(i.tier.strategy).toBe("sla");
            expect(i.tier.onOverload).not.toBe("degrade");
            expect(o.feasible).toHaveLength(0);
            if (i.tier.onOverload === "queue") {
              expect(o.usable.some((v) => o.goodEnough(v) && o.p(v).queueMs <= i.tier.maxQueueWaitMs)).toBe(false);
            }
            expect(d.rejection.status).toBe(429);
            expect(d.rejection.retryAfterSec).toBeGreaterThanOrEqual(1);
            break;
          default:
            throw new Error(`unpinned input rejected with ${d.reason}`);
        }
      }),
      RUNS,
    );
  });

  it("is deterministic and does not depend on the order variants arrive in", () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), (i, seed) => {
        const first = decide(i);
        expect(decide(structuredClone(i))).toEqual(first);
        const shuffled = [...i.variants].sort((a, b) => (hash(a.name, seed) - hash(b.name, seed)) | 0 || 0);
        const again = decide({ ...i, variants: shuffled });
        expect({ chosen: again.chosen, reason: again.reason, fallback: again.fallback }).toEqual({
          chosen: first.chosen,
          reason: first.reason,
          fallback: first.fallback,
        });
      }),
      RUNS,
    );
  });

  it("never degrades a request whose need the chosen variant meets, and flags it when it does not", () => {
    fc.assert(
      fc.property(inputArb, (i) => {
        const d = decide(i);
        if (d.kind !== "routed") return;
        const v = i.variants.find((x) => x.name === d.chosen)!;
        const o = oracle(i);
        if (o.goodEnough(v)) expect(d.degraded).toBe(false);
        else if (d.escalation === null) expect(d.degraded).toBe(true);
      }),
      RUNS,
    );
  });
});

function hash(s: string, seed: number): number {
  let h = seed | 0;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x9e3779b1);
  return h;
}
