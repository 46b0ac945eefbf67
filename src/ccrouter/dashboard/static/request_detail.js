// The request detail panel: every attempt (target, status, error, time) and the record's other fields.

import { getJSON, errorNote } from "./api.js";
import {
  el, replace, fmtCount, fmtUsd, fmtMs, fmtDateTime, targetLabel, statusClass, NONE,
} from "./format.js";

/** A closed side panel inside `container`; {open(requestId), close()}. */
export function showRequestDetail(container) {
  const body = el("div", { class: "drawer-body" });
  const title = el("h2", { class: "mono", testid: "request-detail-id" });
  const closeButton = el("button", { type: "button", class: "button-plain", "aria-label": "Close", text: "✕",
    testid: "request-detail-close" });
  const panel = el("aside", { class: "drawer", testid: "request-detail", hidden: true, "aria-label": "Request" },
    el("div", { class: "drawer-head" }, title, closeButton), body);
  container.append(panel);
  let controller = null;

  function close() {
    panel.hidden = true;
    if (controller) controller.abort();
    for (const row of container.querySelectorAll("tr.selected")) row.classList.remove("selected");
  }
  closeButton.addEventListener("click", close);
  const onKey = (event) => event.key === "Escape" && !panel.hidden && close();
  document.addEventListener("keydown", onKey);

  async function open(requestId) {
    if (controller) controller.abort();
    controller = new AbortController();
    panel.hidden = false;
    title.textContent = requestId;
    replace(body, el("p", { class: "muted", text: "Loading…" }));
    try {
      const detail = await getJSON(`/api/ui/requests/${encodeURIComponent(requestId)}`, { signal: controller.signal });
      replace(body, fields(detail), attempts(detail.attempts || []));
    } catch (error) {
      if (error.name !== "AbortError") replace(body, errorNote(error, "request-detail-error"));
    }
  }

  return {
    open,
    close() {
      close();
      document.removeEventListener("keydown", onKey);
    },
  };
}

function yesNo(value) {
  if (value === null || value === undefined) return NONE;
  return value ? "yes" : "no";
}

function fields(d) {
  const tokens = (n) => (n === null || n === undefined ? NONE : `${fmtCount(n)} (${n})`);
  const rows = [
    ["Time", fmtDateTime(d.time)],
    ...(d.instance ? [["Router", d.instance]] : []),
    ...(d.user ? [["User", d.user]] : []), // whose key asked (Users; "admin": the APIKEY)
    ["Session", d.session_id || NONE],
    ["Route", d.scenario || NONE],
    ["Served by", targetLabel(d.provider, d.model)],
    ["Asked for", d.requested_model || NONE],
    ["Status", el("span", { class: `badge ${statusClass(d.status)}`, text: String(d.status) })],
    ["Error", d.error ? el("span", { class: "text-error pre-wrap", text: d.error }) : NONE],
    ["Stream", yesNo(d.stream)],
    ["Latency", fmtMs(d.latency_ms)],
    ["Time to first token", fmtMs(d.ttft_ms)],
    ["Input tokens", tokens(d.input_tokens)],
    ["Output tokens", tokens(d.output_tokens)],
    ["Cache read", tokens(d.cache_read_tokens)],
    ["Cache write", tokens(d.cache_write_tokens)],
    ["Cost", fmtUsd(d.cost_usd)],
    ["Stop reason", d.stop_reason || NONE],
    ["Budget", d.budget || NONE],
    ["Pinned to the turn", yesNo(d.pinned)],
    ["Request class", d.request_class || NONE],
  ];
  return el("dl", { class: "fields", testid: "request-detail-fields" },
    rows.map(([label, value]) => [el("dt", { text: label }), el("dd", {}, value)]));
}

function attempts(list) {
  const section = el("section", {}, el("h3", { text: `Attempts (${list.length})` }));
  if (!list.length) {
    section.append(el("p", { class: "muted", text: "No provider was tried." }));
    return section;
  }
  const table = el(
    "table",
    { class: "table", testid: "request-attempts" },
    el("thead", {}, el("tr", {}, ["#", "Target", "Status", "Time", "Error"].map((h, i) =>
      el("th", { class: i === 0 || i === 3 ? "num" : "", text: h })))),
    el("tbody", {}, list.map((a, i) => el(
      "tr",
      { testid: "request-attempt" },
      el("td", { class: "num", text: String(i + 1) }),
      el("td", { class: "mono", text: a.target || NONE }),
      el("td", {}, a.status === null || a.status === undefined
        ? el("span", { class: "muted", text: "skipped" })
        : el("span", { class: `badge ${statusClass(a.status)}`, text: String(a.status) })),
      el("td", { class: "num", text: fmtMs(a.ms) }),
      el("td", { class: "wrap text-error", text: a.error || "" }),
    ))),
  );
  section.append(el("div", { class: "table-wrap" }, table));
  return section;
}
