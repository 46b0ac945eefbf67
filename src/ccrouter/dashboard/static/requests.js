// Requests: the recent requests (newest first), live from /api/ui/events, with filters and a detail panel.

import { getJSON, errorNote } from "./api.js";
import { subscribe } from "./live.js";
import { liveIndicator } from "./live_indicator.js";
import { showRequestDetail } from "./request_detail.js";
import {
  el, replace, fmtCount, fmtUsd, fmtMs, fmtTime, fmtDateTime, shortId, targetLabel, statusClass, isErrorStatus,
  debounce,
} from "./format.js";

const MAX_ROWS = 500;
const MAX_FETCH = 1000; // what the server keeps: the user filter is applied here, so it reads all of it
const SERVER_FILTERS = ["session", "route", "status"]; // the ones /api/ui/requests applies itself
const ROUTES = ["default", "background", "think", "longContext", "webSearch", "image", "subagent", "compaction",
  "explicit", "custom"];
const COLUMNS = [
  ["Time", ""], ["Session", ""], ["Route → target", ""], ["Status", ""], ["Attempts", "num"], ["Latency", "num"],
  ["TTFT", "num"], ["In", "num"], ["Out", "num"], ["Cost", "num"],
];

export function mount(container, params) {
  const filters = {
    session: params.get("session") || "", route: params.get("route") || "", user: params.get("user") || "", status: "",
  };
  const tbody = el("tbody", { testid: "requests-body" });
  const count = el("span", { class: "muted small", testid: "requests-count" });
  const notice = el("div");
  const detail = showRequestDetail(container);
  const users = userNames();
  let selected = null;
  let controller = null;

  const table = el(
    "table",
    { class: "table table-rows", testid: "requests-table" },
    el("thead", {}, el("tr", {}, COLUMNS.map(([title, cls]) => el("th", { class: cls, text: title })))),
    tbody,
  );
  const reload = debounce(load, 250);
  const live = liveIndicator();
  container.append(
    el("div", { class: "toolbar" }, el("h1", { text: "Requests" }), filterControls(filters, users.list, reload),
      live.node, count),
    notice,
    el("div", { class: "table-wrap table-tall" }, table),
  );

  tbody.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-request-id]");
    if (row) select(row.dataset.requestId);
  });
  tbody.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-request-id]");
    if (row && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      select(row.dataset.requestId);
    }
  });

  function select(requestId) {
    selected = requestId;
    for (const row of tbody.rows) row.classList.toggle("selected", row.dataset.requestId === requestId);
    detail.open(requestId);
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const query = new URLSearchParams({ limit: String(filters.user ? MAX_FETCH : MAX_ROWS) });
    for (const key of SERVER_FILTERS) if (filters[key]) query.set(key, filters[key]);
    try {
      const data = await getJSON(`/api/ui/requests?${query}`, { signal: controller.signal });
      users.note(data.requests || []);
      const rows = (data.requests || []).filter((r) => matches(r, filters)).slice(0, MAX_ROWS);
      replace(tbody, rows.map((r) => row(r, r.request_id === selected)));
      replace(notice);
      updateCount();
    } catch (error) {
      if (error.name !== "AbortError") replace(notice, errorNote(error, "requests-error"));
    }
  }

  function prepend(summary) {
    users.note([summary]);
    if (!matches(summary, filters) || tbody.querySelector(`tr[data-request-id="${CSS.escape(summary.request_id)}"]`)) {
      return;
    }
    tbody.querySelector(".empty-row")?.remove();
    const fresh = row(summary, false);
    fresh.classList.add("fresh");
    tbody.prepend(fresh);
    while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
    updateCount();
  }

  function updateCount() {
    const n = tbody.querySelectorAll("tr[data-request-id]").length;
    count.textContent = n ? `${n} shown (newest first)` : "";
    if (!n) tbody.append(emptyRow());
  }

  const unsubscribe = subscribe("request", prepend);
  load();
  if (params.get("id")) select(params.get("id"));
  return () => {
    unsubscribe();
    live.dispose();
    if (controller) controller.abort();
    detail.close();
  };
}

