/**
 * A pool worker as the gateway sees it, with its generations changed by `generate` (for example
 * ignoring the end-of-sequence token, so a generation's length is what the test asked, whatever the
 * model would have said). Everything else reads through to the worker.
 */
import type { VariantWorker } from "../../src/engines/pool/index.js";
import type { VariantRuntime } from "../../src/server/types.js";

export function withGenerate(worker: VariantWorker, generate: VariantRuntime["generate"]): VariantRuntime {
  return {
    name: worker.name,
    slots: worker.slots,
    get state() {
      return worker.state;
    },
    get error() {
      return worker.error;
    },
    get info() {
      return worker.info;
    },
    get running() {
      return worker.running;
    },
    get waiting() {
      return worker.waiting;
    },
    waitingAtOrAbove: (priority) => worker.waitingAtOrAbove(priority),
    get kvTokensInUse() {
      return worker.kvTokensInUse;
    },
    generate,
  };
}

/** The worker, its generations ignoring end-of-sequence: each runs to its max_tokens. */
export const ignoringEos = (worker: VariantWorker): VariantRuntime =>
  withGenerate(worker, (request, onToken, signal) => worker.generate({ ...request, ignoreEos: true }, onToken, signal));
