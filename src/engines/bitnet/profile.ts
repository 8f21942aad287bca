/**
 * Time per named step of the forward pass, for finding where a token's time goes
 * (`bench/e2e-run.ts --profile`). The forward pass calls `lap` after each step only when a
 * profile was passed in, so a run without one pays one optional-chaining check per step.
 */
export class StepProfile {
  private readonly totalMs = new Map<string, number>();
  private readonly calls = new Map<string, number>();
  private last = 0;

  /** Starts (or restarts) the clock: the next lap measures from here. */
  start(): void {
    this.last = performance.now();
  }

  /** Charges the time since the previous lap (or start) to `step`. */
  lap(step: string): void {
    const now = performance.now();
    this.totalMs.set(step, (this.totalMs.get(step) ?? 0) + now - this.last);
    this.calls.set(step, (this.calls.get(step) ?? 0) + 1);
    this.last = now;
  }

  reset(): void {
    this.totalMs.clear();
    this.calls.clear();
  }

  /** Milliseconds and calls per step, largest first. */
  steps(): Array<{ step: string; ms: number; calls: number }> {
    return [...this.totalMs]
      .map(([step, ms]) => ({ step, ms, calls: this.calls.get(step) ?? 0 }))
      .sort((a, b) => b.ms - a.ms);
  }
}
