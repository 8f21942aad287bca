/**
 * `GET /dashboards` lists the committed Grafana dashboards; `GET /dashboards/{name}.json` serves one,
 * ready to import. Files are read once, when the route is built.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";

/** The repository's dashboards/json, from src/metrics (tsx) or dist/src/metrics (built). */
export const DASHBOARDS_DIR =
  ["../../dashboards/json", "../../../dashboards/json"]
    .map((up) => join(import.meta.dirname, up))
    .find((dir) => existsSync(dir)) ?? join(import.meta.dirname, "../../dashboards/json");

interface Listed {
  readonly name: string;
  readonly title: string;
  readonly uid: string;
  readonly url: string;
}

export function dashboardsRoute(dir: string = DASHBOARDS_DIR, basePath = "/dashboards"): Hono {
  const files = new Map<string, string>();
  const listed: Listed[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const text = readFileSync(join(dir, file), "utf8");
    const { title, uid } = JSON.parse(text) as { title: string; uid: string };
    const name = file.slice(0, -".json".length);
    files.set(name, text);
    listed.push({ name, title, uid, url: `${basePath}/${file}` });
  }
  return new Hono()
    .get("/", (c) => c.json({ object: "list", data: listed }))
    .get("/:file", (c) => {
      const file = c.req.param("file");
      const text = file.endsWith(".json") ? files.get(file.slice(0, -".json".length)) : undefined;
      if (text === undefined) {
        const message = `Unknown dashboard ${file}; GET ${basePath} lists them.`;
        return c.json({ error: { message, type: "invalid_request_error", param: null, code: "not_found" } }, 404);
      }
      return c.body(text, 200, { "content-type": "application/json; charset=utf-8" });
    });
}
