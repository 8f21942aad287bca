/**
 * What chat and legacy completions share once the body is valid: route, run `n` choices (one after
 * another) through the decision's chain, then answer as one JSON body or as an SSE stream. A stream
 * starts only when the first token exists, so failures before it still get a proper status, and the
 * routing headers name the variant that really answered.
 */
import type { Context } from "hono";
import { type RoutedDecision, shouldEscalate } from "../../../router/index.js";
import {
  GenerationAbortedError,
  type PoolGenerateRequest,
  type PoolResult,
  type PoolToken,
} from "../../engines/pool/index.js";
import { ApiError, errorResponse, internalError } from "../errors.js";
import type { Gateway, Routed } from "../gateway/gateway.js";
import { openAIFinishReason } from "../openai/finish-reason.js";
import { SSE_HEADERS, sseStream } from "../openai/sse.js";
import type { DecisionRecorder, DecisionRow, RequestRow } from "../recorder.js";
import type { AppDeps, GatewayEnv } from "../types.js";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChoiceOutcome {
  readonly index: number;
  readonly variant: string;
  readonly result: PoolResult;
  /** dispatch → result at the pool handle; see RunOutcome */
  readonly workerMs: number;
}

/** How one endpoint renders its answer. */
export interface Format {
  /** A choice's first streamed chunk before any content (chat: the role delta), or null. */
  start(index: number): unknown | null;
  /** A chunk for streamed text (and its tokens), or null when there is nothing to send yet. */
  delta(index: number, text: string, tokens: readonly PoolToken[]): unknown | null;
  finish(index: number, reason: "stop" | "length"): unknown;
  usage(usage: Usage): unknown;
  complete(outcomes: readonly ChoiceOutcome[], usage: Usage): unknown;
}

export interface ExecuteArgs {
  readonly endpoint: string;
  readonly model: string;
  readonly routed: Routed;
  readonly choices: number;
  /** legacy completions with several prompts: choices per prompt (usage counts each prompt once) */
  readonly choicesPerPrompt?: number;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** whether per-token logprobs are streamed (then every token gets its own chunk) */
  readonly logprobs: boolean;
  readonly request: (choice: number) => PoolGenerateRequest;
  /** the variant name is known only once it answered */
  readonly format: (variant: string) => Format;
}

interface Services {
  readonly gateway: Gateway;
  readonly deps: AppDeps;
  readonly recorder: DecisionRecorder;
}

/** How many leading tokens the cascade's confidence is measured on. */
const CASCADE_TOKENS = 16;

/** The cascade's confidence: mean log-probability of the first CASCADE_TOKENS tokens (0 for none). */
function meanLogprob(tokens: readonly PoolToken[]): number {
  const head = tokens.slice(0, CASCADE_TOKENS);
  return head.length === 0 ? 0 : head.reduce((sum, t) => sum + t.logprob, 0) / head.length;
}

