import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { DASHBOARDS_DIR, dashboardsRoute } from "./dashboards-route.js";

const app = new Hono().route("/dashboards", dashboardsRoute());

describe("GET /dashboards", () => {
  it("lists the committed dashboards with their titles and URLs", async () => {
    const res = await app.request("/dashboards");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { name: string; title: string; uid: string; url: string }[] };
    expect(body.data.map((d) => d.name)).toEqual(["efficiency", "routing", "sla", "tenants"]);
    expect(body.data[0]).toEqual({
      name: "efficiency",
      title: "tritgate / Efficiency",
      uid: "tritgate-efficiency",
      url: "/dashboards/efficiency.json",
    });
  });

  it("serves each dashboard's JSON as committed", async () => {
    const res = await app.request("/dashboards/sla.json");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.text()).toBe(readFileSync(join(DASHBOARDS_DIR, "sla.json"), "utf8"));
  });

  it("answers an unknown dashboard with an OpenAI-shaped 404", async () => {
    for (const path of ["/dashboards/nope.json", "/dashboards/sla", "/dashboards/..%2Fpackage.json"]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      const body = (await res.json()) as { error: { code: string; type: string } };
      expect(body.error).toMatchObject({ code: "not_found", type: "invalid_request_error" });
    }
  });
});
