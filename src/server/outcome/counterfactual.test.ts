/**
 * The fp32 counterfactual on an outcome is on the same footing as its measured cost: when the
 * reference variant itself answered, the two are equal (savings 0, never negative because the
 * machine ran slower than the cards predict); when the ternary variant answered, the predicted
 * ratio between the two variants is kept.
 */
import { describe, expect, it } from "vitest";
import { answers, chat, settle, setup } from "./testkit.js";

describe("the outcome's counterfactual cost", () => {
  it("equals the measured cost when the reference (fp32) variant answered", async () => {
    const { post, seen } = setup(answers("hello there"), "premium");
    expect((await post(chat())).status).toBe(200);
    await settle();
    const o = seen[0];
    expect(o?.variant?.name).toBe("tiny-fp32");
    expect(o?.serving?.cost).toBeGreaterThan(0);
    expect(o?.counterfactualCost).toBeCloseTo(o?.serving?.cost ?? Number.NaN, 15);
  });

  it("keeps the router's predicted ratio when the ternary variant answered", async () => {
    const { post, seen } = setup(answers("hello there"), "free");
    expect((await post(chat())).status).toBe(200);
    await settle();
    const o = seen[0];
    const decision = o?.routed?.decision;
    expect(o?.variant?.name).toBe("tiny-b158");
    const predictedOwn = decision?.candidates.find((c) => c.variant === "tiny-b158")?.prediction.cost ?? 0;
    const predictedReference = decision?.counterfactualCost ?? 0;
    expect(predictedOwn).toBeGreaterThan(0);
    expect(predictedReference).toBeGreaterThan(0);
    const measuredRatio = (o?.counterfactualCost ?? 0) / (o?.serving?.cost ?? 1);
    expect(measuredRatio).toBeCloseTo(predictedReference / predictedOwn, 9);
  });
});
