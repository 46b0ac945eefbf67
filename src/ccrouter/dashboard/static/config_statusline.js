// Config → StatusLine: enabled, the style, and a live preview from POST /api/ui/statusline-preview.

import { postJSON, errorNote } from "./api.js";
import { el, replace, debounce } from "./format.js";
import { field, selectInput, section } from "./config_fields.js";
import { pathText } from "./config_model.js";

const STYLES = [["default", "default"], ["powerline", "powerline"]];

// CCR's colour names (xterm's 16) → CSS colours, for the preview; "#rrggbb" passes through.
const NAMED = {
  black: "#000000", red: "#cd3131", green: "#0dbc79", yellow: "#e5e510", blue: "#2472c8", magenta: "#bc3fbc",
  cyan: "#11a8cd", white: "#e5e5e5", bright_black: "#666666", bright_red: "#f14c4c", bright_green: "#23d18b",
  bright_yellow: "#f5f543", bright_blue: "#3b8eea", bright_magenta: "#d670d6", bright_cyan: "#29b8db",
  bright_white: "#ffffff",
};

/** A CCR colour ("bright_blue", "bg_blue", "#aabbcc", "bg_#aabbcc") → a CSS colour, or "" when unknown. */
export function cssColor(name) {
  if (typeof name !== "string") return "";
  const bare = name.replace(/^bg_/, "");
  if (/^#[0-9a-fA-F]{6}$/.test(bare)) return bare;
  return NAMED[bare] || "";
}

export function renderStatusLine(ctx) {
  const status = ctx.pending.doc.StatusLine;
  const current = status && typeof status === "object" ? status : {};
  const preview = el("div", { class: "statusline-preview", testid: "statusline-preview", "aria-live": "polite" });
  const problem = el("div");
  const refresh = debounce(() => showPreview(ctx, preview, problem), 250);
  const commit = (change) => {
    ctx.commit(change);
    refresh();
  };
  const enabledPath = ["StatusLine", "enabled"];
  const enabled = el("input", {
    type: "checkbox", testid: "statusline-enabled", data: { path: pathText(enabledPath) },
    props: { checked: current.enabled === true },
    on: { change: (event) => commit({ path: enabledPath, value: event.target.checked }) },
  });
  const stylePath = ["StatusLine", "currentStyle"];
  const style = selectInput(stylePath, current.currentStyle ?? "default", STYLES,
    (value) => commit({ path: stylePath, value }), { testid: "statusline-style", "aria-label": "style" });
  refresh();
  return section(
    "StatusLine",
    "config-statusline-section",
    "The line `ccr statusline` prints under Claude Code's prompt (set statusLine in Claude Code's settings).",
    el("div", { class: "inline-fields" },
      el("label", { class: "field field-check" }, enabled, el("span", { text: "enabled" })),
      field("Style", style)),
    el("div", { class: "field-label", text: "Preview" }),
    preview,
    problem,
  );
}

async function showPreview(ctx, preview, problem) {
  if (!preview.isConnected) return;
  try {
    const status = ctx.pending.doc.StatusLine;
    const answer = await postJSON("/api/ui/statusline-preview", { StatusLine: status ?? {} });
    replace(problem);
    const segments = Array.isArray(answer.segments) ? answer.segments : [];
    if (!segments.length && !answer.line) {
      replace(preview, el("span", { class: "muted", text: "(nothing: the status line is off)" }));
      return;
    }
    replace(preview, segments.length ? segments.map(segment) : answer.line);
    preview.title = answer.line || "";
  } catch (error) {
    replace(problem, errorNote(error, "statusline-preview-error"));
  }
}

function segment(s) {
  const span = el("span", { class: "segment", text: s.text });
  const fg = cssColor(s.fg);
  const bg = cssColor(s.bg);
  if (fg) span.style.color = fg;
  if (bg) {
    span.style.backgroundColor = bg;
    span.classList.add("segment-bg");
  }
  return span;
}
