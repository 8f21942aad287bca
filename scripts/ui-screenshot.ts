/**
 * `npx tsx scripts/ui-screenshot.ts [SECONDS] [OUT]`: the nano gateway under mixed load (four
 * clients, every tier, streamed and not) for SECONDS (default 60), then a headless-Chromium
 * screenshot of `/ui` to OUT (default docs/ui.png).
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FAIL_MARKER, startMetricsGateway } from "../dashboards/testkit.js";

const seconds = Number(process.argv[2] ?? 60);
const out = process.argv[3] ?? join(import.meta.dirname, "../docs/ui.png");
const gateway = await startMetricsGateway();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  await page.goto(`${gateway.url}/ui`);
  const tiers = ["standard", "free", "premium", "tight", "cascade", "standard"];
  const until = Date.now() + seconds * 1000;
  const client = async (id: number) => {
    for (let i = id; Date.now() < until; i += 4) {
      const tier = tiers[i % tiers.length]!;
      const content = i % 29 === 0 ? `fail ${FAIL_MARKER}` : `Request ${i}: tell me about the sea.`;
      const res = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${gateway.keys[tier]}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "nano",
          messages: [{ role: "user", content }],
          max_tokens: 16 + (i % 48),
          stream: i % 3 === 0,
        }),
      });
      await res.text();
    }
  };
  await Promise.all([0, 1, 2, 3].map(client));
  await page.waitForTimeout(2500);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${gateway.recorder.size} requests; screenshot ${out}`);
} finally {
  await browser.close();
  await gateway.close();
}