/** The user names seen in the requests, offered by the user filter: {list (a datalist), note(summaries)}. */
function userNames() {
  const list = el("datalist", { id: "user-names" });
  const seen = new Set();
  return {
    list,
    note(summaries) {
      for (const { user } of summaries) {
        if (user && !seen.has(user)) {
          seen.add(user);
          list.append(el("option", { value: user }));
        }
      }
    },
  };
}

function filterControls(filters, userList, onChange) {
  const update = (key) => (event) => {
    filters[key] = event.target.value.trim();
    onChange();
  };
  const routes = el("datalist", { id: "route-names" }, ROUTES.map((name) => el("option", { value: name })));
  return el(
    "div",
    { class: "controls" },
    el("label", { class: "control" }, el("span", { text: "Session" }),
      el("input", { type: "search", placeholder: "id or its start", value: filters.session, testid: "filter-session",
        on: { input: update("session") } })),
    el("label", { class: "control" }, el("span", { text: "Route" }),
      el("input", { type: "search", list: "route-names", placeholder: "any", value: filters.route, size: 12,
        testid: "filter-route", on: { input: update("route") } }), routes),
    el("label", { class: "control" }, el("span", { text: "User" }),
      el("input", { type: "search", list: "user-names", placeholder: "any", value: filters.user, size: 10,
        testid: "filter-user", on: { input: update("user") } }), userList),
    el("label", { class: "control" }, el("span", { text: "Status" }),
      el("select", { testid: "filter-status", on: { change: update("status") } },
        el("option", { value: "", text: "any" }), el("option", { value: "ok", text: "ok" }),
        el("option", { value: "error", text: "error" }))),
  );
}

/** Whether a request summary passes the filters (the same rule for loaded and live rows). */
export function matches(r, filters) {
  if (filters.session && !(r.session_id || "").toLowerCase().includes(filters.session.toLowerCase())) return false;
  if (filters.route) {
    const scenario = (r.scenario || "").toLowerCase();
    const route = filters.route.toLowerCase();
    if (scenario !== route && !scenario.startsWith(`${route}:`)) return false;
  }
  if (filters.user && (r.user || "").toLowerCase() !== filters.user.toLowerCase()) return false;
  if (filters.status === "ok" && isErrorStatus(r.status)) return false;
  if (filters.status === "error" && !isErrorStatus(r.status)) return false;
  return true;
}

function attemptCount(r) {
  return Array.isArray(r.attempts) ? r.attempts.length : r.attempts;
}

function row(r, isSelected) {
  const target = targetLabel(r.provider, r.model);
  return el(
    "tr",
    { class: isSelected ? "selected" : "", testid: "request-row", data: { requestId: r.request_id }, tabindex: "0",
      title: r.error || "" },
    el("td", { class: "nowrap", title: fmtDateTime(r.time), text: fmtTime(r.time) },
      r.instance ? el("span", { class: "instance", testid: "request-instance", text: r.instance }) : null),
    el("td", { class: "mono", title: r.session_id || "", text: shortId(r.session_id) },
      r.user ? el("span", { class: "user-label", testid: "request-user", title: `user ${r.user}`, text: r.user })
        : null),
    el("td", { class: "clip" }, el("span", { class: "route", text: r.scenario || "—" }), " → ", target),
    el("td", {}, el("span", { class: `badge ${statusClass(r.status)}`, text: String(r.status) })),
    el("td", { class: `num${attemptCount(r) > 1 ? " text-warn" : ""}`, text: String(attemptCount(r) ?? "—") }),
    el("td", { class: "num", text: fmtMs(r.latency_ms) }),
    el("td", { class: "num", text: fmtMs(r.ttft_ms) }),
    el("td", { class: "num", title: String(r.input_tokens ?? ""), text: fmtCount(r.input_tokens) }),
    el("td", { class: "num", title: String(r.output_tokens ?? ""), text: fmtCount(r.output_tokens) }),
    el("td", { class: `num${r.cost_usd === null ? " muted" : ""}`, text: fmtUsd(r.cost_usd) }),
  );
}

function emptyRow() {
  return el("tr", { class: "empty-row" },
    el("td", { colspan: String(COLUMNS.length), class: "muted", text: "No requests match (yet)." }));
}
