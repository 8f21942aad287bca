/** Identifiers in OpenAI's style: a prefix and random hex. */
import { randomFillSync } from "node:crypto";

// Random bytes are drawn from a pool refilled 4 KiB at a time: one `randomBytes` call per id cost a
// few microseconds each, three times per request.
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

export function newId(prefix: string, bytes = 12): string {
  if (bytes > POOL_SIZE) throw new RangeError(`newId: at most ${POOL_SIZE} random bytes`);
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString("hex", offset, offset + bytes);
  offset += bytes;
  return `${prefix}${hex}`;
}

export const nowSeconds = (ms: number) => Math.floor(ms / 1000);
