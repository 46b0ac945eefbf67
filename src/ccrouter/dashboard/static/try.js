// Try: send one prompt through a route or a provider,model and watch the answer stream in, then its summary.
// The stream is read with fetch + ReadableStream: EventSource cannot POST.

import { getJSON, postEvents, errorNote, ApiError } from "./api.js";
import { el, replace, fmtCount, fmtUsd, fmtMs, targetLabel, statusClass, NONE } from "./format.js";

const MAX_PROMPT = 20000;
const state = { target: "default", prompt: "Say hello in one short sentence." }; // kept while the tab lives

export function mount(container) {
  const target = el("select", { testid: "try-target", "aria-label": "target" });
  const prompt = el("textarea", { rows: "5", maxlength: String(MAX_PROMPT), testid: "try-prompt",
    "aria-label": "prompt", props: { value: state.prompt } });
  const send = el("button", { type: "submit", class: "button-primary", testid: "try-send", text: "Send" });
  const stop = el("button", { type: "button", testid: "try-stop", text: "Stop", hidden: true });
  const targetNote = el("div");
  const output = el("div", { class: "try-output", testid: "try-output" });
  const form = el(
    "form",
    { class: "card try-form", testid: "try-form" },
    el("label", { class: "control" }, el("span", { text: "Target" }), target),
    targetNote,
    el("label", { class: "control control-block" }, el("span", { text: "Prompt" }), prompt),
    el("div", { class: "actions" }, send, stop,
      el("span", { class: "muted small", text: "Goes through routing, fallbacks, the ledger and budgets like any request." })),
  );
  container.append(el("div", { class: "toolbar" }, el("h1", { text: "Try a route" })), form, output);
  let controller = null;

  target.addEventListener("change", () => (state.target = target.value));
  prompt.addEventListener("input", () => (state.prompt = prompt.value));
  stop.addEventListener("click", () => controller?.abort());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (controller) return;
    controller = new AbortController();
    send.disabled = true;
    stop.hidden = false;
    try {
      await run({ target: target.value, prompt: prompt.value }, output, controller.signal);
    } finally {
      controller = null;
      send.disabled = false;
      stop.hidden = true;
    }
  });

  loadTargets(target, targetNote);
  return () => controller?.abort();
}

async function loadTargets(select, note) {
  try {
    const config = await getJSON("/api/ui/config");
    const routes = (config.route_names || []).filter((name) => config.Router?.[name]);
    const models = (config.providers || []).flatMap((p) => (p.models || []).map((m) => `${p.name},${m}`));
    replace(
      select,
      el("optgroup", { label: "Routes" }, routes.map((name) => el("option", { value: name, text: name }))),
      el("optgroup", { label: "Provider, model" }, models.map((value) => el("option", { value, text: value }))),
    );
    if ([...routes, ...models].includes(state.target)) select.value = state.target;
    else state.target = select.value;
  } catch (error) {
    replace(note, errorNote(error, "try-targets-error"));
  }
}

/** Send one try and render its stream into `output`. */
async function run(body, output, signal) {
  const view = answerView();
  replace(output, view.node);
  try {
    for await (const { event, data } of postEvents("/api/ui/try", body, { signal })) {
      handleEvent(view, event, data);
    }
    if (!view.summarised) view.error(new ApiError(0, "api_error", "The stream ended without a summary."));
  } catch (error) {
    if (error.name === "AbortError") view.stopped();
    else view.error(error);
  }
}

function handleEvent(view, event, data) {
  if (event === "content_block_delta") {
    const delta = data?.delta || {};
    if (delta.type === "text_delta") view.text(delta.text || "");
    else if (delta.type === "thinking_delta") view.thinking(delta.thinking || "");
  } else if (event === "error") {
    const error = data?.error || {};
    view.error(new ApiError(0, error.type || "api_error", error.message || "The provider sent an error."));
  } else if (event === "ccr-summary") {
    view.summary(data || {});
  }
}

function answerView() {
  const thinkingText = el("div", { class: "thinking-text", testid: "try-thinking-text" });
  const thinking = el("details", { class: "thinking", testid: "try-thinking", open: true, hidden: true },
    el("summary", { text: "Thinking" }), thinkingText);
  const text = el("div", { class: "answer-text", testid: "try-text" });
  const status = el("p", { class: "muted small", testid: "try-status", text: "Waiting for the first token…" });
  const errors = el("div");
  const summaryBox = el("div");
  const node = el("div", { class: "card answer" }, status, thinking, text, errors, summaryBox);
  const view = {
    node,
    summarised: false,
    thinking(chunk) {
      thinking.hidden = false;
      thinkingText.append(chunk);
      status.textContent = "Thinking…";
    },
    text(chunk) {
      text.append(chunk);
      status.textContent = "Streaming…";
    },
    shown: new Set(), // error messages already on screen
    error(error) {
      if (view.shown.has(error.message)) return;
      view.shown.add(error.message);
      errors.append(errorNote(error, "try-error"));
      status.textContent = "Failed.";
    },
    stopped() {
      status.textContent = "Stopped: the request was cancelled.";
    },
    summary(data) {
      view.summarised = true;
      replace(summaryBox, summaryTable(data));
      // the stream's own error event, when there was one, already says it (the summary's is the record's wording)
      if (data.error && !view.shown.size) view.error(new ApiError(0, "api_error", data.error));
      status.textContent = data.error ? "Finished with an error." : "Done.";
    },
  };
  return view;
}

function summaryTable(s) {
  const rows = [
    ["Served by", targetLabel(s.provider, s.model)],
    ["Route", s.scenario || NONE],
    ["Status", el("span", { class: `badge ${statusClass(s.status)}`, text: String(s.status ?? NONE) })],
    ["Latency", fmtMs(s.latency_ms)],
    ["Time to first token", fmtMs(s.ttft_ms)],
    ["Tokens in / out", `${fmtCount(s.input_tokens)} / ${fmtCount(s.output_tokens)}`],
    ["Cost", fmtUsd(s.cost_usd)],
    ["Request", s.request_id
      ? el("a", { href: `#/requests?id=${encodeURIComponent(s.request_id)}`, class: "mono", text: s.request_id })
      : NONE],
  ];
  return el("dl", { class: "fields fields-inline", testid: "try-summary" },
    rows.map(([label, value]) => [el("dt", { text: label }), el("dd", {}, value)]));
}
