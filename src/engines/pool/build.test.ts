/**
 * The pool from compiled JavaScript, as `npm run build` lays it out in dist/: the handle starts
 * worker.js directly, no tsx involved. Compiled to a scratch folder under node_modules/.cache so
 * the native kernels are found the same way (an ancestor folder holds kernels/build).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { tinyFamily } from "../../../test/helpers/tiny-family.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../../..");

describe("the pool from a build", () => {
  const cache = join(root, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, "tg-pool-build-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("starts worker.js from the compiled output and generates", async () => {
    const rel = (p: string) => relative(dir, join(root, p));
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: rel("tsconfig.json"),
        compilerOptions: { noEmit: false, outDir: "./out", rootDir: rel("."), sourceMap: false, incremental: false },
        include: [],
        files: [rel("src/engines/pool/index.ts"), rel("src/engines/pool/worker.ts")],
      }),
    );
    await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(dir, "tsconfig.json")]);
    const { gguf } = await tinyFamily();
    const handle = join(dir, "out/src/engines/pool/index.js");
    const script = `
      const { startVariantWorker } = await import(${JSON.stringify(handle)});
      const w = startVariantWorker({ name: "tiny-b158", path: ${JSON.stringify(gguf)}, threads: 1 });
      await w.ready;
      const r = await w.generate({ input: { kind: "text", text: "Once" }, maxTokens: 3, ignoreEos: true });
      console.log(JSON.stringify({ tokens: r.completionTokens, kind: w.info.kind }));
      await w.close();
    `;
    writeFileSync(join(dir, "main.mjs"), script);
    const { stdout } = await run(process.execPath, [join(dir, "main.mjs")], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual({ tokens: 3, kind: "bitnet" });
  });
});
