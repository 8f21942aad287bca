/**
 * The key store: `<stateDir>/keys.json` (mode 0600) holds the records of keys created at run time
 * (`tritgate keys create`, the admin API, the demo key) — hashes and display prefixes, never a key.
 * Writes are atomic (temporary file + rename), so a reader never sees half a file.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { ApiKeyRecord } from "./types.js";

export const KEYS_FILE = "keys.json";

export interface KeyStore {
  readonly path: string;
  /** Every stored record; empty when the file does not exist yet. */
  load(): ApiKeyRecord[];
  /** Adds the record, or replaces the one with the same id, and writes the file. */
  put(record: ApiKeyRecord): void;
  /** Changes whenever the file does (null while it does not exist): cheap to poll. */
  stamp(): string | null;
}

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), "expected an ISO date")
  .transform((s) => new Date(s));

const storedKey = z.object({
  id: z.string().min(1),
  tenantId: z.string().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  prefix: z.string(),
  createdAt: isoDate,
  revokedAt: isoDate.optional(),
});

const storeFile = z.object({ version: z.literal(1), keys: z.array(storedKey) });

function toJson(record: ApiKeyRecord): Record<string, string> {
  const out: Record<string, string> = {
    id: record.id,
    tenantId: record.tenantId,
    hash: record.hash,
    prefix: record.prefix,
    createdAt: record.createdAt.toISOString(),
  };
  if (record.revokedAt) out.revokedAt = record.revokedAt.toISOString();
  return out;
}

export function openKeyStore(stateDir: string): KeyStore {
  const path = join(stateDir, KEYS_FILE);

  function load(): ApiKeyRecord[] {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
    }
    const parsed = storeFile.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      throw new Error(`${path}: ${first?.path.join(".") ?? ""}: ${first?.message ?? "invalid key store"}`);
    }
    return parsed.data.keys;
  }

  function write(records: readonly ApiKeyRecord[]): void {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const body = `${JSON.stringify({ version: 1, keys: records.map(toJson) }, null, 2)}\n`;
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      writeFileSync(tmp, body, { mode: 0o600 });
      chmodSync(tmp, 0o600); // in case the umask widened it
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }

  return {
    path,
    load,
    put(record) {
      const records = load().filter((r) => r.id !== record.id);
      records.push(record);
      write(records);
    },
    stamp() {
      try {
        const s = statSync(path);
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return null;
      }
    },
  };
}
