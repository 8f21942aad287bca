// The live page: polls data.json every 2 s and redraws the charts and tables. Plain browser JS, no build.
(() => {
  const base = document.currentScript.dataset.base;
  const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  const charts = new Map();

  const width = (el) => Math.max(320, el.parentElement.clientWidth - 24);

  /** (Re)creates a chart when its series change, else feeds it new data. */
  function draw(id, names, columns, t, format) {
    const el = document.getElementById(id);
    const key = names.join("|");
    let entry = charts.get(id);
    if (!entry || entry.key !== key) {
      if (entry) entry.plot.destroy();
      const series = [
        {},
        ...names.map((label, i) => ({
          label,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
          // a lone bucket has no line to draw: show every point
          points: { show: true, size: 5, fill: COLORS[i % COLORS.length] },
        })),
      ];
      const opts = {
        width: width(el),
        height: 200,
        series,
        axes: [{}, { size: 64, values: (_u, ticks) => ticks.map(format) }],
        legend: { live: false },
      };
      entry = { key, plot: new uPlot(opts, [t, ...columns], el) };
      charts.set(id, entry);
    } else {
      entry.plot.setData([t, ...columns]);
    }
    el.dataset.points = String(columns.reduce((n, c) => n + c.filter((v) => v !== null && v !== 0).length, 0));
  }

  const num = (digits) => (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const ms = (v) => (v === null || v === undefined ? "–" : String(Number(Number(v).toPrecision(3))));
  const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`);
  const last = (xs) => [...xs].reverse().find((v) => v !== null) ?? null;
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };

  function render(d) {
    const byVariant = (rec) => d.variants.map((v) => rec[v]);
    draw("chart-tokens", d.variants, byVariant(d.tokensPerSecond), d.t, num(0));
    draw("chart-cost", d.variants, byVariant(d.costPerMillionTokens), d.t, num(3));
    draw("chart-energy", d.variants, byVariant(d.energyJoulesPerMillionTokens), d.t, num(0));
    draw("chart-share", ["ternary share"], [d.ternaryShare], d.t, pct);
    draw("chart-savings", ["1 − cost / fp32 cost"], [d.savings], d.t, pct);
    const tiers = d.tiers.filter((tier) => tier.requests > 0);
    const label = (tier, sla) => (sla === null ? tier.name : `${tier.name} (SLA ${sla} ms)`);
    draw(
      "chart-ttft",
      tiers.map((tier) => label(tier, tier.ttftSlaMs)),
      tiers.map((tier) => tier.ttftP95Ms),
      d.t,
      num(0),
    );
    draw(
      "chart-total",
      tiers.map((tier) => label(tier, tier.totalSlaMs)),
      tiers.map((tier) => tier.totalP95Ms),
      d.t,
      num(0),
    );

    document.getElementById("ternary").textContent = pct(last(d.ternaryShare));
    document.getElementById("savings").textContent = pct(last(d.savings));

    const sla = document.querySelector("#sla tbody");
    sla.replaceChildren(
      ...d.tiers.map((tier) => {
        const tr = document.createElement("tr");
        const judge = (p95, bound) => (p95 === null || bound === null ? "" : p95 <= bound ? "ok" : "bad");
        tr.append(
          cell(tier.name),
          cell(String(tier.requests)),
          cell(num(0)(tier.ttftP95WindowMs), judge(tier.ttftP95WindowMs, tier.ttftSlaMs)),
          cell(ms(tier.ttftSlaMs)),
          cell(num(0)(tier.totalP95WindowMs), judge(tier.totalP95WindowMs, tier.totalSlaMs)),
          cell(ms(tier.totalSlaMs)),
        );
        return tr;
      }),
    );
    const decisions = document.querySelector("#decisions tbody");
    decisions.replaceChildren(
      ...d.decisions.map((r) => {
        const tr = document.createElement("tr");
        const flags = [
          r.degraded && "degraded",
          r.fallback && "fallback",
          r.escalated && "escalated",
          r.stream && "stream",
        ];
        tr.append(
          cell(new Date(r.at).toLocaleTimeString()),
          cell(r.tier),
          cell(r.variant ?? "–"),
          cell(r.reason),
          cell(String(r.status), r.status >= 400 ? "bad" : ""),
          cell(flags.filter(Boolean).join(", ")),
          cell(`${num(0)(r.totalMs)} ms`),
        );
        return tr;
      }),
    );
    document.getElementById("status").textContent = `updated ${new Date(d.now).toLocaleTimeString()}`;
    document.body.dataset.updated = String(d.now);
  }

  async function poll() {
    try {
      const res = await fetch(`${base}/data.json`, { cache: "no-store" });
      if (res.ok) render(await res.json());
    } catch (e) {
      document.getElementById("status").textContent = `no data: ${e}`;
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
