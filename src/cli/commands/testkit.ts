/** Fixtures for the CLI command tests (not part of the package). */
import { vi } from "vitest";
import type { Command } from "../command.js";

/** Runs a command in this process with console.log / console.error captured. */
export async function runCaptured(
  command: Command,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(" ")}\n`;
  });
  vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
    err += `${parts.join(" ")}\n`;
  });
  try {
    return { code: await command.run(args), out, err };
  } finally {
    vi.restoreAllMocks();
  }
}
