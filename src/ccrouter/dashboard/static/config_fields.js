// Form fields of the Config page. Each input carries data-path (the config path it edits, as the API's errors
// name it) inside a ".field" wrapper, where the review's error for that path is shown.

import { el } from "./format.js";
import { pathText } from "./config_model.js";

/** A labelled wrapper for `input` (label may be empty for table cells). */
export function field(label, input, { wide = false, hint = "" } = {}) {
  return el(
    "label",
    { class: `field${wide ? " field-wide" : ""}` },
    label ? el("span", { class: "field-label", text: label }) : null,
    input,
    hint ? el("span", { class: "field-hint", text: hint }) : null,
  );
}

/** A text input editing `path`; `onValue(text)` runs on every keystroke. */
export function textInput(path, value, onValue, attrs = {}) {
  return el("input", {
    type: "text",
    spellcheck: "false",
    autocomplete: "off",
    ...attrs,
    data: { path: pathText(path) },
    props: { value: value ?? "" },
    on: { input: (event) => onValue(event.target.value) },
  });
}

/** A number input editing `path`; `onValue(number | null)` (null when emptied). */
export function numberInput(path, value, onValue, attrs = {}) {
  return el("input", {
    type: "number",
    step: "any",
    min: "0",
    ...attrs,
    class: `num ${attrs.class || ""}`.trim(),
    data: { path: pathText(path) },
    props: { value: value ?? "" },
    on: {
      input: (event) => {
        const text = event.target.value.trim();
        if (text === "") onValue(null);
        else if (Number.isFinite(Number(text))) onValue(Number(text));
      },
    },
  });
}

/**
 * A select editing `path`: `options` are [value, label] pairs; a current value not among them is added (marked),
 * so the page never hides what the file says.
 */
export function selectInput(path, value, options, onValue, attrs = {}) {
  const known = options.some(([optionValue]) => optionValue === value);
  const all = known || value === undefined || value === null ? options : [[value, `${value} (not offered)`], ...options];
  return el(
    "select",
    { ...attrs, data: { path: pathText(path) }, on: { change: (event) => onValue(event.target.value) } },
    all.map(([optionValue, label]) =>
      el("option", { value: optionValue, text: label, props: { selected: optionValue === (value ?? "") } }),
    ),
  );
}

/** A small button (type=button, never submitting). */
export function button(text, onClick, attrs = {}) {
  return el("button", { type: "button", ...attrs, text, on: { click: onClick } });
}

/** A section card with a title, an optional hint and its content. */
export function section(title, testid, hint, ...content) {
  return el(
    "section",
    { class: "card panel config-section", testid },
    el("h2", { text: title }),
    hint ? el("p", { class: "muted small", text: hint }) : null,
    ...content,
  );
}
