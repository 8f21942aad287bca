/**
 * What keeps `npm install` free of warnings of ours: no project config npm does not know (the
 * `.npmrc` key onnxruntime-node once needed, which npm warns about and its next major drops), and every
 * dependency with an install script reviewed in package.json's `allowScripts` (npm warns about the
 * others). onnxruntime-node's is denied: it only downloads CUDA providers; the CPU binaries ship in
 * the package. (A fresh clone's `npm install` is the end-to-end check; it needs the registry.)
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
  packages: Record<string, { hasInstallScript?: boolean; dev?: boolean; optional?: boolean }>;
};

/** "node_modules/a/node_modules/@b/c" → "@b/c" */
const packageName = (path: string) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);

describe("npm install hygiene", () => {
  it("npm reads the project's config without a warning", () => {
    const run = spawnSync("npm", ["config", "get", "registry"], { cwd: ROOT, encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/warn/i);
  });

  it("every dependency with an install script is reviewed in allowScripts", () => {
    const scripted = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== "" && entry.hasInstallScript)
      .map(([path]) => packageName(path));
    expect(scripted.length).toBeGreaterThan(0);
    const reviewed = Object.keys(pkg.allowScripts ?? {});
    expect([...new Set(scripted)].filter((name) => !reviewed.includes(name))).toEqual([]);
  });

  it("onnxruntime-node's CUDA download is denied, and its CPU binding is in the package", () => {
    expect(pkg.allowScripts?.["onnxruntime-node"]).toBe(false);
    const binaries = join(ROOT, "node_modules/onnxruntime-node/bin/napi-v6", `${process.platform}/${process.arch}`);
    // the script did not run: what it would have fetched (linux/x64's CUDA provider) is not there
    expect(existsSync(join(binaries, "libonnxruntime_providers_cuda.so"))).toBe(false);
    const loaded = spawnSync(
      process.execPath,
      [
        "-e",
        "require('onnxruntime-node').InferenceSession.create(process.argv[1]).then(s => console.log(s.inputNames.join(',')))",
        join(ROOT, "models/nano/nano-fp32/model.onnx"),
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(loaded.stderr).toBe("");
    expect(loaded.stdout).toMatch(/input_ids/);
  });
});
