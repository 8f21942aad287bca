/**
 * Routing and execution for one request: resolve `model` to a family (or a pinned variant), ask the
 * router (analyse → predict per variant → decide), then run the generation on the chosen variant,
 * walking the decision's fallback chain on engine failures and feeding the circuit breakers.
 */
import { analyse, DEFAULT_BREAKER_CONFIG, type Decision, decide, type RouteMessage } from "../../../router/index.js";
import { ChatTemplateError, ContextOverflowError, RequestError } from "../../engines/errors.js";
import {
  CapacityError,
  EngineError,
  GenerationAbortedError,
  type PoolGenerateRequest,
  type PoolResult,
  type PoolToken,
  VariantUnavailableError,
} from "../../engines/pool/index.js";
import type { TierConfig } from "../../tenants/index.js";
import { VariantVersions } from "../canary/versions.js";
import { type ApiError, forbidden, invalidRequest, modelNotFound, rateLimited, unavailable } from "../errors.js";
import { newId } from "../ids.js";
import { createLogger, type Logger } from "../log.js";
import type { AppDeps, ServedVariant } from "../types.js";
import { promptTokenEstimate } from "./estimate.js";
import type { RoutingHints } from "./hints.js";
import { VariantStates } from "./state.js";

/** `model` values that mean "route me". */
export const AUTO_MODEL = "auto";
/** retry-after is capped: a failed variant's breaker may stay open indefinitely. */
const MAX_RETRY_AFTER_SEC = 60;

export interface RouteArgs {
  readonly model: string;
  readonly tier: TierConfig;
  readonly messages: readonly RouteMessage[];
  readonly maxTokens: number | undefined;
  readonly hints: RoutingHints;
}

export interface Routed {
  readonly decisionId: string;
  readonly decision: Decision;
  /** per variant, as the router saw it: running, and the queued requests this one would wait behind */
  readonly load: Record<string, { running: number; waiting: number }>;
}

export interface RunOutcome {
  readonly variant: string;
  /** the registry version of `variant` that answered (its canary's or its stable one's) */
  readonly version: string;
  readonly result: PoolResult;
  /** from dispatch to a slot until the result is back at the pool handle (message hops, tokenising, generation) */
  readonly workerMs: number;
  /** variants tried, in order; the last one answered */
  readonly tried: readonly string[];
}

/** What `Gateway.run` asks of its caller besides the tokens. */
export interface RunOptions {
  /**
   * Whether the client has seen any of the answer yet. Until it has, an engine failure falls back to
   * the next variant (a whole answer is never committed before it is sent); after, it is thrown.
   */
  readonly committed?: () => boolean;
  /** the attempt failed before it was committed: the tokens it streamed are void, the next variant starts afresh */
  readonly onRetry?: () => void;
  /** where the variants tried are written as they are tried, so a request that fails still says which (default: a new list) */
  readonly tried?: string[];
}

export class Gateway {
  readonly states: VariantStates;
  /** the versions behind each variant name: the stable one and, during a rollout, its canary */
  readonly versions: VariantVersions;
  readonly now: () => number;
  private readonly log: Logger;

  constructor(deps: AppDeps) {
    const breaker = deps.breaker ?? DEFAULT_BREAKER_CONFIG;
    this.log = deps.log ?? createLogger();
    this.versions = new VariantVersions(deps.variants, deps.registry, this.log);
    this.states = new VariantStates(this.versions.served, breaker, deps.rateAlpha ?? 0.2, deps.log);
    this.now = deps.now ?? Date.now;
  }

  /** The model ids a tier sees: `auto`, the families it may use and the variants it may pin. */
  visibleModels(tier: TierConfig): string[] {
    const allowed = this.states.all().filter((v) => tier.allowedVariants.includes(v.config.name));
    const families = [...new Set(allowed.map((v) => v.config.family))];
    return [AUTO_MODEL, ...families, ...allowed.map((v) => v.config.name)];
  }

