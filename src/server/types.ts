/** What the app is built from, and what middleware hands to routes. */

import type { BreakerConfig, CardRates, CostParams, EngineKind } from "../../router/index.js";
import type { Reports } from "../db/index.js";
import type { TextEmbedder } from "../engines/bitnet/index.js";
import type { VariantWorker } from "../engines/pool/index.js";
import type { EnergyMeter } from "../metrics/index.js";
import type { Principal, RateLimiter, TenancyAdmin, TenantDirectory } from "../tenants/index.js";
import type { RegistryDeps } from "./canary/versions.js";
import type { Logger } from "./log.js";
import type { AdminToken } from "./middleware/auth.js";
import type { ObserverFactory, OutcomeDraft } from "./outcome/outcome.js";
import type { DecisionRecorder, MemoryRecorder } from "./recorder.js";
import type { HeaderRecord } from "./response.js";

/** What the router needs to know about a served variant (from its config entry and card; the config's own type is `VariantConfig`). */
export interface VariantProfile {
  readonly name: string;
  readonly family: string;
  readonly engine: EngineKind;
  /** q = ppl_reference / ppl_variant, 1 for the family's reference */
  readonly quality: number;
  readonly card: CardRates;
  readonly cost: CostParams;
  /** the model file's size (the metrics' tritgate_variant_model_bytes); absent when unknown */
  readonly modelBytes?: number;
}

/** The part of a pool worker the gateway uses (tests may wrap it; a wrapper may leave out the KV count and batch size). */
export type VariantRuntime = Pick<
  VariantWorker,
  "name" | "state" | "error" | "info" | "slots" | "running" | "waiting" | "generate"
> &
  // without waitingAtOrAbove, a request of any priority is taken to wait behind all of `waiting`
  Partial<
    Pick<
      VariantWorker,
      "kvTokensInUse" | "batchSize" | "waitingAtOrAbove" | "pendingLoadMs" | "prewarm" | "cpuTurnStats"
    >
  >;

export interface ServedVariant {
  readonly config: VariantProfile;
  readonly worker: VariantRuntime;
  /** the registry version the worker serves; default "1" */
  readonly version?: string;
}

export interface AppDeps {
  readonly directory: TenantDirectory;
  readonly limiter: RateLimiter;
  readonly variants: readonly ServedVariant[];
  /** where decisions go; default: an in-memory ring of the latest 1000 */
  readonly recorder?: DecisionRecorder & Partial<Pick<MemoryRecorder, "latest">>;
  /**
   * usage reports and recent decisions (`src/db/reports/`) for /v1/usage and the admin reports; unset
   * (no database) = those routes answer 501 `reports_unavailable`
   */
  readonly reports?: Reports;
  /** bearer token for /admin/* (or the source of its hash); unset = admin routes answer 404 */
  readonly adminToken?: AdminToken | undefined;
  /** tiers, tenants and keys managed under /admin (the database's); unset = those routes answer 404 */
  readonly tenancy?: TenancyAdmin;
  /**
   * `/metrics`, `/ui`, `/dashboards` and `/admin`: `separate` serves them from `GatewayApp.observability`
   * (a second listener) instead of the API app; `token` guards `/metrics`, `/ui` and `/dashboards`
   * (Bearer, or Basic with it as the password). `/admin` always needs `adminToken`.
   */
  readonly observability?: { readonly separate?: boolean; readonly token?: string | undefined };
  /** largest request body accepted (413 past it); default 1 MiB */
  readonly bodyLimitBytes?: number;
  /** most request headers accepted (431 past it); default 200 */
  readonly maxHeaders?: number;
  readonly breaker?: BreakerConfig;
  /** EWMA weight of each new rate observation; default 0.2 */
  readonly rateAlpha?: number;
  /** where breaker transitions, engine failures and client aborts go; default `createLogger()` (stderr) */
  readonly log?: Logger;
  /** false: no metrics observer (the registry and /metrics stay, empty of requests); for overhead A/B runs */
  readonly metrics?: boolean;
  /** energy figures for the metrics: default RAPL where readable, else CPU-seconds × watts per core */
  readonly energy?: EnergyMeter;
  /**
   * The response cache's memory bound (every tier's entries together; default 64 MiB) and the
   * embedder its semantic mode compares messages with (without one, semantic tiers cache exactly).
   */
  readonly responseCache?: { readonly maxBytes: number; readonly embedder?: TextEmbedder };
  /** more end-of-request observers, after the built-in ones (outcome/observers.ts) */
  readonly observers?: readonly ObserverFactory[];
  /** the model registry (versions, canaries); without it every variant serves its one version */
  readonly registry?: RegistryDeps;
  /** clock (ms since epoch); tests pin it */
  readonly now?: () => number;
}

export interface GatewayEnv {
  Variables: {
    requestId: string;
    principal: Principal;
    /** the raw body text, read once under the size limit (the validated body is `c.req.valid("json")`) */
    rawBody: string;
    /** tokens the rate limiter reserved for this request */
    reservedTokens: number;
    /** what the request's outcome is assembled from (outcome/) */
    outcome: OutcomeDraft;
    /** the response headers collected so far (response.ts) */
    headers: HeaderRecord;
  };
}
