/**
 * `npx tsx bench/recorder-enqueue.ts [inline]`: what recording costs the event loop at ~500 rows/s into
 * the local Postgres, one `enqueue` per turn (a 2 ms timer between): the time of the `enqueue` plus the
 * journal's end-of-turn write (and, every 200 ms, the segment hand-over), and how late each 2 ms timer
 * fires (everything else that held the loop: with `inline`, the flusher's batches on this thread).
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { DatabaseRecorder } from "../src/db/recorder.js";
import { entryAt, testDatabase } from "../src/db/testkit.js";

const flusherThread = process.argv[2] !== "inline";
const t = await testDatabase("postgres");
const recorder = await DatabaseRecorder.start({
  database: t.database,
  journalDir: join(t.dir, "journal"),
  flusherThread,
});
const n = 5000;
const us: number[] = [];
const late: number[] = [];
const createdAt = new Date().toISOString();
for (let i = 0; i < n; i++) {
  const e = entryAt(i, createdAt);
  const ts = performance.now();
  await new Promise<void>((resolve) => setTimeout(resolve, 2)); // ~500/s: one enqueue per turn
  late.push((performance.now() - ts - 2) * 1000);
  const t0 = performance.now();
  recorder.enqueue(e.request, e.decision);
  await new Promise<void>((resolve) => process.nextTick(resolve)); // after the journal's end-of-turn write
  us.push((performance.now() - t0) * 1000);
}
await recorder.close();
us.sort((a, b) => a - b);
const q = (f: number) => us[Math.min(us.length - 1, Math.ceil(f * us.length) - 1)]?.toFixed(1);
late.sort((a, b) => a - b);
const ql = (f: number) => late[Math.min(late.length - 1, Math.ceil(f * late.length) - 1)]?.toFixed(0);
console.log(
  `${flusherThread ? "thread" : "inline"}: 2 ms timer lateness, µs: p50 ${ql(0.5)} p90 ${ql(0.9)} p99 ${ql(0.99)} p99.9 ${ql(0.999)} max ${ql(1)}`,
);
console.log(
  `${flusherThread ? "thread" : "inline"}: enqueue + end-of-turn write, µs: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} p99.9 ${q(0.999)} max ${q(1)}; written ${recorder.stats().written}`,
);
await t.dispose();
