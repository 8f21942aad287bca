/**
 * A variant's worker thread ending (close, idle unload, restart) while the main thread never loaded
 * the kernels addon itself: node unloads an addon when the last thread that loaded it ends, and the
 * kernel pool's threads, which that worker started and which outlive it, must not be left running
 * unmapped code (the addon is linked never to unload). Before that, this process crashed with
 * SIGSEGV in about two runs of three, right after the first close.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const POOL = fileURLToPath(new URL("./index.ts", import.meta.url));
const NANO = fileURLToPath(new URL("../../../models/nano/nano-b158/model.gguf", import.meta.url));
const TSX = fileURLToPath(new URL("../../../node_modules/tsx/dist/cli.mjs", import.meta.url));

describe("worker threads that end", () => {
  it("leave the process running when the main thread never loaded the kernels", () => {
    // --eval runs CommonJS: no top-level await, the pool comes in by dynamic import
    const script = `(async () => {
      const { startVariantWorker } = await import(${JSON.stringify(POOL)});
      for (let round = 0; round < 4; round++) {
        const worker = startVariantWorker({ name: "nano", path: ${JSON.stringify(NANO)}, threads: 2 });
        await worker.ready;
        const result = await worker.generate({ input: { kind: "text", text: "Once upon a time" }, maxTokens: 4, ignoreEos: true, sampling: { temperature: 0 } });
        if (result.completionTokens !== 4) throw new Error("expected 4 tokens");
        await worker.close();
      }
      console.log("done");
    })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(process.execPath, [TSX, "--eval", script], { encoding: "utf8", timeout: 120_000 });
    expect(run.signal).toBeNull();
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split("\n").at(-1)).toBe("done");
  });
});
