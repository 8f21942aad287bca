/**
 * An engine whose every forward call runs inside a CPU turn: `append` / `appendAll` of its sessions
 * and `forwardBatch`. Everything else (tokenizer, chat template, sampling in generateWith) runs
 * outside the turn, so one engine's CPU-light work overlaps another's forward pass. Whatever drives
 * the engine (the worker's decode loop or a batching scheduler) needs no change.
 */
import type { Engine, LogitsSession, SequenceStep } from "../engine.js";
import { generateWith } from "../generate.js";
import type { CpuTurnTaker } from "./cpu-turns.js";

export function withCpuTurns(engine: Engine, turns: CpuTurnTaker): Engine {
  /** the engine's own session behind each wrapped one, so forwardBatch hands the engine what it made */
  const inner = new WeakMap<LogitsSession, LogitsSession>();
  const newSession = (contextLength?: number): LogitsSession => {
    const session = engine.newSession(contextLength);
    const wrapped: LogitsSession = {
      get length() {
        return session.length;
      },
      get capacity() {
        return session.capacity;
      },
      append: (tokens) => turns.run(() => session.append(tokens)),
      appendAll: (tokens) => turns.run(() => session.appendAll(tokens)),
      close: () => session.close?.(),
    };
    inner.set(wrapped, session);
    return wrapped;
  };
  const batch = engine.forwardBatch?.bind(engine);
  return {
    kind: engine.kind,
    source: engine.source,
    tokenizer: engine.tokenizer,
    vocabSize: engine.vocabSize,
    contextLength: engine.contextLength,
    ...(engine.kvBytesPerToken !== undefined && { kvBytesPerToken: engine.kvBytesPerToken }),
    newSession,
    ...(batch && {
      forwardBatch: (steps: readonly SequenceStep[]) =>
        turns.run(() => batch(steps.map((s) => ({ ...s, session: inner.get(s.session) ?? s.session })))),
    }),
    encodeChat: (messages, tools) => engine.encodeChat(messages, tools),
    generate(request, onToken) {
      const session = newSession(
        Math.min(engine.contextLength, request.prompt.length + Math.max(0, request.maxTokens) + 1),
      );
      return generateWith(session, engine.tokenizer, engine.vocabSize, request, onToken).finally(() =>
        session.close?.(),
      );
    },
    close: () => engine.close(),
  };
}
