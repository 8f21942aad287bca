import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { errorResponse, invalidRequest } from "../errors.js";
import type { GatewayEnv } from "../types.js";
import { requestId } from "./request-id.js";

const GENERATED = /^req_[0-9a-f]{32}$/;

function app() {
  const a = new Hono<GatewayEnv>()
    .use(requestId())
    .get("/id", (c) => c.text(c.get("requestId")))
    .get("/refused", (c) => errorResponse(c, invalidRequest("no")))
    .get("/bare", () => new Response("made without the context", { headers: { "x-request-id": "forged" } }))
    .get("/throws", () => {
      throw new Error("boom");
    });
  a.onError((err, c) => errorResponse(c, err));
  return a;
}

describe("requestId", () => {
  it("makes a new id when none is given, a different one per request, and hands it to the route", async () => {
    const a = app();
    const first = await a.request("/id");
    const second = await a.request("/id");
    const id = first.headers.get("x-request-id");
    expect(id).toMatch(GENERATED);
    expect(await first.text()).toBe(id);
    expect(second.headers.get("x-request-id")).toMatch(GENERATED);
    expect(second.headers.get("x-request-id")).not.toBe(id);
  });

  it("echoes a valid incoming id", async () => {
    for (const given of ["abc-123", "A.b_c:d/e+f=g", "x".repeat(128)]) {
      const res = await app().request("/id", { headers: { "x-request-id": given } });
      expect(res.headers.get("x-request-id")).toBe(given);
      expect(await res.text()).toBe(given);
    }
  });

  it("replaces an incoming id that is empty, too long or has characters outside the allowed set", async () => {
    for (const given of ["", "x".repeat(129), "bad id", "tab\there", 'quote"', "semi;colon", "ünïcode"]) {
      const res = await app().request("/id", { headers: { "x-request-id": given } });
      expect(res.headers.get("x-request-id"), JSON.stringify(given)).toMatch(GENERATED);
    }
  });

  it("is on error answers, on responses built without the context and on thrown errors", async () => {
    const a = app();
    for (const path of ["/refused", "/bare", "/throws", "/no-such-route"]) {
      const res = await a.request(path, { headers: { "x-request-id": "trace-1" } });
      expect(res.headers.get("x-request-id"), path).toBe("trace-1");
    }
    expect((await a.request("/throws")).status).toBe(500);
  });
});
