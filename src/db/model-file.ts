/**
 * A model file as the registry takes it: its engine by file type and its SHA-256, read in a stream
 * (a 2B model is over a gigabyte). A missing, unreadable or wrong-typed file is a `ModelFileError`
 * that names the file and says what is wrong with it.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import type { EngineKind } from "../../router/index.js";

export class ModelFileError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = "ModelFileError";
  }
}

/** The engine a file is served by: `.gguf` → bitnet, `.onnx` → onnx. */
export function engineOfFile(path: string): EngineKind {
  if (path.endsWith(".gguf")) return "bitnet";
  if (path.endsWith(".onnx")) return "onnx";
  throw new ModelFileError(path, "not a model file (expected a .gguf for bitnet or an .onnx for onnx)");
}

/** Hex SHA-256 of the file; a ModelFileError when it is missing, not a file or unreadable. */
export async function hashModelFile(path: string): Promise<string> {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new ModelFileError(path, "not a file");
    size = stat.size;
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(path, describe(e));
  }
  if (size === 0) throw new ModelFileError(path, "the file is empty");
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (e) {
    throw new ModelFileError(path, describe(e));
  }
  return hash.digest("hex");
}

/** The file's hash, checked against the one the operator gave (when given). */
export async function checkModelFile(path: string, expectedSha256?: string): Promise<string> {
  engineOfFile(path);
  const sha256 = await hashModelFile(path);
  if (expectedSha256 !== undefined && expectedSha256.toLowerCase() !== sha256) {
    throw new ModelFileError(path, `sha256 mismatch: the file's is ${sha256}, expected ${expectedSha256}`);
  }
  return sha256;
}

function describe(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "cannot be read (permission denied)";
  if (code === "EISDIR") return "not a file";
  return `cannot be read (${(e as Error).message})`;
}
