/**
 * The Kubernetes manifests of deploy/k8s parse, say what docs/DEPLOY.md says they do, and point at
 * what the gateway really has: the probes' paths are its health routes, the ConfigMap's tritgate.yaml
 * is a valid config, the grace period outlasts that config's drain timeout, and the HPA scales on the
 * capacity gauge the gateway exports, through the prometheus-adapter rule of the example.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { parseConfig } from "../src/config/index.js";
import { createGateway } from "../src/server/app.js";
import { MapDirectory } from "../src/server/testkit.js";
import { createMemoryRateLimiter } from "../src/tenants/index.js";

const DIR = join(import.meta.dirname, "../deploy/k8s");
const CAPACITY_METRIC = "tritgate_capacity_recommended_replicas";

interface Manifest {
  kind: string;
  metadata: { name: string };
  // biome-ignore lint/suspicious/noExplicitAny: a manifest is any Kubernetes object; each test reads the fields it checks
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

function manifests(): Manifest[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(DIR, f), "utf8")).map((doc) => {
        expect(doc.errors, f).toEqual([]);
        return doc.toJS() as Manifest;
      }),
    );
}

const one = (kind: string, name = "tritgate") => {
  const found = manifests().find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return found;
};

describe("deploy/k8s", () => {
  const deployment = one("Deployment");
  const container = deployment.spec.template.spec.containers[0];
  const config = parseConfig(one("ConfigMap", "tritgate-config").data?.["tritgate.yaml"] ?? "", "tritgate.yaml");

  it("probes the gateway's real health routes on its API port", async () => {
    const { app } = createGateway({
      directory: new MapDirectory([]),
      limiter: createMemoryRateLimiter(),
      variants: [],
      metrics: false,
    });
    expect(container.livenessProbe.httpGet.path).toBe("/health/live");
    expect(container.startupProbe.httpGet.path).toBe("/health/live");
    expect(container.readinessProbe.httpGet.path).toBe("/health/ready");
    expect((await app.request("/health/live")).status).toBe(200);
    // no variant can serve: not ready (a 503, not a 404), so the load balancer leaves it out
    expect((await app.request("/health/ready")).status).toBe(503);
    const http = container.ports.find((p: { name: string }) => p.name === "http");
    expect(http.containerPort).toBe(config.server.port);
    expect(container.livenessProbe.httpGet.port).toBe("http");
    expect(container.readinessProbe.httpGet.port).toBe("http");
  });

  it("gives the drain more time than the config's drainTimeoutMs before SIGKILL", () => {
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      config.server.drainTimeoutMs,
    );
  });

  it("takes DATABASE_URL, REDIS_URL and TRITGATE_ADMIN_TOKEN from the Secret, and asks for 2 cores", () => {
    const secret = one("Secret", "tritgate-secrets");
    const env = new Map<string, { valueFrom?: { secretKeyRef: { name: string; key: string } } }>(
      container.env.map((e: { name: string }) => [e.name, e]),
    );
    for (const name of ["DATABASE_URL", "REDIS_URL", "TRITGATE_ADMIN_TOKEN"]) {
      expect(env.get(name)?.valueFrom?.secretKeyRef).toEqual({ name: "tritgate-secrets", key: name });
      expect(secret.stringData?.[name]).toBeTypeOf("string");
    }
    expect(container.resources.requests.cpu).toBe("2");
    expect(container.resources.limits.cpu).toBe("2");
  });

  it("routes the Service to the API port and the metrics Service to the observability port", () => {
    const service = one("Service");
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports[0].targetPort).toBe("http");
    const metrics = one("Service", "tritgate-metrics");
    const metricsPort = container.ports.find((p: { name: string }) => p.name === "metrics");
    expect(metricsPort.containerPort).toBe(config.server.observability?.port);
    expect(metrics.spec.ports[0].targetPort).toBe("metrics");
  });

  it("scales the Deployment on the capacity signal the gateway exports, through the adapter's rule", async () => {
    const hpa = one("HorizontalPodAutoscaler");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "tritgate" });
    expect(hpa.spec.metrics).toHaveLength(1);
    const [metric] = hpa.spec.metrics;
    expect(metric.type).toBe("External");
    expect(metric.external.metric.name).toBe(CAPACITY_METRIC);
    // AverageValue 1 over the summed recommendations: desired replicas = ceil(sum)
    expect(metric.external.target).toEqual({ type: "AverageValue", averageValue: "1" });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);

    // the adapter serves that external metric from the gateway's series of the same name
    const adapter = parse(one("ConfigMap", "prometheus-adapter").data?.["config.yaml"] ?? "") as {
      externalRules: { seriesQuery: string; name: { as: string }; metricsQuery: string }[];
    };
    const rule = adapter.externalRules.find((r) => r.name.as === CAPACITY_METRIC);
    expect(rule?.seriesQuery).toMatch(new RegExp(`^'?${CAPACITY_METRIC}\\{`));
    expect(rule?.metricsQuery).toMatch(/^sum /);

    // and the gateway really exports it, as a gauge, on the listener the metrics Service targets
    const { app, observability } = createGateway({
      directory: new MapDirectory([]),
      limiter: createMemoryRateLimiter(),
      variants: [],
      observability: { separate: config.server.observability !== undefined },
    });
    const text = await (await (observability ?? app).request("/metrics")).text();
    expect(text).toContain(`# TYPE ${CAPACITY_METRIC} gauge`);
    expect(text).toMatch(new RegExp(`^${CAPACITY_METRIC} 0$`, "m"));
  });
});
