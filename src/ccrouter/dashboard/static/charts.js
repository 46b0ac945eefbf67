// Time charts over the vendored uPlot (loaded by index.html as the global `uPlot`): one line per group, a legend,
// colours that follow the light or dark theme, and a width that follows the container.

import { el, fmtDateTime } from "./format.js";

const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const OTHER_COLOR = "#8b8f98";
const HEIGHT = 210;
const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6,
  1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9];

/** The colour of group `index` (the "other" group is always grey). */
export function groupColor(name, index) {
  return name === "other" ? OTHER_COLOR : PALETTE[index % PALETTE.length];
}

function themeColors() {
  const style = getComputedStyle(document.documentElement);
  return {
    text: style.getPropertyValue("--fg-muted").trim() || "#555",
    grid: style.getPropertyValue("--grid").trim() || "#e5e7eb",
  };
}

/**
 * A chart card in `parent`: `times` (unix s), `groups` (names), `values` ({group: [number per time]}),
 * `format` (number → text, for the legend), `axisFormat` (for the y axis). Returns {destroy()}.
 */
export function timeChart(parent, { title, times, groups, values, format, axisFormat = format, integer = false, testid }) {
  const body = el("div", { class: "chart-body" });
  const card = el("figure", { class: "card chart", testid }, el("figcaption", { text: title }), body);
  parent.append(card);
  if (typeof window.uPlot !== "function") {
    body.append(el("p", { class: "muted", text: "The chart library did not load; reload the page." }));
    return { destroy: () => card.remove() };
  }
  const colors = themeColors();
  // The last bucket is drawn to its end by repeating it one bucket later; the cursor never lands on that copy.
  const last = times.length - 1;
  const padded = last >= 0 ? [...times, times[last] + bucketSeconds(times)] : times;
  const columns = groups.map((group) => {
    const column = values?.[group] ?? times.map(() => 0);
    return last >= 0 ? [...column, column[last] ?? 0] : column;
  });
  const data = [padded, ...columns];
  // A bucket's value holds from its start to the next bucket: steps, not slopes between points.
  const steps = window.uPlot.paths?.stepped ? window.uPlot.paths.stepped({ align: 1 }) : undefined;
  const options = {
    width: Math.max(body.clientWidth, 240),
    height: HEIGHT,
    scales: { x: { time: true } },
    cursor: { points: { size: 6 }, dataIdx: (u, seriesIndex, closest) => Math.min(closest, Math.max(last, 0)) },
    legend: { live: true },
    series: [
      { label: "time", value: (u, v) => (v === null || v === undefined ? "—" : fmtDateTime(v).slice(0, 16)) },
      ...groups.map((group, index) => ({
        label: group,
        stroke: groupColor(group, index),
        width: 1.5,
        paths: steps,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "—" : format(v)),
      })),
    ],
    axes: [
      { stroke: colors.text, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1 } },
      {
        stroke: colors.text,
        // wide enough for the longest label ("$0.00015"): a fixed width cut the dollar sign off small amounts
        size: (u, labels) => Math.max(44, 16 + 8 * Math.max(0, ...(labels || []).map((text) => String(text).length))),
        grid: { stroke: colors.grid, width: 1 },
        ticks: { stroke: colors.grid, width: 1 },
        values: (u, splits) => splits.map((v) => axisFormat(v)),
        ...(integer ? { incrs: INTEGER_STEPS } : {}),  // counts: ticks at whole numbers, never "2, 2, 1, 1, 0"
      },
    ],
  };
  const plot = new window.uPlot(options, data, body);
  const resize = new ResizeObserver(() => {
    const width = Math.max(body.clientWidth, 240);
    if (Math.abs(width - plot.width) > 1) plot.setSize({ width, height: HEIGHT });
  });
  resize.observe(body);
  return {
    destroy() {
      resize.disconnect();
      plot.destroy();
      card.remove();
    },
  };
}

function bucketSeconds(times) {
  return times.length > 1 ? times[times.length - 1] - times[times.length - 2] : 3600;
}