export async function execute(c: Context<GatewayEnv>, services: Services, args: ExecuteArgs): Promise<Response> {
  const { gateway, deps, recorder } = services;
  const { routed } = args;
  const { decision } = routed;
  const started = gateway.now();
  const principal = c.get("principal");
  c.header("x-tritgate-decision", routed.decisionId);

  const record = (
    status: number,
    outcomes: readonly ChoiceOutcome[],
    tried: readonly string[],
    error: string | null,
    ttftMs: number | null,
  ) => {
    const variant = outcomes[0]?.variant ?? null;
    const served = variant ? gateway.variant(variant)?.config : undefined;
    const tokensIn = outcomes[0]?.result.promptTokens ?? 0;
    const tokensOut = outcomes.reduce((s, o) => s + o.result.completionTokens, 0);
    const engineMs = outcomes.reduce((s, o) => s + o.result.prefillMs + o.result.decodeMs, 0);
    const cpuSeconds = served ? (engineMs / 1000) * served.cost.coresPerRequest : null;
    const tier = principal.tier;
    const request: RequestRow = {
      requestId: c.get("requestId"),
      createdAt: new Date(started).toISOString(),
      endpoint: args.endpoint,
      tenantId: principal.tenant.id,
      keyId: principal.keyId,
      tier: tier.name,
      model: args.model,
      variant,
      status,
      stream: args.stream,
      tokensIn,
      tokensOut,
      queueMs: outcomes[0]?.result.queueMs ?? null,
      ttftMs,
      totalMs: gateway.now() - started,
      cpuMs: cpuSeconds === null ? null : cpuSeconds * 1000,
      energyJ: served && cpuSeconds !== null ? cpuSeconds * served.cost.wattsPerCore : null,
      cost: served && cpuSeconds !== null ? (cpuSeconds * served.cost.pricePerCoreHour) / 3600 : null,
      price: (tokensIn / 1000) * tier.pricePer1kInput + (tokensOut / 1000) * tier.pricePer1kOutput,
      counterfactualCost: decision.counterfactualCost,
      cacheHit: false,
      degraded: variant ? degradedFor(gateway, decision, variant) : false,
      errorCode: error,
    };
    const row: DecisionRow = {
      decisionId: routed.decisionId,
      requestId: request.requestId,
      strategy: decision.strategy,
      qualityNeed: decision.qualityNeed,
      sla: decision.sla,
      load: routed.load,
      candidates: decision.candidates,
      chosen: decision.chosen,
      reason: decision.reason,
      fallbackChain: tried,
      degraded: request.degraded,
    };
    recorder.enqueue(request, row);
    const reserved = c.get("reservedTokens") ?? 0;
    deps.limiter
      .settle(principal.tenant.id, tier, reserved, tokensIn + tokensOut, gateway.now())
      .catch(() => undefined);
  };

  if (decision.kind === "rejected") {
    const error = gateway.rejection(decision, args.model);
    record(error.status, [], [], decision.reason, null);
    return errorResponse(c, error);
  }

  const controller = new AbortController();
  const clientSignal = c.req.raw.signal;
  const onClientAbort = () => controller.abort();
  clientSignal.addEventListener("abort", onClientAbort, { once: true });

  const outcomes: ChoiceOutcome[] = [];
  const tried: string[] = [];
  let chain: string[] = [decision.chosen, ...decision.fallback];
  let firstTokenAt: number | null = null;

  /** Runs every choice; `onToken` sees each streamed token. */
  const runAll = async (
    onToken: (index: number, variant: string, token: PoolToken) => void,
    onDone: (o: ChoiceOutcome) => void,
    signal: AbortSignal = controller.signal,
  ) => {
    for (let index = 0; index < args.choices; index++) {
      const out = await gateway.run(chain, args.request(index), signal, (variant, token) => {
        firstTokenAt ??= gateway.now();
        onToken(index, variant, token);
      });
      tried.push(...out.tried);
      // later choices start on the variant that answered
      chain = [out.variant, ...chain.filter((n) => n !== out.variant)];
      const outcome = { index, variant: out.variant, result: out.result, workerMs: out.workerMs };
      outcomes.push(outcome);
      onDone(outcome);
    }
  };
  const usage = (): Usage => {
    const per = args.choicesPerPrompt ?? args.choices;
    const prompt = outcomes.filter((o) => o.index % per === 0).reduce((s, o) => s + o.result.promptTokens, 0);
    const completion = outcomes.reduce((s, o) => s + o.result.completionTokens, 0);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  };
  const setRoutingHeaders = (variant: string) => {
    c.header("x-tritgate-variant", variant);
    c.header("x-tritgate-degraded", String(degradedFor(gateway, decision, variant)));
  };
  const failureOf = (e: unknown): ApiError => (e instanceof ApiError ? e : internalError());

  if (!args.stream) {
    try {
      await runAll(
        () => undefined,
        () => undefined,
      );
    } catch (e) {
      clientSignal.removeEventListener("abort", onClientAbort);
      if (e instanceof GenerationAbortedError) {
        record(499, outcomes, tried, "client_closed", firstTokenAt === null ? null : firstTokenAt - started);
        return c.body(null, 499 as never);
      }
      const error = failureOf(e);
      record(error.status, outcomes, tried, error.code ?? error.type, null);
      return errorResponse(c, error);
    }
    // cascade: a cheap answer whose first tokens are unsure is re-answered by the better variant
    const escalation = decision.escalation;
    if (escalation && outcomes[0]?.variant !== escalation.next) {
      if (shouldEscalate(meanLogprob(outcomes[0]!.result.tokens), escalation.threshold)) {
        c.header("x-tritgate-escalated", "true");
        const cheap = outcomes.splice(0);
        chain = [escalation.next];
        try {
          await runAll(
            () => undefined,
            () => undefined,
          );
        } catch {
          // the better variant failed: the cheap answer stands
          outcomes.splice(0, outcomes.length, ...cheap);
          chain = [cheap[0]!.variant];
        }
      }
    }
    clientSignal.removeEventListener("abort", onClientAbort);
    const variant = outcomes[0]!.variant;
    setRoutingHeaders(variant);
    setEngineHeaders(c, outcomes);
    record(200, outcomes, tried, null, firstTokenAt === null ? null : firstTokenAt - started);
    return c.json(args.format(variant).complete(outcomes, usage()) as object);
  }

  // streaming
  const { body, sink } = sseStream(() => controller.abort());
  let format: Format | undefined;
  let resolveFirst!: (v: { variant: string } | { error: unknown }) => void;
  const first = new Promise<{ variant: string } | { error: unknown }>((r) => {
    resolveFirst = r;
  });
  const emitted = new Map<number, string>();
  const opened = new Set<number>();
  const open = (index: number, variant: string) => {
    if (!format) {
      format = args.format(variant);
      resolveFirst({ variant });
    }
    if (opened.has(index)) return;
    opened.add(index);
    const chunk = format.start(index);
    if (chunk !== null) sink.send(chunk);
  };
  const emitToken = (index: number, variant: string, token: PoolToken) => {
    open(index, variant);
    if (token.text === "" && !args.logprobs) return;
    emitted.set(index, (emitted.get(index) ?? "") + token.text);
    const chunk = format!.delta(index, token.text, [token]);
    if (chunk !== null) sink.send(chunk);
  };
  const emitDone = (o: ChoiceOutcome) => {
    open(o.index, o.variant);
    const sent = emitted.get(o.index) ?? "";
    const rest = o.result.text.startsWith(sent) ? o.result.text.slice(sent.length) : "";
    const restChunk = rest === "" ? null : format!.delta(o.index, rest, []);
    if (restChunk !== null) sink.send(restChunk);
    sink.send(format!.finish(o.index, openAIFinishReason(o.result.finishReason)));
  };

  // cascade: the first choice's leading tokens are held back until their confidence is known, so an
  // unsure cheap answer can be dropped unseen and the better variant streamed from its start
  const escalation = decision.escalation && chain[0] !== decision.escalation.next ? decision.escalation : undefined;
  const probe = new AbortController();
  let held: { variant: string; token: PoolToken }[] | null = escalation ? [] : null;
  let heldDone: ChoiceOutcome | null = null;
  let escalated = false;
  const judge = () => {
    const tokens = held!;
    held = null;
    if (shouldEscalate(meanLogprob(tokens.map((t) => t.token)), escalation!.threshold)) {
      escalated = true;
      probe.abort();
      return;
    }
    for (const t of tokens) emitToken(0, t.variant, t.token);
    if (heldDone) emitDone(heldDone);
  };
  const cheapPass = runAll(
    (index, variant, token) => {
      if (held !== null && index === 0) {
        held.push({ variant, token });
        if (held.length >= CASCADE_TOKENS) judge();
        return;
      }
      if (!escalated) emitToken(index, variant, token);
    },
    (o) => {
      if (held !== null && o.index === 0) {
        heldDone = o;
        judge();
        return;
      }
      if (!escalated) emitDone(o);
    },
    escalation ? AbortSignal.any([controller.signal, probe.signal]) : controller.signal,
  );
  const escalate = async () => {
    c.header("x-tritgate-escalated", "true");
    outcomes.splice(0);
    chain = [escalation!.next];
    await runAll(emitToken, emitDone);
  };
  const producer = cheapPass
    .then(
      async () => {
        if (escalated) await escalate();
      },
      async (e: unknown) => {
        if (!escalated || controller.signal.aborted) throw e;
        await escalate();
      },
    )
    .then(
      () => {
        if (args.includeUsage) sink.send(format!.usage(usage()));
        sink.done();
        record(200, outcomes, tried, null, firstTokenAt === null ? null : firstTokenAt - started);
      },
      (e: unknown) => {
        if (!format) {
          resolveFirst({ error: e });
          return;
        }
        if (e instanceof GenerationAbortedError || controller.signal.aborted) {
          record(499, outcomes, tried, "client_closed", firstTokenAt === null ? null : firstTokenAt - started);
          return;
        }
        const error = failureOf(e);
        sink.fail(error.body());
        record(200, outcomes, tried, error.code ?? error.type, firstTokenAt === null ? null : firstTokenAt - started);
      },
    );
  producer.finally(() => clientSignal.removeEventListener("abort", onClientAbort));

  const head = await first;
  if ("error" in head) {
    const e = head.error;
    if (e instanceof GenerationAbortedError) {
      record(499, outcomes, tried, "client_closed", null);
      return c.body(null, 499 as never);
    }
    const error = failureOf(e);
    record(error.status, outcomes, tried, error.code ?? error.type, null);
    return errorResponse(c, error);
  }
  setRoutingHeaders(head.variant);
  for (const [name, value] of Object.entries(SSE_HEADERS)) c.header(name, value);
  return c.body(body, 200);
}

