/**
 * `npm run bench:nano [-- --json FILE] [--repeats N]`
 *
 * The committed nano family on this machine: for each variant (ternary TQ2_0 and I2_S, the
 * post-training ternary, and the anchor — the fp32 ONNX twin — in the same run), each in its own
 * process (bench/e2e-run.ts): load time, file bytes, RSS growth on load, prefill tokens/s for a
 * 128-token prompt and greedy decode tokens/s for 64 tokens, at 1 and 2 threads, best of N runs.
 * Ratios are against the fp32 ONNX anchor measured here.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hardware } from "../kernels/index.js";
import { type E2ERun, measureInChild } from "./e2e-child.js";
import { argValue, table, writeJson } from "./timing.js";

const repeats = Number(argValue("--repeats") ?? 3);
const jsonPath = argValue("--json");
const root = join(import.meta.dirname, "..", "models", "nano");
const VARIANTS = [
  { name: "nano-fp32 (anchor)", path: join(root, "nano-fp32", "model.onnx") },
  { name: "nano-b158 TQ2_0", path: join(root, "nano-b158", "model.gguf") },
  { name: "nano-b158 I2_S", path: join(root, "nano-b158", "model-i2_s.gguf") },
  { name: "nano-b158-ptq TQ2_0", path: join(root, "nano-b158-ptq", "model.gguf") },
];

const rows: Array<E2ERun & { variant: string; rssGrowthBytes: number }> = [];
for (const v of VARIANTS) {
  if (!existsSync(v.path)) throw new Error(`${v.path} is missing (the committed nano models: see models/nano)`);
  for (const threads of [1, 2]) {
    let best: E2ERun | undefined;
    for (let r = 0; r < repeats; r++) {
      const run = measureInChild(v.path, threads);
      if (!best || run.decodeTokensPerSecond > best.decodeTokensPerSecond) best = run;
    }
    rows.push({ ...best!, variant: v.name, rssGrowthBytes: best!.rssAfterLoad - best!.rssBefore });
    process.stderr.write(".");
  }
}
process.stderr.write("\n");

const anchor = (threads: number) => rows.find((r) => r.variant.endsWith("(anchor)") && r.threads === threads)!;
const mb = (b: number) => (b / 1e6).toFixed(2);
const hw = hardware();
console.log(`tritgate nano bench: ${hw.cpuModel}, ${hw.physicalCores} cores, isa ${hw.isa}; best of ${repeats}\n`);
console.log(
  table(
    ["variant", "threads", "file MB", "RSS growth MB", "load ms", "prefill tok/s", "decode tok/s", "decode vs fp32"],
    rows.map((r) => [
      r.variant,
      String(r.threads),
      mb(r.fileBytes),
      mb(r.rssGrowthBytes),
      r.loadMs.toFixed(0),
      r.prefillTokensPerSecond.toFixed(0),
      r.decodeTokensPerSecond.toFixed(0),
      `${(r.decodeTokensPerSecond / anchor(r.threads).decodeTokensPerSecond).toFixed(2)}x`,
    ]),
  ),
);
if (jsonPath) {
  writeJson(jsonPath, {
    machine: { cpu: hw.cpuModel, cores: hw.physicalCores, isa: hw.isa },
    repeats,
    anchor: "nano-fp32 (ONNX fp32 on onnxruntime-node), measured in the same run",
    rows: rows.map((r) => ({
      ...r,
      decodeVsAnchor: r.decodeTokensPerSecond / anchor(r.threads).decodeTokensPerSecond,
    })),
  });
}
