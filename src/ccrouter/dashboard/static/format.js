// Building DOM nodes safely and formatting numbers the same way on every page.
// Text always goes in through textContent / text nodes: names, models and error messages come from outside.

/**
 * el("td", {class: "num", testid: "x", data: {path: "Router.default"}, on: {click: fn}}, "text", childNode)
 * Attributes other than class/text/testid/data/on/props are set with setAttribute (never "style" or "on*":
 * the page's CSP forbids inline style and handlers, so they are refused here too).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "testid") node.dataset.testid = value;
    else if (name === "data") Object.assign(node.dataset, value);
    else if (name === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else if (name === "props") Object.assign(node, value);
    else if (name === "style" || name.startsWith("on")) throw new Error(`el(): ${name} is not allowed under the CSP`);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

/** Append strings (as text nodes), nodes and nested arrays; null/undefined/false are skipped. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace all children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export const UNKNOWN = "unknown";
export const NONE = "—";

/** 812 → "812", 1234 → "1.2k", 5_600_000 → "5.6M"; null → "—". */
export function fmtCount(n) {
  if (n === null || n === undefined) return NONE;
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n));
  if (abs < 1e6) return `${trim(n / 1e3, abs < 1e4 ? 1 : 0)}k`;
  if (abs < 1e9) return `${trim(n / 1e6, abs < 1e7 ? 1 : 0)}M`;
  return `${trim(n / 1e9, 1)}B`;
}

function trim(value, digits) {
  return value.toFixed(digits).replace(/\.0$/, "");
}

/** USD: "$0.0123" under a dollar, "$12.34" above, "unknown" for null (an unknown price is never a silent 0). */
export function fmtUsd(x) {
  if (x === null || x === undefined) return UNKNOWN;
  if (x === 0) return "$0";
  const abs = Math.abs(x);
  const sign = x < 0 ? "-" : "";
  if (abs < 0.0001) return `${sign}<$0.0001`;
  if (abs < 1) return `${sign}$${abs.toFixed(4)}`;
  if (abs < 10000) return `${sign}$${abs.toFixed(2)}`;
  return `${sign}$${Math.round(abs).toLocaleString("en-US")}`;
}

/** USD for chart axes: at most 3 significant digits ("$0.75", "$0.0012", "$12.5"). */
export function fmtUsdShort(x) {
  if (x === null || x === undefined) return UNKNOWN;
  if (x === 0) return "$0";
  const sign = x < 0 ? "-" : "";
  return `${sign}$${Number(Math.abs(x).toPrecision(3))}`;
}

/** 812 → "812 ms", 1530 → "1.53 s", 65000 → "65.0 s"; null → "—". */
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return NONE;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** 0.083 → "8.3%"; null → "—". */
export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined) return NONE;
  const pct = ratio * 100;
  return `${pct < 10 && pct !== 0 ? pct.toFixed(1) : Math.round(pct)}%`;
}

const pad = (n) => String(n).padStart(2, "0");

/** Unix seconds → "14:03:07" today, "Dec 2 14:03" on another day. */
export function fmtTime(unix) {
  if (unix === null || unix === undefined) return NONE;
  const d = new Date(unix * 1000);
  const now = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return hms;
  const month = d.toLocaleString("en-US", { month: "short" });
  return `${month} ${d.getDate()} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Full local date and time, for titles and details. */
export function fmtDateTime(unix) {
  if (unix === null || unix === undefined) return NONE;
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Seconds from now until `unix`: "in 5 h", "in 12 d", "in 40 s" ("now" when past). */
export function fmtUntil(unix, now = Date.now() / 1000) {
  return fmtSpan(unix - now, "in ", "");
}

/** Seconds since `unix`: "2 min ago". */
export function fmtAgo(unix, now = Date.now() / 1000) {
  return fmtSpan(now - unix, "", " ago");
}

function fmtSpan(seconds, before, after) {
  if (seconds <= 0) return "now";
  const units = [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  for (const [size, name] of units) {
    if (seconds >= size) return `${before}${Math.floor(seconds / size)} ${name}${after}`;
  }
  return "now";
}

/** The first 8 characters of an id (sessions and requests are UUID-like). */
export function shortId(id) {
  if (!id) return NONE;
  return id.length > 12 ? id.slice(0, 8) : id;
}

/** "provider,model" or "—". */
export function targetLabel(provider, model) {
  if (!provider && !model) return NONE;
  return `${provider ?? "?"},${model ?? "?"}`;
}

/** An HTTP status as a CSS class: ok (2xx), client (499 cancelled), error (others ≥ 400). */
export function statusClass(status) {
  if (status === 499) return "status-cancelled";
  if (status >= 200 && status < 400) return "status-ok";
  return "status-error";
}

export function isErrorStatus(status) {
  return !(status >= 200 && status < 400);
}

/** Compact key=value text of a fields object (strings unquoted when plain, others as JSON). */
export function fmtFields(fields) {
  if (!fields) return "";
  return Object.entries(fields)
    .map(([key, value]) => {
      const text = typeof value === "string" && /^[^\s"=]*$/.test(value) ? value : JSON.stringify(value);
      return `${key}=${text}`;
    })
    .join(" ");
}

/** Debounce `fn` by `ms`. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