  /** `model` → the family to route within and the pinned variant, if any. */
  resolve(model: string, tier: TierConfig): { family: string; pinned: string | null } {
    if (model === AUTO_MODEL) {
      const first = tier.allowedVariants.map((n) => this.states.get(n)).find((v) => v !== undefined);
      const family = first?.config.family ?? this.states.families()[0];
      if (family === undefined) throw unavailable("No models are configured.");
      return { family, pinned: null };
    }
    if (this.states.families().includes(model)) return { family: model, pinned: null };
    const variant = this.states.get(model);
    if (variant) return { family: variant.config.family, pinned: model };
    throw modelNotFound(model);
  }

  route(args: RouteArgs): Routed {
    const { family, pinned } = this.resolve(args.model, args.tier);
    const promptTokens = promptTokenEstimate(args.messages);
    const features = analyse({
      messages: args.messages,
      promptTokens,
      maxTokens: args.maxTokens,
      qualityHint: args.hints.qualityHint,
      slaMsHint: args.hints.slaMsHint,
    });
    const now = this.now();
    const variants = this.states.snapshot(family, now, args.tier.priority);
    const decision = decide({ features, tier: args.tier, variants, now, pinned });
    const load: Routed["load"] = {};
    for (const v of variants) load[v.name] = { running: v.running, waiting: v.waiting };
    return { decisionId: newId("dec_"), decision, load };
  }

  /** A rejected decision as the API error it answers with. */
  rejection(decision: Decision, model: string): ApiError {
    if (decision.kind !== "rejected") throw new Error("not a rejected decision");
    const { status, message, retryAfterSec } = decision.rejection;
    const retry = retryAfterSec === null ? null : Math.min(MAX_RETRY_AFTER_SEC, retryAfterSec);
    switch (status) {
      case 403:
        return forbidden(message);
      case 404:
        return modelNotFound(model);
      case 429:
        return rateLimited(message, retry ?? 1, "requests", "rate_limit_exceeded", { "x-should-retry": "true" });
      case 503:
        return unavailable(message, retry);
    }
  }

