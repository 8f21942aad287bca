import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

it("an install without a C compiler fails and says what to install", () => {
  const script = fileURLToPath(new URL("./install.mjs", import.meta.url));
  const env: Record<string, string> = { PATH: "/nonexistent", HOME: process.env.HOME ?? "/tmp" };
  const run = spawnSync(process.execPath, [script], { env, encoding: "utf8" });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/cannot build the native kernels: no C compiler found/);
  expect(run.stderr).toMatch(/apt-get install build-essential python3/);
});
