// Logs: the service's recent warnings and errors, newest first, live from /api/ui/events.

import { getJSON, errorNote } from "./api.js";
import { subscribe } from "./live.js";
import { liveIndicator } from "./live_indicator.js";
import { el, replace, fmtTime, fmtDateTime, fmtFields, shortId } from "./format.js";

const MAX_ROWS = 500;

export function mount(container) {
  const filters = { level: "" };
  const tbody = el("tbody", { testid: "logs-body" });
  const notice = el("div");
  const live = liveIndicator();
  const level = el("select", { testid: "filter-level", "aria-label": "level" },
    el("option", { value: "", text: "warn and error" }), el("option", { value: "error", text: "error only" }));
  const table = el(
    "table",
    { class: "table table-rows", testid: "logs-table" },
    el("thead", {}, el("tr", {}, ["Time", "Level", "Message", "Request", "Fields"].map((h) => el("th", { text: h })))),
    tbody,
  );
  container.append(
    el("div", { class: "toolbar" }, el("h1", { text: "Logs" }),
      el("div", { class: "controls" }, el("label", { class: "control" }, el("span", { text: "Level" }), level)),
      live.node),
    notice,
    el("div", { class: "table-wrap table-tall" }, table),
  );
  let controller = null;

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    try {
      const data = await getJSON(`/api/ui/logs?limit=${MAX_ROWS}`, { signal: controller.signal });
      const entries = (data.logs || []).filter((entry) => matches(entry, filters));
      replace(tbody, entries.length ? entries.map(row) : emptyRow());
      replace(notice);
    } catch (error) {
      if (error.name !== "AbortError") replace(notice, errorNote(error, "logs-error"));
    }
  }

  function prepend(entry) {
    if (!matches(entry, filters)) return;
    tbody.querySelector(".empty-row")?.remove();
    const fresh = row(entry);
    fresh.classList.add("fresh");
    tbody.prepend(fresh);
    while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
  }

  level.addEventListener("change", () => {
    filters.level = level.value;
    load();
  });
  const unsubscribe = subscribe("log", prepend);
  load();
  return () => {
    unsubscribe();
    live.dispose();
    if (controller) controller.abort();
  };
}

function matches(entry, filters) {
  return !filters.level || entry.level === filters.level;
}

function row(entry) {
  const link = entry.request_id
    ? el("a", { href: `#/requests?id=${encodeURIComponent(entry.request_id)}`, class: "mono",
      title: entry.request_id, testid: "log-request-link", text: shortId(entry.request_id) })
    : "";
  const fields = fmtFields(entry.fields);
  return el(
    "tr",
    { testid: "log-row", data: { level: entry.level } },
    el("td", { class: "nowrap", title: fmtDateTime(entry.time), text: fmtTime(entry.time) }),
    el("td", {}, el("span", { class: `badge level-${entry.level}`, text: entry.level })),
    el("td", { class: "wrap", text: entry.msg }),
    el("td", {}, link),
    el("td", { class: "mono small wrap", title: fields, text: fields }),
  );
}

function emptyRow() {
  return el("tr", { class: "empty-row" }, el("td", { colspan: "5", class: "muted", text: "No warnings or errors." }));
}
