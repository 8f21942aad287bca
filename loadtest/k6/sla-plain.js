// The SLA test for a plain k6 (no extension). The same arrivals, thresholds and request mix as
// sla.js, streamed requests included, but http.post returns only once the whole body has arrived:
// for a stream it measures the time to the last event (http_req_duration), never the first content
// delta, and http_req_waiting is the time to the response's first byte, which a gateway may send
// before any token. So there is no TTFT threshold here; use sla.js (or `npm run loadtest`) for TTFT.
//   BASE_URL=http://127.0.0.1:8080 KEY=tg-… PROFILE=smoke k6 run loadtest/k6/sla-plain.js
import http from "k6/http";
import { classifyChunk, currentTier, degraded, header, nextRequest, optionsFor, requestErrors } from "./lib.js";

export const options = optionsFor({ ttft: false, httpReqFailed: true });

/** @param {string} body */
function streamCompleted(body) {
  const events = body
    .split("\n\n")
    .filter((e) => e.startsWith("data:"))
    .map((e) => classifyChunk(e.replace(/^data: ?/, "")));
  return events.includes("done") && !events.includes("error");
}

export default function () {
  const tier = currentTier();
  const request = nextRequest(tier);
  const response = http.post(request.url, request.body, { headers: request.headers });
  const body = typeof response.body === "string" ? response.body : "";
  const ok = response.status === 200 && (!request.stream || streamCompleted(body));
  requestErrors.add(!ok);
  if (ok) degraded.add(header(response.headers, "x-tritgate-degraded") === "true");
}