/**
 * Non-streaming answers say where their time went, summed over choices, so gateway overhead can be
 * told from engine time: `engine-ms` is prefill + decode timed inside the worker, `worker-ms` the
 * same generation seen from the pool handle (adds the message hops and tokenising), `queue-ms` the
 * wait for a slot.
 */
function setEngineHeaders(c: Context<GatewayEnv>, outcomes: readonly ChoiceOutcome[]): void {
  let engineMs = 0;
  let workerMs = 0;
  let queueMs = 0;
  for (const o of outcomes) {
    engineMs += o.result.prefillMs + o.result.decodeMs;
    workerMs += o.workerMs;
    queueMs += o.result.queueMs;
  }
  c.header("x-tritgate-engine-ms", engineMs.toFixed(3));
  c.header("x-tritgate-worker-ms", workerMs.toFixed(3));
  c.header("x-tritgate-queue-ms", queueMs.toFixed(3));
}

/** Below the request's quality need: the router degraded it, or a fallback landed on a weaker variant. */
function degradedFor(gateway: Gateway, decision: Routed["decision"], variant: string): boolean {
  if (decision.kind !== "routed") return false;
  const quality = gateway.variant(variant)?.config.quality ?? 0;
  return (decision as RoutedDecision).degraded || quality < decision.qualityNeed - 1e-9;
}

/** A request refused before it ran gives its reserved tokens back. */
export function releaseReservation(c: Context<GatewayEnv>, services: Pick<Services, "deps" | "gateway">): void {
  const { tenant, tier } = c.get("principal");
  const reserved = c.get("reservedTokens") ?? 0;
  services.deps.limiter.settle(tenant.id, tier, reserved, 0, services.gateway.now()).catch(() => undefined);
}
