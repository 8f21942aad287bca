/**
 * The recorder's flusher thread (started by `flusher-thread.ts`): its own postgres.js pool, a journal
 * that only replays and spills (the gateway's thread writes the segments), and a `Flusher` driven by
 * the gateway's messages: a segment handed over (a cycle starts), a tick (a cycle: retries, replay,
 * maintenance), and flush / maintain / close, each answered with `done`. Its figures go back after each
 * batch and cycle, and always before a `done`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Flusher } from "./flusher.js";
import type { FlusherWorkerData, FromFlusher, ToFlusher } from "./flusher-thread.js";
import { Journal } from "./journal.js";
import { openDatabase } from "./open.js";

const port = parentPort;
if (!port) throw new Error("src/db/flusher-worker.js runs as a worker thread only");
const data = workerData as FlusherWorkerData;

const send = (m: FromFlusher) => port.postMessage(m);
const onError = (error: Error, context: string) => send({ type: "error", message: error.message, context });

let clock = data.startNow ?? Date.now();
const now = data.startNow !== undefined ? () => clock : Date.now;

// connecting is lazy: an unreachable server shows as failed batches, which the flusher journals
const database = await openDatabase({
  url: data.url,
  stateDir: data.journalDir,
  migrate: false,
  maxConnections: data.maxConnections,
  // the flusher paces its own retries (`retryMs`): the pool is to reconnect when it does, not later
  reconnectDelayMs: data.settings.retryMs,
});
const journal = new Journal(data.journalDir, (error, rows) => onError(error, `journal write (${rows} rows)`), {
  adoptSegments: false,
});
const flusher: Flusher = new Flusher({
  ...data.settings,
  database,
  journal,
  now,
  onError,
  onProgress: () => send({ type: "stats", stats: flusher.stats() }),
});

async function answer(id: number, work: () => Promise<readonly string[] | undefined>): Promise<void> {
  try {
    const dropped = await work();
    send({ type: "stats", stats: flusher.stats() });
    send({ type: "done", id, ...(dropped ? { dropped } : {}) });
  } catch (e) {
    send({ type: "stats", stats: flusher.stats() });
    send({ type: "done", id, error: e instanceof Error ? e.message : String(e) });
  }
}

port.on("message", (m: ToFlusher) => {
  if (m.now !== undefined) clock = m.now;
  switch (m.type) {
    case "hand":
      flusher.hand(m.item);
      flusher.kick();
      return;
    case "tick":
      flusher.kick();
      return;
    case "flush":
      void answer(m.id, async () => {
        await flusher.flush();
        return undefined;
      });
      return;
    case "maintain":
      void answer(m.id, async () => (await flusher.maintain()).dropped);
      return;
    case "close":
      void answer(m.id, async () => {
        await flusher.drain();
        await journal.close();
        await database.close();
        return undefined;
      });
      return;
  }
});

// what the journal holds (a previous run's rows, sealed by the gateway's journal before this thread started)
await flusher.runCycle();
send({ type: "stats", stats: flusher.stats() });
send({ type: "ready" });
