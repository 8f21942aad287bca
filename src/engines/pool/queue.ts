/** A bounded priority queue: higher priority first, first-in first-out within a priority. */

export class PriorityQueue<T> {
  private readonly items: { item: T; priority: number; seq: number }[] = [];
  private seq = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  /** false when the queue is full */
  push(item: T, priority: number): boolean {
    if (this.items.length >= this.capacity) return false;
    const entry = { item, priority, seq: this.seq++ };
    // insertion keeps the array sorted; queues are short (tens), so a linear scan beats a heap
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.priority < priority) i--;
    this.items.splice(i, 0, entry);
    return true;
  }

  /**
   * When full, puts `item` in the place of the newest entry of the lowest priority, if that priority
   * is below `priority`, and returns the entry it displaced; undefined (nothing changed) otherwise.
   */
  displace(item: T, priority: number): T | undefined {
    const last = this.items.at(-1);
    if (last === undefined || last.priority >= priority) return undefined;
    this.items.pop();
    this.push(item, priority);
    return last.item;
  }

  /** How many entries a new one of `priority` would wait behind (those of that priority or higher). */
  countAtOrAbove(priority: number): number {
    let n = 0;
    while (n < this.items.length && this.items[n]!.priority >= priority) n++;
    return n;
  }

  shift(): T | undefined {
    return this.items.shift()?.item;
  }

  remove(item: T): boolean {
    const i = this.items.findIndex((e) => e.item === item);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  drain(): T[] {
    return this.items.splice(0).map((e) => e.item);
  }
}
