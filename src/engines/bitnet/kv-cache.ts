/** Keys and values of every layer for the positions seen so far, sized once from the config. */
import { ContextOverflowError } from "../errors.js";

export class KVCache {
  readonly keys: Float32Array[];
  readonly values: Float32Array[];
  /** positions filled */
  length = 0;

  constructor(
    layers: number,
    readonly capacity: number,
    readonly rowSize: number,
  ) {
    this.keys = Array.from({ length: layers }, () => new Float32Array(capacity * rowSize));
    this.values = Array.from({ length: layers }, () => new Float32Array(capacity * rowSize));
  }

  /** Throws before any work when `count` more positions would not fit. */
  reserve(count: number): void {
    if (this.length + count > this.capacity) throw new ContextOverflowError(this.length + count, this.capacity);
  }

  store(layer: number, position: number, keys: Float32Array, values: Float32Array): void {
    this.keys[layer]?.set(keys, position * this.rowSize);
    this.values[layer]?.set(values, position * this.rowSize);
  }

  /** Forget positions from `length` on (a new request reusing the cache, or a rollback). */
  truncate(length: number): void {
    this.length = Math.min(this.length, Math.max(0, length));
  }

  get bytes(): number {
    return this.keys.length * 2 * this.capacity * this.rowSize * 4;
  }
}
