/** The caller's routing hints: `x-tritgate-quality` and `x-tritgate-sla-ms`. */
import type { QualityHint } from "../../../router/index.js";
import { invalidRequest } from "../errors.js";

export interface RoutingHints {
  readonly qualityHint: QualityHint | undefined;
  readonly slaMsHint: number | undefined;
}

export function parseHints(quality: string | undefined, slaMs: string | undefined): RoutingHints {
  let qualityHint: QualityHint | undefined;
  if (quality !== undefined) {
    const q = quality.trim().toLowerCase();
    if (q === "low" || q === "standard" || q === "high") qualityHint = q;
    else if (/^(?:0(?:\.\d+)?|1(?:\.0+)?)$/.test(q)) qualityHint = Number(q);
    else {
      throw invalidRequest(
        "x-tritgate-quality must be low, standard, high or a number between 0 and 1",
        "x-tritgate-quality",
        "invalid_header",
      );
    }
  }
  let slaMsHint: number | undefined;
  if (slaMs !== undefined) {
    const v = Number(slaMs.trim());
    if (!/^\d+(?:\.\d+)?$/.test(slaMs.trim()) || !(v > 0) || !Number.isFinite(v)) {
      throw invalidRequest(
        "x-tritgate-sla-ms must be a positive number of milliseconds",
        "x-tritgate-sla-ms",
        "invalid_header",
      );
    }
    slaMsHint = v;
  }
  return { qualityHint, slaMsHint };
}
