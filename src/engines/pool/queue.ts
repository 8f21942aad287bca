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
