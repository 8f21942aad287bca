/**
 * Partial selection over sampling candidates, ordered by key (adjusted logit) descending with ties to the lower
 * id. That order is total, so results never depend on how candidates happen to be arranged, and no full sort
 * of the vocabulary is ever needed.
 */

/**
 * A candidate list as parallel arrays: partitioning then reads keys sequentially instead of chasing ids
 * through a 128k-entry table, which measured several times faster.
 */
export class Candidates {
  readonly ids: Int32Array;
  readonly keys: Float64Array;
  readonly weights: Float64Array;
  count = 0;

  constructor(capacity: number) {
    this.ids = new Int32Array(capacity);
    this.keys = new Float64Array(capacity);
    this.weights = new Float64Array(capacity);
  }
}

/** segments this small are finished by insertion sort */
const SMALL = 24;
/** up to this k, top-k scans with a k-entry heap; above it, quickselect over all candidates */
const HEAP_MAX_K = 2048;

/** Index of the maximum of key[0, n), lowest index on ties; -1 when n is 0. */
export function argmax(key: Float64Array, n: number): number {
  let best = -1;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const v = key[i]!;
    if (v > max || best < 0) {
      max = v;
      best = i;
    }
  }
  return best;
}

/** true when slot i comes before slot j: higher key, or same key and lower id */
function ahead(c: Candidates, i: number, j: number): boolean {
  const ki = c.keys[i]!;
  const kj = c.keys[j]!;
  return ki > kj || (ki === kj && c.ids[i]! < c.ids[j]!);
}

function swap(c: Candidates, i: number, j: number): void {
  const id = c.ids[i]!;
  c.ids[i] = c.ids[j]!;
  c.ids[j] = id;
  const k = c.keys[i]!;
  c.keys[i] = c.keys[j]!;
  c.keys[j] = k;
  const w = c.weights[i]!;
  c.weights[i] = c.weights[j]!;
  c.weights[j] = w;
}

/** Sorts slots [start, end) into order. Only ever called on short segments. */
function insertionSort(c: Candidates, start: number, end: number): void {
  for (let i = start + 1; i < end; i++) {
    for (let j = i; j > start && ahead(c, j, j - 1); j--) swap(c, j, j - 1);
  }
}

/** second result of partition(): set instead of returned so the hot loop allocates nothing */
let partitionMass = 0;

/**
 * Lomuto partition of slots [start, end) around a median-of-three pivot. Returns the pivot's final slot;
 * slots before it come ahead of it in order, slots after it behind. Leaves the summed weight of the slots
 * before the pivot in partitionMass.
 */
function partition(c: Candidates, start: number, end: number): number {
  const mid = start + ((end - start) >> 1);
  const last = end - 1;
  if (ahead(c, mid, start)) swap(c, mid, start);
  if (ahead(c, last, start)) swap(c, last, start);
  // start now holds the first of the three; move the median of the other two to the end as pivot
  if (ahead(c, mid, last)) swap(c, mid, last);
  const pivotKey = c.keys[last]!;
  const pivotId = c.ids[last]!;
  let store = start;
  let mass = 0;
  for (let i = start; i < last; i++) {
    const k = c.keys[i]!;
    if (k > pivotKey || (k === pivotKey && c.ids[i]! < pivotId)) {
      mass += c.weights[i]!;
      swap(c, i, store);
      store++;
    }
  }
  swap(c, store, last);
  partitionMass = mass;
  return store;
}

/** Rearranges the candidates so that slots [0, k) hold the k first in order (themselves unordered). */
export function selectTop(c: Candidates, k: number): void {
  if (k <= 0 || k >= c.count) return;
  let start = 0;
  let end = c.count;
  while (end - start > SMALL) {
    const p = partition(c, start, end);
    if (p === k || p === k - 1) return;
    if (p > k) end = p;
    else start = p + 1;
  }
  insertionSort(c, start, end);
}

/**
 * Top-k of x[0, n) into c (keys and ids; weights left for the caller), unordered. For the usual small k a
 * single pass with a min-heap of the k best so far: nearly every token loses one comparison to its root.
 */
export function topKInto(x: Float64Array, n: number, k: number, c: Candidates): void {
  if (k >= n || k > HEAP_MAX_K) {
    for (let i = 0; i < n; i++) {
      c.ids[i] = i;
      c.keys[i] = x[i]!;
      c.weights[i] = 0;
    }
    c.count = n;
    selectTop(c, k);
    c.count = Math.min(k, n);
    return;
  }
  const { ids, keys } = c;
  // min-heap on "worst first": lower key, or on equal keys the higher id
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    let slot: number;
    if (i < k) {
      slot = i;
      while (slot > 0) {
        const parent = (slot - 1) >> 1;
        const pk = keys[parent]!;
        if (!(v < pk || (v === pk && i > ids[parent]!))) break;
        keys[slot] = pk;
        ids[slot] = ids[parent]!;
        slot = parent;
      }
    } else {
      // ids rise with i, so an equal key loses to the root: ties keep the lower id
      if (!(v > keys[0]!)) continue;
      slot = 0;
      for (;;) {
        let child = 2 * slot + 1;
        if (child >= k) break;
        const right = child + 1;
        if (right < k && (keys[right]! < keys[child]! || (keys[right] === keys[child] && ids[right]! > ids[child]!))) {
          child = right;
        }
        const ck = keys[child]!;
        if (!(ck < v || (ck === v && ids[child]! > i))) break;
        keys[slot] = ck;
        ids[slot] = ids[child]!;
        slot = child;
      }
    }
    keys[slot] = v;
    ids[slot] = i;
  }
  c.count = k;
}

/**
 * Top-p cut. Rearranges the candidates and returns the smallest m >= 1 such that slots [0, m) are the m first
 * in order and their summed weight reaches `target`. Weighted quickselect: expected linear time, so even a
 * flat distribution over 128k tokens costs a few passes rather than a sort. Returns the candidate count if
 * rounding keeps the target out of reach.
 */
export function nucleusCut(c: Candidates, target: number): number {
  let start = 0;
  let end = c.count;
  let need = target;
  while (end - start > SMALL) {
    const p = partition(c, start, end);
    const before = partitionMass;
    const through = before + c.weights[p]!;
    if (before >= need) {
      end = p;
    } else if (through >= need) {
      return p + 1;
    } else {
      need -= through;
      start = p + 1;
    }
  }
  insertionSort(c, start, end);
  let acc = 0;
  for (let i = start; i < end; i++) {
    acc += c.weights[i]!;
    if (acc >= need) return Math.max(1, i + 1);
  }
  return Math.max(1, end);
}
