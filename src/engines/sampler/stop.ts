/** Stop strings over streamed text. */

export interface StopPush {
  /** text that can be sent to the client now */
  emit: string;
  /** a stop string completed; nothing after it will ever be emitted */
  stopped: boolean;
  /** the stop string that completed, when stopped */
  stop?: string;
}

/**
 * Holds back the tail of the text that could still grow into a stop string, so a stop split across chunks
 * (tokens often end mid-word) never leaks its first characters to the client.
 *
 * When several stops match, the one that completes first wins, and on a tie the longer one (it starts
 * earlier). That is what character-by-character streaming would decide, so the result does not depend on
 * how the text was chunked. Empty stop strings are ignored: they would match before any text.
 */
export class StopMatcher {
  private readonly stops: readonly string[];
  private readonly longest: number;
  private held = "";
  private done: string | undefined;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    this.longest = this.stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  /** Returns the text now safe to emit, and whether a stop string completed (text after it is dropped). */
  push(text: string): StopPush {
    if (this.done !== undefined) return { emit: "", stopped: true, stop: this.done };
    if (this.stops.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;

    let stop: string | undefined;
    let start = 0;
    let end = Number.POSITIVE_INFINITY;
    for (const s of this.stops) {
      const at = buf.indexOf(s);
      if (at < 0) continue;
      const e = at + s.length;
      if (e < end || (e === end && at < start)) {
        stop = s;
        start = at;
        end = e;
      }
    }
    if (stop !== undefined) {
      this.done = stop;
      this.held = "";
      return { emit: buf.slice(0, start), stopped: true, stop };
    }

    const keep = this.partialTail(buf);
    this.held = buf.slice(buf.length - keep);
    return { emit: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** At end of generation: the held-back text (empty once a stop string has matched). */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  /** Length of the longest suffix of buf that is a proper prefix of some stop string. */
  private partialTail(buf: string): number {
    for (let k = Math.min(buf.length, this.longest - 1); k > 0; k--) {
      const tail = buf.slice(buf.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }
}
