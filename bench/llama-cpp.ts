/** Where bench:e2e finds llama.cpp: node-llama-cpp in its own package under test/llama-cpp. */
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = join(import.meta.dirname, "..", "test", "llama-cpp");

function entry(): string | undefined {
  try {
    return createRequire(join(ROOT, "package.json")).resolve("node-llama-cpp");
  } catch {
    return undefined;
  }
}

export function llamaCppInstalled(): boolean {
  return entry() !== undefined;
}

/** The node-llama-cpp module, or a clear error naming the install script. */
export async function importNodeLlamaCpp(): Promise<unknown> {
  const path = entry();
  if (path === undefined) throw new Error("llama.cpp is not installed: run test/llama-cpp/install.sh");
  return import(pathToFileURL(path).href);
}
