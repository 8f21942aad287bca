/**
 * The live page in a real headless Chromium (Debian's `chromium`, driven by playwright-core): it loads
 * without console errors, its charts and tables fill after traffic, and a screenshot is saved
 * (`$TRITGATE_SCREENSHOT_DIR/ui.png`, default the system temp dir).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAIL_MARKER, type MetricsGateway, startMetricsGateway } from "./testkit.js";

const CHROMIUM = "/usr/bin/chromium";

let gateway: MetricsGateway;
let browser: Browser;

beforeAll(async () => {
  const probe = spawnSync(CHROMIUM, ["--version"], { encoding: "utf8" });
  if (probe.error || !existsSync(CHROMIUM)) {
    throw new Error(`chromium is not installed at ${CHROMIUM}; install it: apt-get install -y chromium`);
  }
  gateway = await startMetricsGateway();
  // root in CI: Chromium's sandbox needs a user namespace it may not have
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
});

async function chat(tier: string, content: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${gateway.keys[tier]}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "nano", messages: [{ role: "user", content }], max_tokens: 24, ...extra }),
  });
  await res.text();
  return res.status;
}

describe("GET /ui in headless Chromium", () => {
  it("loads without console errors and charts the traffic", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const errors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));

    const response = await page.goto(`${gateway.url}/ui`);
    expect(response?.status()).toBe(200);
    // the first poll renders even with no traffic yet
    await page.waitForSelector("body[data-updated]");

    const statuses = [
      await chat("standard", "Tell me about ships."),
      await chat("free", "Once upon a time"),
      await chat("premium", "Call me Ishmael.", { stream: true }),
      await chat("tight", "A degraded, late answer."),
      await chat("cascade", "An unsure answer escalates."),
      await chat("standard", `The ternary variant fails ${FAIL_MARKER}`),
      await chat("free", "pinned", { model: "nano-fp32" }),
    ];
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 403]);

    // the page polls every 2 s: wait for the charts to hold points and the tables to fill
    for (const id of [
      "chart-tokens",
      "chart-cost",
      "chart-energy",
      "chart-share",
      "chart-savings",
      "chart-ttft",
      "chart-total",
    ]) {
      // (page-side expressions as strings: the tests compile without the DOM's types)
      await page.waitForFunction(`Number(document.getElementById("${id}")?.dataset.points ?? 0) > 0`, null, {
        timeout: 30_000,
      });
      expect(await page.locator(`#${id} canvas`).count(), id).toBe(1);
    }
    await page.waitForFunction('document.querySelectorAll("#decisions tbody tr").length >= 7');
    const reasons = await page.locator("#decisions tbody tr td:nth-child(4)").allTextContents();
    expect(reasons).toEqual(expect.arrayContaining(["forbidden_variant", "best_effort", "cascade_start"]));
    const flags = (await page.locator("#decisions tbody tr td:nth-child(6)").allTextContents()).join(" ");
    expect(flags).toMatch(/degraded/);
    expect(flags).toMatch(/fallback/);
    expect(flags).toMatch(/escalated/);
    expect(await page.locator("#ternary").textContent()).toMatch(/%$/);
    // the tight tier's p95 is over its 0.001 ms SLA, drawn as a miss
    expect(await page.locator("#sla tbody tr", { hasText: "tight" }).locator("td.bad").count()).toBe(2);

    const dir = process.env.TRITGATE_SCREENSHOT_DIR ?? tmpdir();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "ui.png");
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
  }, 180_000);
});
