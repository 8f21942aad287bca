/** What every route handler gets: the gateway, the deps and the recorder. */
import type { Gateway } from "../gateway/gateway.js";
import type { DecisionRecorder } from "../recorder.js";
import type { AppDeps } from "../types.js";

export interface RouteServices {
  readonly gateway: Gateway;
  readonly deps: AppDeps;
  readonly recorder: DecisionRecorder;
}
