/**
 * Open-loop HTTP load generator for `bench/gateway.ts`, run on its own worker thread so that its
 * event loop is not the server's. Requests are scheduled at fixed arrival times (t0 + i / rate)
 * whatever the server does, so queueing shows up in the latencies instead of slowing the sender
 * down (no coordinated omission). Keep-alive `node:http` Agent, one per target.
 */
import { Agent, request } from "node:http";
import { parentPort } from "node:worker_threads";

export interface PhaseSpec {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** requests per second */
  readonly rate: number;
  readonly durationMs: number;
  /** a request not answered within this is counted as an error */
  readonly timeoutMs: number;
}

export interface PhaseSamples {
  /** per request, in scheduling order; NaN where the request failed */
  readonly latencyMs: Float64Array;
  /** from the scheduled (intended) send time, so sender lag counts too */
  readonly intendedLatencyMs: Float64Array;
  /** how late the sender was against the schedule */
  readonly lagMs: Float64Array;
  /** `x-tritgate-engine-ms`, NaN when absent */
  readonly engineMs: Float64Array;
  /** `x-tritgate-worker-ms`, NaN when absent */
  readonly workerMs: Float64Array;
  /** `x-tritgate-queue-ms`, NaN when absent */
  readonly queueMs: Float64Array;
  /** HTTP status, 0 = network error or timeout */
  readonly status: Int16Array;
  readonly variants: Record<string, number>;
  /** ms from the first scheduled send to the last answer */
  readonly spanMs: number;
  readonly maxInFlight: number;
  /** first answer's body, to check its shape */
  readonly sampleBody: string;
}

export type ToLoadgen = { readonly type: "run"; readonly id: number; readonly spec: PhaseSpec };
export type FromLoadgen = { readonly type: "done"; readonly id: number; readonly samples: PhaseSamples };

const agents = new Map<string, Agent>();

function agentFor(origin: string): Agent {
  let agent = agents.get(origin);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: "lifo" });
    agents.set(origin, agent);
  }
  return agent;
}

export function runPhase(spec: PhaseSpec): Promise<PhaseSamples> {
  const url = new URL(spec.url);
  const agent = agentFor(url.origin);
  const payload = Buffer.from(spec.body);
  const headers = { ...spec.headers, "content-length": String(payload.byteLength) };
  const n = Math.max(1, Math.round((spec.rate * spec.durationMs) / 1000));
  const interval = 1000 / spec.rate;
  const latencyMs = new Float64Array(n).fill(Number.NaN);
  const intendedLatencyMs = new Float64Array(n).fill(Number.NaN);
  const lagMs = new Float64Array(n).fill(Number.NaN);
  const engineMs = new Float64Array(n).fill(Number.NaN);
  const workerMs = new Float64Array(n).fill(Number.NaN);
  const queueMs = new Float64Array(n).fill(Number.NaN);
  const status = new Int16Array(n);
  const variants: Record<string, number> = {};
  let sampleBody = "";
  let inFlight = 0;
  let maxInFlight = 0;
  let finished = 0;
  let lastEnd = 0;
  const t0 = performance.now() + 2;

  return new Promise<PhaseSamples>((resolve) => {
    const complete = () => {
      finished++;
      if (finished === n) {
        resolve({
          latencyMs,
          intendedLatencyMs,
          lagMs,
          engineMs,
          workerMs,
          queueMs,
          status,
          variants,
          spanMs: lastEnd - t0,
          maxInFlight,
          sampleBody,
        });
      }
    };

    const fire = (i: number, intended: number) => {
      const sent = performance.now();
      lagMs[i] = sent - intended;
      inFlight++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
      let settled = false;
      const settle = (code: number, res?: Record<"engine" | "worker" | "queue", string | undefined>) => {
        if (settled) return;
        settled = true;
        const end = performance.now();
        inFlight--;
        if (end > lastEnd) lastEnd = end;
        status[i] = code;
        if (code !== 0) {
          latencyMs[i] = end - sent;
          intendedLatencyMs[i] = end - intended;
          if (res?.engine !== undefined) engineMs[i] = Number(res.engine);
          if (res?.worker !== undefined) workerMs[i] = Number(res.worker);
          if (res?.queue !== undefined) queueMs[i] = Number(res.queue);
        }
        complete();
      };
      const req = request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const variant = res.headers["x-tritgate-variant"];
            if (typeof variant === "string") variants[variant] = (variants[variant] ?? 0) + 1;
            if (sampleBody === "") sampleBody = Buffer.concat(chunks).toString("utf8");
            const header = (name: string) => {
              const value = res.headers[name];
              return typeof value === "string" ? value : undefined;
            };
            settle(res.statusCode ?? 0, {
              engine: header("x-tritgate-engine-ms"),
              worker: header("x-tritgate-worker-ms"),
              queue: header("x-tritgate-queue-ms"),
            });
          });
          res.on("error", () => settle(0));
        },
      );
      req.setTimeout(spec.timeoutMs, () => {
        req.destroy(new Error("timeout"));
      });
      req.on("error", () => settle(0));
      req.end(payload);
    };

    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < n && t0 + next * interval <= now) {
        fire(next, t0 + next * interval);
        next++;
      }
      if (next < n) {
        const wait = t0 + next * interval - performance.now();
        setTimeout(tick, Math.max(0, Math.floor(wait)));
      }
    };
    setTimeout(tick, 1);
  });
}

const port = parentPort;
if (port) {
  port.on("message", (message: ToLoadgen) => {
    if (message.type !== "run") return;
    void runPhase(message.spec).then((samples) => {
      const reply: FromLoadgen = { type: "done", id: message.id, samples };
      port.postMessage(reply);
    });
  });
}
