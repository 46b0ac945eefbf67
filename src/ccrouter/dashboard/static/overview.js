// Overview: totals, charts over time split by scenario/provider/model/user, budgets and provider health.

import { getJSON, errorNote, isSignedOut } from "./api.js";
import { timeChart } from "./charts.js";
import {
  el, replace, fmtCount, fmtUsd, fmtUsdShort, fmtMs, fmtPct, fmtTime, fmtDateTime, fmtUntil, fmtAgo, NONE, UNKNOWN,
} from "./format.js";

const REFRESH_MS = 30000;
const choices = {
  since: [["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"]],
  bucket: [["hour", "per hour"], ["day", "per day"]],
  by: [["provider", "provider"], ["model", "model"], ["scenario", "scenario"], ["user", "user"]],
};
const state = { since: "24h", bucket: "hour", by: "provider" }; // kept while the tab lives

export function mount(container) {
  const body = el("div", { class: "overview-body", testid: "overview" });
  const stamp = el("span", { class: "muted small", testid: "overview-updated" });
  const toolbar = el("div", { class: "toolbar" }, el("h1", { text: "Overview" }), selectors(load), stamp);
  container.append(toolbar, body);
  let charts = [];
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const query = new URLSearchParams(state).toString();
    try {
      const data = await getJSON(`/api/ui/overview?${query}`, { signal: controller.signal });
      for (const chart of charts) chart.destroy();
      replace(body);
      charts = render(body, data);
      stamp.textContent = `updated ${fmtTime(Date.now() / 1000)}`;
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(body, errorNote(error, "overview-error"));
    }
  }

  load();
  const timer = setInterval(() => isSignedOut() || load(), REFRESH_MS);
  return () => {
    clearInterval(timer);
    if (controller) controller.abort();
    for (const chart of charts) chart.destroy();
  };
}

function selectors(onChange) {
  const group = el("div", { class: "controls" });
  for (const [name, options] of Object.entries(choices)) {
    const select = el(
      "select",
      { testid: `overview-${name}`, "aria-label": name, on: { change: () => ((state[name] = select.value), onChange()) } },
      options.map(([value, label]) => el("option", { value, text: label, props: { selected: value === state[name] } })),
    );
    const label = { since: "Since", bucket: "Bucket", by: "Split by" }[name];
    group.append(el("label", { class: "control" }, el("span", { text: label }), select));
  }
  return group;
}

/** Fill `body` with the overview `data`; returns the charts (to destroy on the next load). */
function render(body, data) {
  let charts = [];
  if (data.ledger === false) {
    body.append(el("div", { class: "note note-info", testid: "ledger-off", text: data.message }));
  } else {
    body.append(totals(data.totals));
    const grid = el("div", { class: "chart-grid", testid: "charts" });
    body.append(grid);
    charts = drawCharts(grid, data);
  }
  const lower = el("div", { class: "two-col" });
  lower.append(budgets(data.budgets || []), providers(data.providers || []));
  body.append(lower);
  return charts;
}

function totals(t = {}) {
  const cards = [
    ["Requests", fmtCount(t.requests), `${t.requests ?? NONE} requests`],
    ["Errors", fmtCount(t.errors), t.requests ? `${fmtPct((t.errors ?? 0) / t.requests)} of requests` : ""],
    ["Tokens in", fmtCount(t.input_tokens), `${t.input_tokens ?? UNKNOWN} input tokens`],
    ["Tokens out", fmtCount(t.output_tokens), `${t.output_tokens ?? UNKNOWN} output tokens`],
    ["Cache read / write", `${fmtCount(t.cache_read_tokens)} / ${fmtCount(t.cache_write_tokens)}`, "cache tokens"],
    ["Cost", fmtUsd(t.cost_usd), "what the providers charged, at known prices"],
    ["Baseline", fmtUsd(t.baseline_cost_usd), "what the same tokens would have cost on the baseline"],
    ["Savings", fmtUsd(t.savings_usd), "baseline minus cost"],
  ];
  return el(
    "div",
    { class: "cards", testid: "totals" },
    cards.map(([label, value, title]) =>
      el(
        "div",
        { class: "card stat", title, data: { total: label.toLowerCase() } },
        el("div", { class: "stat-label", text: label }),
        el("div", { class: `stat-value${value === UNKNOWN ? " muted" : ""}`, text: value }),
      ),
    ),
  );
}

function sumSeries(a = {}, b = {}) {
  const out = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key] || [];
    const y = b[key] || [];
    out[key] = Array.from({ length: Math.max(x.length, y.length) }, (_, i) => (x[i] || 0) + (y[i] || 0));
  }
  return out;
}

