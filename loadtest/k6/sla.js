// The SLA test with TTFT: needs a k6 built with xk6-sse (see loadtest/README.md).
//   BASE_URL=http://127.0.0.1:8080 KEY_FREE=tg-… KEY_STANDARD=tg-… KEY_PREMIUM=tg-… PROFILE=smoke ./k6 run loadtest/k6/sla.js
// Streamed requests go through sse.open, and TTFT is the time to the first event with generated
// text (not the role chunk, not the headers); whole answers through http.post.
import http from "k6/http";
import sse from "k6/x/sse";
import { classifyChunk, currentTier, degraded, header, nextRequest, optionsFor, requestErrors, ttft } from "./lib.js";

// xk6-sse reports http_req_duration but not http_req_failed: request_errors is the error rate
export const options = optionsFor({ ttft: true, httpReqFailed: false });

export default function () {
  const tier = currentTier();
  const request = nextRequest(tier);
  if (!request.stream) {
    const response = http.post(request.url, request.body, { headers: request.headers });
    const ok = response.status === 200;
    requestErrors.add(!ok);
    if (ok) degraded.add(header(response.headers, "x-tritgate-degraded") === "true");
    return;
  }
  const start = Date.now();
  let first = true;
  let done = false;
  let failed = false;
  const response = sse.open(
    request.url,
    { method: "POST", body: request.body, headers: request.headers, tags: { tier: tier.tier } },
    (client) => {
      client.on("event", (event) => {
        const kind = classifyChunk(event.data);
        if (kind === "content" && first) {
          first = false;
          ttft.add(Date.now() - start);
        } else if (kind === "done") done = true;
        else if (kind === "error") failed = true;
      });
      client.on("error", () => {
        failed = true;
      });
    },
  );
  const ok = response.status === 200 && done && !failed;
  requestErrors.add(!ok);
  if (ok) degraded.add(header(response.headers, "x-tritgate-degraded") === "true");
}
