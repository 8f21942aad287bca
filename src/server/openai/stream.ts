/**
 * A streamed answer. The stream starts only once the first token is part of the answer, so a
 * failure before it still gets a real status (and the fallback chain), and the routing headers name
 * the variant that really answered. After it, a failure is an SSE error event. The request's end is
 * the stream's: completed, cancelled by the client, or failed.
 */
import type { Context } from "hono";
import { GenerationAbortedError, type PoolToken } from "../../engines/pool/index.js";
import { ApiError, internalError } from "../errors.js";
import { type AnswerPlan, answer, type ChoiceEvents, type ChoiceOutcome } from "../gateway/answer.js";
import type { Gateway } from "../gateway/gateway.js";
import type { StreamEnd } from "../outcome/outcome.js";
import { bodyResponse, setHeaders } from "../response.js";
import type { GatewayEnv } from "../types.js";
import { failureResponse, routingHeaders } from "./answer-headers.js";
import { openAIFinishReason } from "./finish-reason.js";
import { type Format, type RenderOptions, usageOf } from "./format.js";
import { SSE_HEADERS, type SseSink, sseStream } from "./sse.js";

export async function respondStream(
  c: Context<GatewayEnv>,
  gateway: Gateway,
  plan: AnswerPlan,
  render: RenderOptions,
): Promise<Response> {
  const draft = c.get("outcome");
  const controller = new AbortController();
  const clientSignal = c.req.raw.signal;
  const onClientAbort = () => controller.abort();
  clientSignal.addEventListener("abort", onClientAbort, { once: true });
  const { body, sink } = sseStream(() => controller.abort());
  const chunks = new ChunkWriter(sink, render);
  const run = answer(gateway, plan, draft, controller.signal, chunks);
  run.then(
    () => clientSignal.removeEventListener("abort", onClientAbort),
    () => clientSignal.removeEventListener("abort", onClientAbort),
  );

  try {
    await Promise.race([chunks.opened, run]);
  } catch (e) {
    return failureResponse(c, draft, e, controller.signal.aborted);
  }
  draft.streamEnd = run.then(
    (): StreamEnd => {
      if (render.includeUsage) sink.send(chunks.format!.usage(usageOf(draft.choices, render.choicesPerPrompt)));
      sink.done();
      return { status: 200, error: null };
    },
    (e: unknown): StreamEnd => {
      if (e instanceof GenerationAbortedError || controller.signal.aborted)
        return { status: 499, error: "client_closed" };
      const error = e instanceof ApiError ? e : internalError();
      sink.fail(error.body());
      return { status: 200, error: error.code ?? error.type };
    },
  );
  routingHeaders(c, gateway, draft, chunks.variant!);
  setHeaders(c, SSE_HEADERS);
  return bodyResponse(c, body, 200);
}

/** Turns committed tokens into SSE chunks; the format is known once the first variant answered. */
export class ChunkWriter implements ChoiceEvents {
  format: Format | undefined;
  variant: string | undefined;
  /** resolves when the first chunk is about to be sent */
  readonly opened: Promise<void>;
  private resolveOpened!: () => void;
  private readonly emitted = new Map<number, string>();
  private readonly started = new Set<number>();

  constructor(
    private readonly sink: SseSink,
    private readonly render: RenderOptions,
  ) {
    this.opened = new Promise((resolve) => {
      this.resolveOpened = resolve;
    });
  }

  token(index: number, variant: string, token: PoolToken): void {
    const format = this.open(index, variant);
    if (token.text === "" && !this.render.logprobs) return;
    this.emitted.set(index, (this.emitted.get(index) ?? "") + token.text);
    this.send(format.delta(index, token.text, [token]));
  }

  sent(index: number): boolean {
    return this.started.has(index);
  }

  restart(_index: number): void {
    // nothing to drop: a choice restarts only before any of it was sent, so none of it was written here
  }

  done(o: ChoiceOutcome): void {
    const format = this.open(o.index, o.variant);
    // text the engine produced beyond the streamed tokens (e.g. a stop string's flush)
    const sent = this.emitted.get(o.index) ?? "";
    const rest = o.result.text.startsWith(sent) ? o.result.text.slice(sent.length) : "";
    if (rest !== "") this.send(format.delta(o.index, rest, []));
    this.sink.send(format.finish(o.index, openAIFinishReason(o.result.finishReason)));
  }

  private open(index: number, variant: string): Format {
    if (!this.format) {
      this.format = this.render.format(variant);
      this.variant = variant;
      this.resolveOpened();
    }
    if (!this.started.has(index)) {
      this.started.add(index);
      this.send(this.format.start(index));
    }
    return this.format;
  }

  private send(chunk: unknown | null): void {
    if (chunk !== null) this.sink.send(chunk);
  }
}
