// Config → Prices (USD per million tokens per provider,model) and Budgets (spending caps per period).

import { el } from "./format.js";
import { field, textInput, numberInput, selectInput, button, section } from "./config_fields.js";
import { pathText, targetChoices } from "./config_model.js";

const PRICE_KINDS = ["input", "output", "cache_read", "cache_write"];

/** Set `path` to `value`, or remove it when emptied (null) and it is there. */
function setOrRemove(ctx, path, present) {
  return (value) => {
    if (value === null || value === "") {
      if (present()) ctx.commit({ path, delete: true });
    } else {
      ctx.commit({ path, value });
    }
  };
}

export function renderPrices(ctx) {
  const prices = ctx.pending.doc.Prices || {};
  const keys = Object.keys(prices);
  const head = el("tr", {}, el("th", { text: "provider,model" }),
    PRICE_KINDS.map((kind) => el("th", { class: "num", text: kind })), el("th", {}));
  const rows = keys.map((key) => priceRow(ctx, key));
  const table = el("table", { class: "table table-form", testid: "config-prices" }, el("thead", {}, head),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: "6", class: "muted",
      text: "No prices set: known models are priced from genai-prices." }))));
  return section("Prices", "config-prices-section",
    "USD per million tokens, overriding genai-prices. Cache prices default to the input price.",
    el("div", { class: "table-wrap" }, table), addPrice(ctx, keys));
}

function priceRow(ctx, key) {
  const base = ["Prices", key];
  const entry = () => ctx.pending.doc.Prices?.[key];
  const value = entry();
  const remove = button("✕", () => ctx.commit({ path: base, delete: true }, ["prices"]), {
    class: "button-plain", "aria-label": `Remove the price of ${key}`, testid: "price-remove",
  });
  if (!value || typeof value !== "object") {
    return el("tr", { data: { price: key } }, el("th", { scope: "row", class: "mono", text: key }),
      el("td", { colspan: "4" }, el("div", { class: "field", data: { path: pathText(base) } },
        el("code", { text: JSON.stringify(value) }))), el("td", {}, remove));
  }
  const cells = PRICE_KINDS.map((kind) => {
    const path = [...base, kind];
    const input = numberInput(path, value[kind], setOrRemove(ctx, path, () => entry() && kind in entry()), {
      testid: `price-${kind}`, "aria-label": `${key} ${kind}`,
      placeholder: kind.startsWith("cache") ? "= input" : "",
    });
    return el("td", {}, el("div", { class: "field" }, input));
  });
  return el("tr", { data: { price: key } },
    el("th", { scope: "row", class: "mono", data: { path: pathText(base) }, text: key }), cells,
    el("td", {}, remove));
}

function addPrice(ctx, priced) {
  const open = targetChoices(ctx.pending.doc).filter((choice) => !priced.includes(choice));
  if (!open.length) return null;
  const select = el("select", { testid: "price-new-target", "aria-label": "provider,model to price" },
    open.map((choice) => el("option", { value: choice, text: choice })));
  const add = () => ctx.commit({ path: ["Prices", select.value], value: { input: 0, output: 0 } }, ["prices"]);
  return el("div", { class: "add-row" }, el("strong", { text: "Add a price" }), field("For", select),
    button("Add price", add, { class: "button-small", testid: "price-add" }));
}

export function renderBudgets(ctx) {
  const budgets = ctx.pending.doc.Budgets;
  const list = Array.isArray(budgets) ? budgets : [];
  const head = el("tr", {}, ["name", "scope", "period", "usd", "warn_at", "then (at the cap)", ""].map((title, i) =>
    el("th", { class: i === 3 || i === 4 ? "num" : "", text: title })));
  const rows = list.map((_, index) => budgetRow(ctx, index));
  const table = el("table", { class: "table table-form", testid: "config-budgets" }, el("thead", {}, head),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: "7", class: "muted", text: "No budgets." }))));
  const add = button("Add budget", () => {
    const name = uniqueName(list);
    const budget = { name, scope: "all", period: "day", usd: 5 };
    ctx.commit(Array.isArray(budgets) ? { path: ["Budgets"], append: budget } : { path: ["Budgets"], value: [budget] },
      ["budgets"]);
  }, { class: "button-small", testid: "budget-add" });
  return section("Budgets", "config-budgets-section",
    "A cap per day or month over all requests, a provider, a route or a model. At the cap, requests go to " +
      "\"then\", or are refused with HTTP 429 when it is empty.",
    el("div", { class: "table-wrap" }, table), scopeList(ctx), el("div", { class: "add-row" }, add));
}

function uniqueName(list) {
  const taken = new Set(list.map((b) => String(b?.name ?? "").toLowerCase()));
  for (let n = list.length + 1; ; n += 1) if (!taken.has(`budget-${n}`)) return `budget-${n}`;
}

function scopeList(ctx) {
  const doc = ctx.pending.doc;
  const scopes = [
    "all",
    ...(doc.Providers || []).map((p) => `provider:${p.name}`),
    ...(ctx.pending.view.route_names || []).map((route) => `route:${route}`),
    ...targetChoices(doc).map((choice) => `model:${choice}`),
  ];
  return el("datalist", { id: "budget-scopes" }, scopes.map((scope) => el("option", { value: scope })));
}

function budgetRow(ctx, index) {
  const base = ["Budgets", index];
  const entry = () => ctx.pending.doc.Budgets?.[index];
  const b = entry();
  if (!b || typeof b !== "object") {
    return el("tr", {}, el("td", { colspan: "6" }, el("div", { class: "field", data: { path: pathText(base) } },
      el("code", { text: JSON.stringify(b) }))), el("td", {}, removeBudget(ctx, base)));
  }
  const has = (key) => () => Boolean(entry()) && key in entry();
  const at = (key) => [...base, key];
  const cell = (input) => el("td", {}, el("div", { class: "field" }, input));
  const thenOptions = [["", "(refuse: HTTP 429)"], ...targetChoices(ctx.pending.doc).map((c) => [c, c])];
  return el(
    "tr",
    { data: { path: pathText(base), budget: b.name } },
    cell(textInput(at("name"), b.name, setOrRemove(ctx, at("name"), has("name")), {
      testid: "budget-name", "aria-label": "budget name", size: "12" })),
    cell(textInput(at("scope"), b.scope, setOrRemove(ctx, at("scope"), has("scope")), {
      testid: "budget-scope", list: "budget-scopes", "aria-label": "scope", placeholder: "all" })),
    cell(selectInput(at("period"), b.period, [["day", "day"], ["month", "month"]],
      (value) => ctx.commit({ path: at("period"), value }), { testid: "budget-period", "aria-label": "period" })),
    cell(numberInput(at("usd"), b.usd, setOrRemove(ctx, at("usd"), has("usd")), {
      testid: "budget-usd", "aria-label": "usd", step: "0.01" })),
    cell(numberInput(at("warn_at"), b.warn_at, setOrRemove(ctx, at("warn_at"), has("warn_at")), {
      testid: "budget-warn-at", "aria-label": "warn at", step: "0.05", max: "1", placeholder: "0.8" })),
    cell(selectInput(at("then"), b.then ?? "", thenOptions, setOrRemove(ctx, at("then"), has("then")), {
      testid: "budget-then", "aria-label": "then" })),
    el("td", {}, removeBudget(ctx, base)),
  );
}

function removeBudget(ctx, base) {
  return button("✕", () => ctx.commit({ path: base, delete: true }, ["budgets"]), {
    class: "button-plain", "aria-label": "Remove this budget", testid: "budget-remove",
  });
}
