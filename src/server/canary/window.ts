/** The last `capacity` attempts on one version, as the canary decision reads them. */
import { type AttemptSample, summarize, type WindowStats } from "../../../router/index.js";

export class AttemptWindow {
  private readonly ring: AttemptSample[] = [];
  private next = 0;
  /** attempts pushed since the window was made (the ring keeps the latest `capacity`) */
  total = 0;

  constructor(readonly capacity: number) {}

  push(sample: AttemptSample): void {
    this.total++;
    if (this.ring.length < this.capacity) {
      this.ring.push(sample);
      return;
    }
    this.ring[this.next] = sample;
    this.next = (this.next + 1) % this.capacity;
  }

  stats(): WindowStats {
    return summarize(this.ring);
  }
}
