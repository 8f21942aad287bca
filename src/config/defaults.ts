/**
 * The embedded default config: what `tritgate serve` runs with when no config file is given.
 * Three tiers over the nano family — free (ternary only, rejects on overload), standard (degrades),
 * premium (every variant, queues) — and a demo tenant that gets a key on first start.
 * The inline card figures are fallbacks: `tritgate serve` seeds each variant's rates and quality from the
 * measured card.json beside its model (models/nano/<variant>/card.json), and live rates replace them.
 */
import { parseConfig } from "./parse.js";
import type { GatewayConfig } from "./schema.js";

export const DEFAULTS_SOURCE = "<defaults>";

export const DEFAULT_CONFIG_YAML = `# tritgate gateway config (the embedded defaults)
server:
  host: 127.0.0.1
  port: 8080
  bodyLimitBytes: 1048576
  # on SIGTERM, requests in flight get this long to finish; new ones get 503 meanwhile
  drainTimeoutMs: 10000
  stateDir: data
  # HOST and PORT in the environment win over host and port here; --host and --port win over both.
  # observability: { host: 127.0.0.1, port: 9090, token: a-long-random-secret }
  #   moves /metrics, /ui, /dashboards and /admin to a listener of their own; the token guards the first three

tiers:
  - name: free
    qualityFloor: 0.3
    ttftSlaMs: 5000
    totalSlaMs: 60000
    allowedVariants: [nano-b158]
    onOverload: reject
    maxQueueWaitMs: 0
    priority: 0
    strategy: cheapest
    pricePer1kInput: 0
    pricePer1kOutput: 0
    requestsPerMinute: 20
    tokensPerMinute: 20000
    monthlyTokenBudget: 1000000
    maxOutputTokens: 512
  - name: standard
    qualityFloor: 0.6
    ttftSlaMs: 2000
    totalSlaMs: 20000
    allowedVariants: "*"
    onOverload: degrade
    maxQueueWaitMs: 2000
    priority: 1
    strategy: sla
    pricePer1kInput: 0.0002
    pricePer1kOutput: 0.0006
    requestsPerMinute: 120
    tokensPerMinute: 200000
    monthlyTokenBudget: 50000000
    maxOutputTokens: 2048
    # answer repeated deterministic requests from memory (README "Response cache"); off unless set:
    # responseCache: { mode: exact, ttlSeconds: 300, billHits: true }   # or mode: semantic, similarity: 0.95
  - name: premium
    qualityFloor: 0.9
    ttftSlaMs: 800
    totalSlaMs: 10000
    allowedVariants: "*"
    onOverload: queue
    maxQueueWaitMs: 10000
    priority: 2
    strategy: sla
    pricePer1kInput: 0.001
    pricePer1kOutput: 0.003
    requestsPerMinute: 600
    tokensPerMinute: 1000000
    monthlyTokenBudget: 0
    maxOutputTokens: 4096

variants:
  - name: nano-b158
    family: nano
    engine: bitnet
    path: models/nano/nano-b158/model.gguf
    card: { prefillTokensPerSecond: 6500, decodeTokensPerSecond: 2100 }
    # nano's matmuls are too small to speed up with a second kernel thread: two copies, each batching
    # its own requests on a core of its own, serve 8 streams ~1.15x faster than one (docs/BENCHMARKS.md).
    # One instance per physical core; a lone request still gets every core through the CPU budget.
    instances: 2
    slots: 4
    pricePerCoreHour: 0.04
    wattsPerCore: 10
    coresPerRequest: 1
  - name: nano-fp32
    family: nano
    engine: onnx
    path: models/nano/nano-fp32/model.onnx
    card: { prefillTokensPerSecond: 3800, decodeTokensPerSecond: 450 }
    slots: 2
    pricePerCoreHour: 0.04
    wattsPerCore: 10
    coresPerRequest: 1

families:
  - name: nano
    reference: nano-fp32

# canary rollouts (tritgate variants canary NAME --weight W): a canary worse than its stable version
# beyond these bounds over its window is rolled back by itself; one within them is promoted after
# promoteAfterRequests (null: only by hand)
canary:
  minRequests: 50
  windowRequests: 200
  minSuccessRate: 0.99
  maxP95Ratio: 1.5
  promoteAfterRequests: 200

# the CPU budget every engine shares (default: the physical cores, or TRITGATE_THREADS): the kernels'
# pool computes each step on the cores the ONNX variants leave, each ONNX variant holds half of them
# while it has work (all of them when the process serves no BitNet variant); never more busy threads
# than cores (cpuTurns: false turns that off)
# threads: 2

# unload a variant's model after this many ms with nothing to do (its worker's memory is freed) and
# load it again on the next request, which waits for the load (the router counts it); a variant's own
# idleUnloadMs overrides this, null there keeps it loaded. null: never unload
idleUnloadMs: null

# the response cache's one memory bound, for every tier that turns the cache on (default 64 MiB)
# responseCache: { maxBytes: 67108864, embeddingVariant: nano-b158 }   # embeddingVariant: for semantic tiers

tenants:
  - id: demo
    name: Demo tenant
    tier: standard
demoTenant: demo
`;

/** A fresh copy of the embedded defaults (paths relative to the working directory). */
export function defaultConfig(): GatewayConfig {
  return parseConfig(DEFAULT_CONFIG_YAML, DEFAULTS_SOURCE);
}
