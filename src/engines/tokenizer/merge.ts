/**
 * Shared merge loop for both BPE flavours. `priority(left, right)` returns the priority of merging two adjacent
 * symbols (lower merges first) or undefined when they cannot merge. Ties go to the leftmost pair, which is the
 * order both Hugging Face tokenizers and llama.cpp use, so results match theirs even for unusual merge tables.
 */
export function mergeSymbols(
  initial: readonly string[],
  priority: (left: string, right: string) => number | undefined,
): string[] {
  const n = initial.length;
  if (n < 2) return [...initial];
  const text = [...initial];
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const heap = new CandidateHeap();
  const consider = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const l = text[left] as string;
    const r = text[right] as string;
    const p = priority(l, r);
    if (p !== undefined) heap.push({ priority: p, left, right, leftText: l, rightText: r });
  };
  for (let i = 0; i + 1 < n; i++) consider(i, i + 1);

  for (let c = heap.pop(); c !== undefined; c = heap.pop()) {
    // candidates are never removed eagerly; a stale one is detected because a side has changed since
    if (next[c.left] !== c.right || text[c.left] !== c.leftText || text[c.right] !== c.rightText) continue;
    text[c.left] = c.leftText + c.rightText;
    text[c.right] = "";
    const after = next[c.right] as number;
    next[c.left] = after;
    next[c.right] = -1;
    prev[c.right] = -1;
    if (after >= 0) prev[after] = c.left;
    consider(prev[c.left] as number, c.left);
    consider(c.left, after);
  }

  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i] as number) out.push(text[i] as string);
  return out;
}

interface Candidate {
  priority: number;
  left: number;
  right: number;
  leftText: string;
  rightText: string;
}

function before(a: Candidate, b: Candidate): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.left < b.left);
}

class CandidateHeap {
  private readonly items: Candidate[] = [];

  push(item: Candidate): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent] as Candidate;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Candidate | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      let child = l;
      if (r < items.length && before(items[r] as Candidate, items[l] as Candidate)) child = r;
      const c = items[child] as Candidate;
      if (!before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
