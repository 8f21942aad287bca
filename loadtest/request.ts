/**
 * One completion request, measured from its scheduled arrival: the status, whether the answer was
 * complete, the first content delta's time for a stream (read as the bytes arrive), the time of the
 * last byte, and whether the gateway marked it degraded. Uses Node's fetch, whose agent keeps
 * connections alive between requests.
 */
import type { Prompt } from "./scenarios.js";
import { classifyChunk, SseParser } from "./sse.js";
import type { Sample } from "./summary.js";

export interface RequestSpec {
  readonly url: string;
  readonly key: string;
  readonly prompt: Prompt;
  readonly stream: boolean;
  readonly maxTokens: number;
  readonly timeoutMs: number;
}

export function requestBody(prompt: Prompt, stream: boolean, maxTokens: number): Record<string, unknown> {
  const common = { model: "auto", max_tokens: maxTokens, stream };
  return prompt.endpoint === "chat"
    ? { ...common, messages: [{ role: "user", content: prompt.text }] }
    : { ...common, prompt: prompt.text };
}

const PATHS = { chat: "/v1/chat/completions", completions: "/v1/completions" } as const;

/** Sends the request; `now()` is the run's clock (ms from its start), `scheduledMs` the arrival time on it. */
export async function measuredRequest(spec: RequestSpec, scheduledMs: number, now: () => number): Promise<Sample> {
  let status = 0;
  let degraded = false;
  let variant: string | undefined;
  let ttftMs: number | undefined;
  const end = (ok: boolean, error: string | undefined): Sample => {
    const at = now();
    return {
      stream: spec.stream,
      status,
      ok,
      ttftMs,
      durationMs: at - scheduledMs,
      endMs: at,
      degraded,
      variant,
      error,
    };
  };
  try {
    const response = await fetch(spec.url.replace(/\/$/, "") + PATHS[spec.prompt.endpoint], {
      method: "POST",
      headers: { authorization: `Bearer ${spec.key}`, "content-type": "application/json" },
      body: JSON.stringify(requestBody(spec.prompt, spec.stream, spec.maxTokens)),
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    status = response.status;
    degraded = response.headers.get("x-tritgate-degraded") === "true";
    variant = response.headers.get("x-tritgate-variant") ?? undefined;
    if (status !== 200) return end(false, errorCode(await response.text()));
    if (!spec.stream) {
      const body = JSON.parse(await response.text()) as { choices?: unknown[] };
      return Array.isArray(body.choices) && body.choices.length > 0 ? end(true, undefined) : end(false, "no_choices");
    }
    if (!response.body) return end(false, "no_body");
    const parser = new SseParser();
    const decoder = new TextDecoder();
    let done = false;
    let failed: string | undefined;
    for await (const bytes of response.body) {
      for (const data of parser.push(decoder.decode(bytes, { stream: true }))) {
        const kind = classifyChunk(data);
        if (kind === "content" && ttftMs === undefined) ttftMs = now() - scheduledMs;
        else if (kind === "done") done = true;
        else if (kind === "error") failed ??= `stream_${errorCode(data)}`;
      }
    }
    if (failed) return end(false, failed);
    return done ? end(true, undefined) : end(false, "stream_ended_without_done");
  } catch (e) {
    const name = (e as Error).name;
    return end(false, name === "TimeoutError" ? "timeout" : `network_${(e as Error).message.replace(/\s+/g, "_")}`);
  }
}

/** The OpenAI error's code (else its type) from a response body, or a stand-in when there is none. */
function errorCode(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: { code?: string | null; type?: string } }).error;
    return error?.code ?? error?.type ?? "unknown_error";
  } catch {
    return "unparsable_error";
  }
}
