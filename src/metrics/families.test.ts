import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CounterFamily, HistogramFamily } from "./families.js";

describe("CounterFamily and HistogramFamily", () => {
  it("expose exactly what prom-client's own Counter and Histogram expose for the same updates", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.1, 0.5, 1, 5];
    const h = new HistogramFamily("x_seconds", "help", ["tier", "variant"], buckets, ours);
    const c = new CounterFamily("x_total", "help", ["tier"], ours);
    const ph = new Histogram({
      name: "x_seconds",
      help: "help",
      labelNames: ["tier", "variant"],
      buckets,
      registers: [theirs],
    });
    const pc = new Counter({ name: "x_total", help: "help", labelNames: ["tier"], registers: [theirs] });
    const values = [0.05, 0.1, 0.3, 1, 1.5, 7, 0.5];
    values.forEach((v, i) => {
      const tier = i % 2 === 0 ? "free" : "standard";
      h.observe([tier, "nano-b158"], v);
      ph.observe({ tier, variant: "nano-b158" }, v);
      c.inc([tier], v);
      pc.inc({ tier }, v);
    });
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("refuses a counter going down and a wrong number of label values", () => {
    const registry = new Registry();
    const c = new CounterFamily("y_total", "help", ["tier", "variant"], registry);
    expect(() => c.inc(["free", "a"], -1)).toThrow(RangeError);
    expect(() => c.inc(["free"])).toThrow(TypeError);
  });
});
