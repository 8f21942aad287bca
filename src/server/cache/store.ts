/**
 * The response cache's memory: answers by key, each with its tenant and expiry, under one bound in
 * bytes shared by every tier. The least recently used entry is evicted first; an expired entry is
 * dropped when it is next looked up (until then it is the first candidate for eviction only if it is
 * also the least recently used: expired entries never outlive the byte bound).
 */
import type { TextEmbedder } from "../../engines/bitnet/index.js";
import type { ChoiceOutcome } from "../gateway/answer.js";
import { SemanticIndex } from "./semantic.js";

export interface CachedAnswer {
  readonly tenantId: string;
  readonly endpoint: string;
  /** the variant whose answer this is (echoed in `x-tritgate-variant` on a hit) */
  readonly variant: string;
  readonly choices: readonly ChoiceOutcome[];
  /** gateway clock, ms since epoch */
  readonly storedAt: number;
  readonly expiresAt: number;
  /** what the entry is counted as against the bound (see `answerBytes`) */
  readonly bytes: number;
}

export interface CacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly evictions: number;
  readonly expirations: number;
}

/** Semantic candidates kept at most (a nano embedding is 1 KiB), however many answers are stored. */
const SEMANTIC_ENTRIES = 4096;

/** Map, key and bookkeeping per entry, on top of its JSON size (an estimate, not a measurement). */
const ENTRY_OVERHEAD_BYTES = 256;

/** An answer's size as counted against the bound: its choices as UTF-8 JSON plus a fixed overhead. */
export function answerBytes(choices: readonly ChoiceOutcome[]): number {
  return Buffer.byteLength(JSON.stringify(choices)) + ENTRY_OVERHEAD_BYTES;
}

export class ResponseCache {
  /** Map order is recency order: the first entry is the least recently used */
  private readonly entries = new Map<string, CachedAnswer>();
  private used = 0;
  private evicted = 0;
  private expired = 0;

  /** the semantic mode's candidates; null without an embedder (semantic tiers then cache exactly) */
  readonly semantic: SemanticIndex | null;

  constructor(
    readonly maxBytes: number,
    /** what the semantic mode compares messages with */
    readonly embedder: TextEmbedder | null = null,
  ) {
    this.semantic = embedder ? new SemanticIndex(SEMANTIC_ENTRIES) : null;
  }

  /** The tenant's answer under `key`, unless it expired; a hit becomes the most recently used. */
  get(tenantId: string, key: string, now: number): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(key, entry);
      this.expired++;
      return undefined;
    }
    // the key is derived from the tenant already; this makes crossing tenants impossible, not improbable
    if (entry.tenantId !== tenantId) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Keeps `entry`, evicting the least recently used until it fits; false when it is larger than the bound. */
  set(key: string, entry: CachedAnswer): boolean {
    if (entry.bytes > this.maxBytes) return false;
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    for (const [k, e] of this.entries) {
      if (this.used + entry.bytes <= this.maxBytes) break;
      this.remove(k, e);
      this.evicted++;
    }
    this.entries.set(key, entry);
    this.used += entry.bytes;
    return true;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  stats(): CacheStats {
    return {
      entries: this.entries.size,
      bytes: this.used,
      maxBytes: this.maxBytes,
      evictions: this.evicted,
      expirations: this.expired,
    };
  }

  private remove(key: string, entry: CachedAnswer): void {
    this.entries.delete(key);
    this.used -= entry.bytes;
  }
}
