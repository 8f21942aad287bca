/**
 * `npm install`'s native build (kernels/install.mjs), run as npm runs it, on a copy of the kernels so
 * the addon the other suites load is left alone: quiet when it works, its output shown when it fails.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const KERNELS = fileURLToPath(new URL(".", import.meta.url));
const NODE_MODULES = join(KERNELS, "../node_modules");

/** install.mjs, binding.gyp and the C sources in a fresh directory (node-gyp found through NODE_PATH). */
function kernelsCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "tg-kernels-install-"));
  for (const part of ["install.mjs", "binding.gyp", "src"])
    cpSync(join(KERNELS, part), join(dir, part), { recursive: true });
  return dir;
}

function install(dir: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [join(dir, "install.mjs")], {
    env: { ...process.env, NODE_PATH: NODE_MODULES, npm_config_loglevel: "notice", ...env },
    encoding: "utf8",
    timeout: 600_000,
  });
}

describe("kernels/install.mjs", () => {
  it("an install without a C compiler fails and says what to install", () => {
    const script = join(KERNELS, "install.mjs");
    const env: Record<string, string> = { PATH: "/nonexistent", HOME: process.env.HOME ?? "/tmp" };
    const run = spawnSync(process.execPath, [script], { env, encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot build the native kernels: no C compiler found/);
    expect(run.stderr).toMatch(/apt-get install build-essential python3/);
  });

  it("a compiler that fails: exit 1, and the compiler's own output is shown", () => {
    const dir = kernelsCopy();
    const cc = join(dir, "broken-cc");
    writeFileSync(
      cc,
      '#!/bin/sh\nif [ "$1" = "--version" ]; then echo "broken-cc 1.0"; exit 0; fi\necho "broken-cc: refusing to compile $*" >&2\nexit 1\n',
    );
    chmodSync(cc, 0o755);
    const run = install(dir, { CC: cc });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/broken-cc: refusing to compile/);
    expect(run.stderr).toMatch(/cannot build the native kernels: node-gyp failed \(exit \d+\); its output is above/);
  });

  it("a build that works prints nothing and leaves the addon", () => {
    const dir = kernelsCopy();
    const run = install(dir);
    expect(run.stderr, run.stderr).toBe("");
    expect(run.stdout).toBe("");
    expect(run.status).toBe(0);
    expect(existsSync(join(dir, "build", "Release", "tritgate_kernels.node"))).toBe(true);
  });
});
