/**
 * Keys and values of every layer for the positions seen so far, sized once from the config. Each
 * layer's cache is in the kernels' layout (`attentionCache`), which only `attentionBatch` writes and
 * reads: the forward pass hands it a step's rows and never copies them itself.
 */
import { type AttentionCache, type AttentionShape, attentionCache, type KvCacheType } from "../../../kernels/index.js";
import { ContextOverflowError } from "../errors.js";

export class KVCache {
  readonly layers: readonly AttentionCache[];
  /** positions filled */
  length = 0;

  constructor(
    layers: number,
    readonly capacity: number,
    shape: AttentionShape,
    type: KvCacheType,
  ) {
    this.layers = Array.from({ length: layers }, () => attentionCache(capacity, shape, type));
  }

  /** Throws before any work when `count` more positions would not fit. */
  reserve(count: number): void {
    if (this.length + count > this.capacity) throw new ContextOverflowError(this.length + count, this.capacity);
  }

  /** Forget positions from `length` on (a new request reusing the cache, or a rollback). */
  truncate(length: number): void {
    this.length = Math.min(this.length, Math.max(0, length));
  }

  get bytes(): number {
    return this.layers.reduce((n, l) => n + l.keys.byteLength + l.values.byteLength, 0);
  }
}
