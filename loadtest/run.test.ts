import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "./run.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** main's exit code and what it wrote to stderr (nothing is started for a usage error). */
async function usage(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  vi.spyOn(console, "error").mockImplementation((line: unknown) => {
    stderr += `${String(line)}\n`;
  });
  return { code: await main(args), stderr };
}

describe("npm run loadtest: usage errors exit 2 before any load", () => {
  it("needs a known profile", async () => {
    expect(await usage([])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--profile must be one of smoke, full/),
    });
    expect((await usage(["--profile", "heavy"])).code).toBe(2);
  });

  it("pairs --url with --key, and keeps --database-url for its own gateway", async () => {
    expect((await usage(["--profile", "smoke", "--key", "tg-x"])).stderr).toMatch(/--key needs --url/);
    expect((await usage(["--profile", "smoke", "--url", "http://127.0.0.1:1"])).stderr).toMatch(/--url needs --key/);
    const both = await usage([
      "--profile",
      "smoke",
      "--url",
      "http://127.0.0.1:1",
      "--key",
      "k",
      "--database-url",
      "x",
    ]);
    expect(both).toMatchObject({ code: 2, stderr: expect.stringMatching(/--database-url is for the gateway/) });
    expect((await usage(["--profile", "smoke", "--bogus"])).code).toBe(2);
  });

  it("takes --duration only as a positive number of seconds", async () => {
    for (const bad of ["0", "-5", "soon"]) {
      expect(await usage(["--profile", "full", `--duration=${bad}`])).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--duration must be a positive number of seconds/),
      });
    }
  });
});
