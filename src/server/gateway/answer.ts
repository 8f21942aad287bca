/**
 * The choice loop: a request's `n` choices run one after another along the decision's chain, and
 * the cascade, written once for whole and streamed answers. Renderers (`openai/json.ts`,
 * `openai/stream.ts`) pass `events` to see committed tokens as they come.
 */
import { type RoutedDecision, shouldEscalate } from "../../../router/index.js";
import type { PoolGenerateRequest, PoolResult, PoolToken } from "../../engines/pool/index.js";
import type { Gateway } from "./gateway.js";

export interface ChoiceOutcome {
  readonly index: number;
  readonly variant: string;
  /** the registry version of `variant` that answered */
  readonly version: string;
  readonly result: PoolResult;
  /** dispatch → result at the pool handle; see RunOutcome */
  readonly workerMs: number;
}

export interface AnswerPlan {
  readonly decision: RoutedDecision;
  readonly choices: number;
  readonly request: (choice: number) => PoolGenerateRequest;
  /** what splits a variant's traffic between its canary and stable versions: the request id */
  readonly requestKey: string;
}

/** Where the loop writes what it did, so that a failure part-way still leaves the choices that ran. */
export interface AnswerProgress {
  readonly choices: ChoiceOutcome[];
  readonly tried: string[];
  /** per variant that produced tokens, the version that produced them (the header names it) */
  readonly versions: Map<string, string>;
  escalated: boolean;
  firstTokenAt: number | null;
}

/** Tokens and finished choices that are part of the answer (the cascade holds back the ones it may drop). */
export interface ChoiceEvents {
  token(index: number, variant: string, token: PoolToken): void;
  done(outcome: ChoiceOutcome): void;
  /** whether the client has seen any of choice `index`: from then on it cannot fall back to another variant */
  sent(index: number): boolean;
  /** choice `index` failed on a variant before any of it was sent: drop its tokens, the next variant starts it afresh */
  restart(index: number): void;
}

/** How many leading tokens the cascade's confidence is measured on. */
export const CASCADE_TOKENS = 16;

/**
 * Runs every choice, escalating a cascade's unsure cheap answer to the better variant. With
 * `events` (a stream), the first choice's leading tokens are held back until their confidence is
 * known, so an unsure cheap answer is dropped unseen and its generation stopped; without (a whole
 * answer), the cheap answer runs to its end, so it can still stand if the better variant fails.
 */
export async function answer(
  gateway: Gateway,
  plan: AnswerPlan,
  progress: AnswerProgress,
  signal: AbortSignal,
  events?: ChoiceEvents,
): Promise<void> {
  const { decision } = plan;
  const chain = [decision.chosen, ...decision.fallback];
  const escalation = decision.escalation;
  if (!escalation || chain[0] === escalation.next)
    return runChoices(gateway, plan, chain, progress, signal, events, false);

  // streamed: the cheap pass is stopped once judged unsure; whole: it runs on (see above)
  const probe = events ? new AbortController() : null;
  const gate = new ConfidenceGate(escalation.threshold, escalation.next, events, () => probe?.abort());
  try {
    const cheapSignal = probe ? AbortSignal.any([signal, probe.signal]) : signal;
    await runChoices(gateway, plan, chain, progress, cheapSignal, gate, true);
  } catch (e) {
    // a streamed cheap pass judged unsure ends by the probe's abort; any other failure is the answer's
    if (!events || !gate.unsure || signal.aborted) throw e;
  }
  if (!gate.unsure) return;
  progress.escalated = true;
  const cheap = progress.choices.splice(0);
  try {
    await runChoices(gateway, plan, [escalation.next], progress, signal, events, false);
  } catch (e) {
    if (events || signal.aborted) throw e;
    // the better variant failed: the cheap answer stands
    progress.choices.splice(0, progress.choices.length, ...cheap);
  }
}

async function runChoices(
  gateway: Gateway,
  plan: AnswerPlan,
  chain: readonly string[],
  progress: AnswerProgress,
  signal: AbortSignal,
  events: ChoiceEvents | undefined,
  /** the cascade judges these tokens by their log-probability (`ConfidenceGate`) */
  judged: boolean,
): Promise<void> {
  let order = chain;
  for (let index = 0; index < plan.choices; index++) {
    const firstTokenBefore = progress.firstTokenAt;
    const request = plan.request(index);
    const out = await gateway.run(
      order,
      // a token's logprob is read only for the client's logprobs or the cascade's judgement: without
      // either, greedy steps skip the log-partition over the vocabulary
      { ...request, logprobs: request.tokenInfo === true || judged },
      signal,
      (variant, token, version) => {
        progress.firstTokenAt ??= gateway.now();
        progress.versions.set(variant, version);
        events?.token(index, variant, token);
      },
      plan.requestKey,
      {
        // a whole answer is sent only once complete, so until then any engine failure falls back
        committed: () => events?.sent(index) ?? false,
        onRetry: () => {
          // the failed attempt's first token is not the answer's
          progress.firstTokenAt = firstTokenBefore;
          events?.restart(index);
        },
        tried: progress.tried,
      },
    );
    progress.versions.set(out.variant, out.version);
    // later choices start on the variant that answered
    order = [out.variant, ...order.filter((n) => n !== out.variant)];
    const outcome: ChoiceOutcome = {
      index,
      variant: out.variant,
      version: out.version,
      result: out.result,
      workerMs: out.workerMs,
    };
    progress.choices.push(outcome);
    events?.done(outcome);
  }
}

/**
 * Holds the first choice's leading tokens until CASCADE_TOKENS of them (or the whole choice) are in,
 * then judges their mean log-probability: confident, they are released and the rest flows through;
 * unsure, they and everything after are dropped.
 */
class ConfidenceGate implements ChoiceEvents {
  unsure = false;
  private held: { variant: string; token: PoolToken }[] | null = [];
  private heldDone: ChoiceOutcome | null = null;

  constructor(
    private readonly threshold: number,
    /** an answer that fell back onto the better variant already is the better answer */
    private readonly better: string,
    private readonly next: ChoiceEvents | undefined,
    private readonly onUnsure: () => void,
  ) {}

  sent(index: number): boolean {
    return this.next?.sent(index) ?? false;
  }

  restart(index: number): void {
    // only the first choice is judged; a restarted one is judged afresh on the variant that answers it
    if (index === 0 && !this.sent(0)) {
      this.held = [];
      this.heldDone = null;
      this.unsure = false;
    }
    this.next?.restart(index);
  }

  token(index: number, variant: string, token: PoolToken): void {
    if (this.held !== null && index === 0) {
      this.held.push({ variant, token });
      if (this.held.length >= CASCADE_TOKENS) this.judge();
      return;
    }
    if (!this.unsure) this.next?.token(index, variant, token);
  }

  done(outcome: ChoiceOutcome): void {
    if (this.held !== null && outcome.index === 0) {
      this.heldDone = outcome;
      this.judge();
      return;
    }
    if (!this.unsure) this.next?.done(outcome);
  }

  private judge(): void {
    const held = this.held!;
    this.held = null;
    const mean = held.length === 0 ? 0 : held.reduce((sum, t) => sum + t.token.logprob, 0) / held.length;
    const variant = this.heldDone?.variant ?? held[0]?.variant;
    if (variant !== this.better && shouldEscalate(mean, this.threshold)) {
      this.unsure = true;
      this.onUnsure();
      return;
    }
    for (const t of held) this.next?.token(0, t.variant, t.token);
    if (this.heldDone) this.next?.done(this.heldDone);
  }
}
