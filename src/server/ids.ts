/** Identifiers in OpenAI's style: a prefix and random hex. */
import { randomBytes } from "node:crypto";

export function newId(prefix: string, bytes = 12): string {
  return `${prefix}${randomBytes(bytes).toString("hex")}`;
}

export const nowSeconds = (ms: number) => Math.floor(ms / 1000);
