/**
 * `node bench/recorder-profile.mjs FILE.cpuprofile [FROM_MS]`: the CPU a thread spent in the recorder's
 * code (journal, flusher, COPY encoding), postgres.js and drizzle, from a `node --cpu-prof` profile,
 * after FROM_MS (to leave out start-up); the innermost matching frame decides. Used on the profiles of
 * `node --cpu-prof --import tsx bench/recorder.ts --only latency …` (one file per thread).
 */
import { readFileSync } from "node:fs";

const [file, fromMs] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const cats = [
  ["src/db/journal", "journal (JSON + segment write)"],
  ["src/db/write", "COPY encoding"],
  ["src/db/flusher-thread", "hand-over and figures (flusher-thread.ts)"],
  ["src/db/flusher", "flusher"],
  ["src/db/recorder", "recorder"],
  ["node_modules/postgres/", "postgres.js"],
  ["drizzle-orm", "drizzle"],
];
const inner = (id) => {
  let cur = id;
  while (cur !== undefined) {
    const u = byId.get(cur).callFrame.url;
    const hit = cats.find(([k]) => u.includes(k));
    if (hit) return hit[1];
    cur = parent.get(cur);
  }
  return null;
};
let t = p.startTime,
  span = 0,
  busy = 0;
const tot = new Map();
for (let i = 0; i < p.samples.length; i++) {
  const dt = (p.timeDeltas[i] ?? 0) / 1000;
  t += dt * 1000;
  if ((t - p.startTime) / 1000 < Number(fromMs)) continue;
  span += dt;
  const f = byId.get(p.samples[i]).callFrame.functionName;
  if (f !== "(idle)") busy += dt;
  const c = inner(p.samples[i]);
  if (c) tot.set(c, (tot.get(c) ?? 0) + dt);
}
let all = 0;
for (const v of tot.values()) all += v;
console.log(
  `window ${span.toFixed(0)} ms, busy ${busy.toFixed(0)} ms; recorder-related ${all.toFixed(0)} ms:`,
  [...tot]
    .sort((a, b) => b[1] - a[1])
    .map(([c, v]) => `${c} ${v.toFixed(0)}`)
    .join(", "),
);