function drawCharts(grid, data) {
  const series = data.series || {};
  const common = { times: data.times || [], groups: data.groups || [] };
  if (!common.times.length || !common.groups.length) {
    grid.append(el("p", { class: "muted empty", text: "No requests in this period yet." }));
    return [];
  }
  const specs = [
    ["Requests", series.requests, fmtCount, fmtCount, true, "chart-requests"],
    ["Tokens (in + out)", sumSeries(series.input_tokens, series.output_tokens), fmtCount, fmtCount, true,
      "chart-tokens"],
    ["Cost (USD)", series.cost_usd, fmtUsd, fmtUsdShort, false, "chart-cost"],
    ["Savings (USD)", series.savings_usd, fmtUsd, fmtUsdShort, false, "chart-savings"],
  ];
  return specs.map(([title, values, format, axisFormat, integer, testid]) =>
    timeChart(grid, { ...common, title, values, format, axisFormat, integer, testid }));
}

function budgets(list) {
  const section = el("section", { class: "card panel", testid: "budgets" }, el("h2", { text: "Budgets" }));
  if (!list.length) {
    section.append(el("p", { class: "muted", text: "No budgets. Add one on the Config page (Budgets)." }));
    return section;
  }
  for (const budget of list) section.append(budgetRow(budget));
  return section;
}

function budgetRow(b) {
  const ratio = b.usd > 0 ? b.spent_usd / b.usd : 0;
  const fill = el("div", { class: "bar-fill" });
  fill.style.width = `${Math.min(ratio, 1) * 100}%`;
  const mark = el("div", { class: "bar-mark", title: `warns at ${fmtPct(b.warn_at)}` });
  mark.style.left = `${Math.min(b.warn_at ?? 0.8, 1) * 100}%`;
  return el(
    "div",
    { class: `budget state-${b.state}`, data: { budget: b.name, state: b.state } },
    el(
      "div",
      { class: "budget-head" },
      el("strong", { text: b.name }),
      el("span", { class: "muted", text: `${b.scope} · per ${b.period}` }),
      el("span", { class: `badge badge-${b.state}`, text: b.state }),
    ),
    el("div", { class: "bar", role: "img", "aria-label": `${fmtPct(ratio)} spent` }, fill, mark),
    el(
      "div",
      { class: "budget-foot" },
      el("span", { class: "num", text: `${fmtUsd(b.spent_usd)} of ${fmtUsd(b.usd)} (${fmtPct(ratio)})` }),
      el("span", { class: "muted", title: fmtDateTime(b.resets_at), text: `resets ${fmtUntil(b.resets_at)}` }),
    ),
  );
}

function providers(list) {
  const section = el(
    "section",
    { class: "card panel", testid: "provider-health" },
    el("h2", { text: "Provider health" }),
    el("p", { class: "muted small", text: "Requests of the last 15 minutes, and targets cooling down now." }),
  );
  if (!list.length) {
    section.append(el("p", { class: "muted", text: "No requests in the last 15 minutes." }));
    return section;
  }
  const head = ["Provider", "Requests", "Errors", "Error rate", "p50", "p95", "Last error", "Cooling"];
  const numeric = new Set([1, 2, 3, 4, 5]);
  const table = el(
    "table",
    { class: "table" },
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { class: numeric.has(i) ? "num" : "", text: h })))),
    el("tbody", {}, list.map(providerRow)),
  );
  section.append(el("div", { class: "table-wrap" }, table));
  return section;
}

function providerRow(p) {
  const rateClass = p.error_rate >= 0.2 ? "text-error" : p.error_rate >= 0.05 ? "text-warn" : "";
  const lastError = p.last_error
    ? el("span", { class: "text-error clip", title: p.last_error, text: `${fmtAgo(p.last_error_at)}: ${p.last_error}` })
    : el("span", { class: "muted", text: NONE });
  const cooling = (p.cooling || []).length
    ? (p.cooling || []).map((c) => {
        const model = c.target.startsWith(`${p.provider},`) ? c.target.slice(p.provider.length + 1) : c.target;
        const title = `${c.target} cools down until ${fmtDateTime(c.until)}${c.reason ? `: ${c.reason}` : ""}`;
        return el("div", { class: "cooling", title }, `${model} until ${fmtTime(c.until)}`);
      })
    : el("span", { class: "muted", text: NONE });
  return el(
    "tr",
    { data: { provider: p.provider } },
    el("td", { text: p.provider }),
    el("td", { class: "num", text: fmtCount(p.requests) }),
    el("td", { class: "num", text: fmtCount(p.errors) }),
    el("td", { class: `num ${rateClass}`, text: fmtPct(p.error_rate) }),
    el("td", { class: "num", text: fmtMs(p.p50_ms) }),
    el("td", { class: "num", text: fmtMs(p.p95_ms) }),
    el("td", { class: "wrap last-error" }, lastError),
    el("td", { class: "cooling-cell" }, cooling),
  );
}
