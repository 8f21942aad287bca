/**
 * The end-of-request observers, in the order they see each outcome. A new one is its own file
 * exporting an `ObserverFactory`, plus one line here.
 */

import { cacheAnswer } from "./cache-answer.js";
import { observeMetrics } from "./observe-metrics.js";
import type { ObserverFactory } from "./outcome.js";
import { recordDecision } from "./record-decision.js";
import { settleLimiter } from "./settle-limiter.js";

export const OBSERVERS: readonly ObserverFactory[] = [recordDecision, settleLimiter, observeMetrics, cacheAnswer];
