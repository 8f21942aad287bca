/**
 * Server-sent events for streamed completions: `data: <json>\n\n` per chunk, `data: [DONE]` at the
 * end. The body is a web ReadableStream; when the client goes away the stream is cancelled and the
 * `onCancel` hook aborts the generation, which frees the engine slot.
 */

const encoder = new TextEncoder();

export interface SseSink {
  send(data: unknown): void;
  done(): void;
  /** A failure after the response started: an SSE error event, then close. */
  fail(error: unknown): void;
  readonly closed: boolean;
}

export function sseStream(onCancel: () => void): { body: ReadableStream<Uint8Array>; sink: SseSink } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      closed = true;
      onCancel();
    },
  });
  const write = (text: string) => {
    if (closed) return;
    try {
      controller.enqueue(encoder.encode(text));
    } catch {
      closed = true;
    }
  };
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      controller.close();
    } catch {
      // already errored or cancelled
    }
  };
  const sink: SseSink = {
    send: (data) => write(`data: ${JSON.stringify(data)}\n\n`),
    done: () => {
      write("data: [DONE]\n\n");
      close();
    },
    fail: (error) => {
      write(`data: ${JSON.stringify(error)}\n\n`);
      close();
    },
    get closed() {
      return closed;
    },
  };
  return { body, sink };
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  connection: "keep-alive",
} as const;