  /**
   * Runs one generation on `first` and, on engine failure, on the rest of the chain. Once the client
   * has seen part of the answer (`options.committed`: a stream's first chunk) it is committed: a later
   * failure is thrown as an `engine_failure`, not retried. Tokens that reached only the gateway (a
   * whole answer, a cascade's held tokens) commit nothing: the next variant answers afresh.
   *
   * A request fault (the prompt plus max_tokens does not fit the context, the chat template cannot
   * render the messages) is never held against the variant. The rest of the chain is still tried,
   * since its variants may have a larger context or another template: a request only some variants
   * can take goes to those. When none can, the first variant's reason is the 400.
   *
   * Each variant is a stable version and, during a rollout, a canary: `requestKey` (the request id)
   * decides which one this request falls on (`VariantVersions.targets`). A canary's engine failure
   * counts against the canary, not the variant's breaker, and the same variant's stable version is
   * tried next, so a failing canary costs the client nothing it has not seen yet.
   */
  async run(
    chain: readonly string[],
    request: PoolGenerateRequest,
    signal: AbortSignal | undefined,
    onToken: (variant: string, token: PoolToken, version: string) => void,
    requestKey: string,
    options: RunOptions = {},
  ): Promise<RunOutcome> {
    const tried = options.tried ?? [];
    const isCommitted = options.committed ?? (() => false);
    let lastError: unknown;
    let requestFault: { variant: string; error: RequestError } | undefined;
    for (const name of chain) {
      const served = this.states.get(name);
      if (!served || !this.states.begin(name, this.now())) continue;
      tried.push(name);
      for (const target of this.versions.targets(name, requestKey)) {
        const t0 = performance.now();
        let streamed = false;
        try {
          const result = await target.worker.generate(
            request,
            (token) => {
              streamed = true;
              onToken(name, token, target.version);
            },
            signal,
          );
          const workerMs = performance.now() - t0 - result.queueMs;
          this.versions.observe(name, target.version, { ok: true, ms: performance.now() - t0 });
          this.states.success(name, {
            promptTokens: result.promptTokens,
            outputTokens: result.completionTokens,
            prefillMs: result.prefillMs,
            decodeMs: result.decodeMs,
            atMs: this.now(),
          });
          return { variant: name, version: target.version, result, workerMs, tried };
        } catch (e) {
          if (e instanceof GenerationAbortedError || signal?.aborted) {
            this.states.release(name);
            throw e;
          }
          const committed = isCommitted();
          if (!committed && streamed) options.onRetry?.();
          if (e instanceof RequestError) {
            this.states.release(name);
            requestFault ??= { variant: name, error: e };
            if (committed) throw requestFaultError(name, e);
            break;
          }
          const message = e instanceof Error ? e.message : String(e);
          if (target.canary) {
            // a canary at capacity (queue or KV budget) says nothing of its health: its stable version takes the request
            if (!(e instanceof CapacityError)) {
              this.versions.observe(name, target.version, { ok: false, ms: performance.now() - t0 });
              this.log.warn(`engine failure on canary ${name}@${target.version}: ${message}`);
            }
            if (committed) {
              this.states.release(name);
              throw committedFailure(e);
            }
            continue;
          }
          if (e instanceof CapacityError) this.states.release(name);
          else {
            this.versions.observe(name, target.version, { ok: false, ms: performance.now() - t0 });
            this.states.failure(name, this.now(), message);
          }
          lastError = e;
          if (committed) throw committedFailure(e);
        }
      }
    }
    if (requestFault) throw requestFaultError(requestFault.variant, requestFault.error);
    // every queue (or KV budget) it could wait in is full: overload, which the client may retry later (not a server fault)
    if (lastError instanceof CapacityError) {
      throw rateLimited(lastError.message, lastError.retryAfterSec, "requests", "rate_limit_exceeded", {
        "x-should-retry": "true",
      });
    }
    throw failedAnswer(lastError);
  }

  variant(name: string): ServedVariant | undefined {
    return this.states.get(name);
  }
}

/**
 * An engine failure as the API error: the engine (or its worker) failed, which is the server's
 * `engine_failure`, never the catch-all `internal_error` (that stays for bugs of ours).
 */
function failedAnswer(e: unknown): ApiError {
  if (e instanceof VariantUnavailableError || e instanceof EngineError) {
    return unavailable(`The model failed to answer: ${e.message}`, 1, "engine_failure");
  }
  return unavailable("No variant could serve this request right now.", 1, "engine_failure");
}

/** A failure after the client saw part of the answer: an engine's is `engine_failure`; anything else (a bug of ours) stays itself, a 500. */
function committedFailure(e: unknown): unknown {
  return e instanceof VariantUnavailableError || e instanceof EngineError ? failedAnswer(e) : e;
}

/** A request fault as the 400 OpenAI would answer (context_length_exceeded for the context). */
export function requestFaultError(variant: string, e: RequestError): ApiError {
  if (e instanceof ContextOverflowError) {
    const fix =
      e.param === "max_tokens"
        ? "Please reduce max_tokens or the length of the messages."
        : "Please reduce the length of the messages.";
    return invalidRequest(
      `This model's maximum context length is ${e.capacity} tokens. However, this request needs ${e.needed} tokens${e.param === "max_tokens" ? " (the prompt plus max_tokens)" : ""}. ${fix}`,
      e.param,
      "context_length_exceeded",
    );
  }
  if (e instanceof ChatTemplateError) {
    return invalidRequest(
      `The chat template of ${variant} cannot render these messages (${e.message}).`,
      "messages",
      "unsupported_messages",
    );
  }
  return invalidRequest(e.message, e.param, "invalid_value");
}
