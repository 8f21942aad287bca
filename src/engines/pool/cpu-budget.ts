/**
 * The CPU budget's arithmetic, as pure functions: what a seat may take of the free cores, and how many
 * threads each engine runs from the one `threads` setting. `cpu-turns.ts` applies them to the shared state.
 */

/** How a seat holds its cores. */
export interface SeatShape {
  /** the most cores the seat runs threads on (its engine's threads, at most the budget) */
  readonly cores: number;
  /**
   * true: the seat computes on however many cores it is granted, at least 1 and at most `cores` (the
   * kernels' pool, which runs a job on n of its threads); false: it needs all its `cores` (an ONNX
   * session, whose intra-op thread count is fixed when it is created)
   */
  readonly elastic: boolean;
}

/**
 * Cores a seat is granted now, or 0 (it waits): `free` is what no seat holds, `wantedAhead` what the
 * seats waiting with earlier tickets still need, which nobody behind them may take (a seat that needs
 * every core is not starved by smaller ones). `busyElsewhere` is what the other seats with work in
 * flight need but neither hold nor wait for at this moment (between their steps): an elastic seat
 * leaves it to them, down to its own one core, so two busy elastic seats (a variant's instances)
 * compute side by side on a core each instead of taking every core in turn.
 */
export function grantCores(seat: SeatShape, free: number, wantedAhead: number, busyElsewhere = 0): number {
  const available = free - wantedAhead;
  if (seat.elastic) return available >= 1 ? Math.min(seat.cores, Math.max(1, available - busyElsewhere)) : 0;
  return available >= seat.cores ? seat.cores : 0;
}

/** What a waiting seat needs before it can run: an elastic seat runs on one core, a fixed one on all its own. */
export function coresWanted(seat: SeatShape): number {
  return seat.elastic ? 1 : seat.cores;
}

/**
 * The threads an engine runs when `budget` cores are shared by every variant of the process: the
 * kernels' pool (BitNet) gets the whole budget, since it computes each step on what the other engines
 * leave; an ONNX session's intra-op threads are fixed for its life, so with BitNet variants in the
 * process it takes half the budget (the rest stays the kernels', which then compute beside it without
 * waiting), and alone (only ONNX variants) the whole budget. `own` is a variant's own setting, which wins
 * (capped at the budget).
 */
export function engineThreads(
  budget: number,
  engine: "bitnet" | "onnx",
  servesBitnet: boolean,
  own?: number | undefined,
): number {
  const cores = Math.max(1, Math.floor(budget));
  if (own !== undefined) return Math.max(1, Math.min(cores, Math.floor(own)));
  if (engine === "bitnet" || !servesBitnet) return cores;
  return Math.max(1, Math.floor(cores / 2));
}

/** The engine a model file runs on (the loader's own rule: GGUF files are BitNet, the rest ONNX). */
export function engineOfPath(path: string): "bitnet" | "onnx" {
  return path.endsWith(".gguf") ? "bitnet" : "onnx";
}
