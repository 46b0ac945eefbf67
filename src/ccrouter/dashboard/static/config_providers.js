// Config → Providers: one card per provider (name, base URL, key state + a write-only key field, models,
// transformer `use` list), a delete button, and "Add provider" from a template or blank.

import { el, replace } from "./format.js";
import { field, textInput, button, section } from "./config_fields.js";
import { pathText } from "./config_model.js";

const DEPENDENTS = ["routes", "prices", "budgets"]; // sections whose choices come from providers' names and models
const ALL = ["providers", ...DEPENDENTS];

export function renderProviders(ctx) {
  const providers = ctx.pending.doc.Providers || [];
  return section(
    "Providers",
    "config-providers",
    "Where requests go. A key is never shown: type a new one (or $VARIABLE) to replace it.",
    el("div", { class: "provider-grid" }, providers.map((_, index) => providerCard(ctx, index))),
    addProvider(ctx),
  );
}

function providerCard(ctx, index) {
  const base = ["Providers", index];
  const provider = () => ctx.pending.doc.Providers[index];
  const p = provider();
  const set = (key, refresh = []) => (value) => ctx.commit({ path: [...base, key], value }, refresh);
  return el(
    "article",
    { class: "provider card-inner field", testid: "provider-card", data: { path: pathText(base), provider: p.name } },
    el(
      "div",
      { class: "provider-head" },
      field("Name", textInput([...base, "name"], p.name, set("name", DEPENDENTS), { testid: "provider-name" })),
      button("Delete", () => ctx.commit({ path: base, delete: true }, ALL), {
        class: "button-danger", testid: "provider-delete", title: `Remove ${p.name} from Providers`,
      }),
    ),
    field("Base URL", textInput([...base, "api_base_url"], p.api_base_url, set("api_base_url"), {
      testid: "provider-url", placeholder: "https://…/chat/completions",
    }), { wide: true }),
    keyField(ctx, base, p.api_key),
    modelsField(ctx, base, provider),
    transformerField(ctx, base, provider),
  );
}

function keyStateText(state) {
  const pending = state?.pending ? " (new, not saved yet)" : "";
  if (state?.kind === "variable") return `key: $${state.variable}${pending}`;
  if (state?.kind === "written") return `key written in the file${pending}`;
  return `no key${pending}`;
}

function keyField(ctx, base, state) {
  const path = [...base, "api_key"];
  const input = el("input", {
    type: "password", autocomplete: "new-password", spellcheck: "false", placeholder: "new key, or $VARIABLE",
    testid: "provider-key-input", data: { path: pathText(path) },
  });
  input.addEventListener("change", () => {
    const value = input.value.trim();
    input.value = ""; // the key leaves the page with the next save; it never stays in the DOM
    if (value) ctx.commit({ path, value }, ["providers"]);
  });
  const remove = state && state.kind !== "none"
    ? button("Remove key", () => ctx.commit({ path, delete: true }, ["providers"]), {
      class: "button-small", testid: "provider-key-remove" })
    : null;
  return el(
    "label",
    { class: "field field-wide" },
    el("span", { class: "field-label" }, "API key ", el("span", { class: "key-state", testid: "provider-key-state",
      data: { kind: state?.kind || "none" }, text: keyStateText(state) })),
    el("span", { class: "inline" }, input, remove),
  );
}

function modelsField(ctx, base, provider) {
  const path = [...base, "models"];
  const models = provider().models;
  const list = Array.isArray(models) ? models : [];
  const adder = el("input", { type: "text", placeholder: "add a model", spellcheck: "false", testid: "model-add-input" });
  const add = () => {
    const name = adder.value.trim();
    if (!name) return;
    const change = Array.isArray(provider().models) ? { path, append: name } : { path, value: [name] };
    ctx.commit(change, ["providers", "routes", "prices", "budgets"]);
  };
  adder.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      add();
    }
  });
  return el(
    "div",
    { class: "field field-wide models", data: { path: pathText(path) }, testid: "provider-models" },
    el("span", { class: "field-label", text: `Models (${list.length})` }),
    el("ul", { class: "model-list" }, list.map((model, j) => el(
      "li",
      {},
      textInput([...path, j], model, (value) => ctx.commit({ path: [...path, j], value }, DEPENDENTS), {
        testid: "model-input", "aria-label": "model",
      }),
      button("✕", () => ctx.commit({ path: [...path, j], delete: true }, ["providers", ...DEPENDENTS]), {
        class: "button-plain", title: `Remove ${model}`, "aria-label": `Remove ${model}`, testid: "model-remove",
      }),
    ))),
    el("span", { class: "inline" }, adder, button("Add", add, { class: "button-small", testid: "model-add" })),
  );
}

function transformerField(ctx, base, provider) {
  const transformer = provider().transformer;
  const path = [...base, "transformer", "use"];
  const known = ctx.pending.view.transformer_names || [];
  const hint = known.length ? `JSON list; known: ${known.join(", ")}` : "JSON list";
  if (transformer !== undefined && transformer !== null && (typeof transformer !== "object" || Array.isArray(transformer))) {
    return field("Transformer", el("code", { class: "readonly", text: JSON.stringify(transformer) }), {
      wide: true, hint: "Written in a form this page does not edit; change it in the file.",
    });
  }
  const problem = el("span", { class: "field-problem", role: "alert" });
  const onValue = (text) => {
    replace(problem);
    if (!text.trim()) {
      if (provider().transformer && "use" in provider().transformer) ctx.commit({ path, delete: true });
      return;
    }
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      value = error;
    }
    if (!Array.isArray(value)) {
      problem.textContent = 'Not a JSON list yet: write it like ["openrouter"] or ["deepseek", ["maxtoken", {"max_tokens": 8192}]].';
      return;
    }
    ctx.commit({ path, value });
  };
  const use = transformer?.use;
  const input = textInput(path, use === undefined ? "" : JSON.stringify(use), onValue, {
    testid: "provider-transformer", placeholder: 'none; e.g. ["openrouter"]', class: "mono",
  });
  const perModel = Object.entries(transformer || {}).filter(([key]) => key !== "use");
  const others = perModel.length
    ? el("span", { class: "field-hint mono", text: `per model: ${perModel.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join("; ")}` })
    : null;
  return el("label", { class: "field field-wide" }, el("span", { class: "field-label", text: "Transformer use" }),
    input, problem, others, el("span", { class: "field-hint", text: hint }));
}

function addProvider(ctx) {
  const templates = ctx.pending.view.templates || [];
  const choice = el("select", { testid: "provider-template", "aria-label": "template" },
    el("option", { value: "", text: "blank" }),
    templates.map((t, i) => el("option", { value: String(i), text: `${t.name} (${t.api_base_url})` })));
  const name = el("input", { type: "text", placeholder: "name (optional with a template)", spellcheck: "false",
    testid: "provider-new-name" });
  const problem = el("span", { class: "field-problem", role: "alert" });
  const add = () => {
    const template = choice.value === "" ? null : templates[Number(choice.value)];
    const provider = template ? structuredClone(template) : { name: "", api_base_url: "", models: [] };
    if (name.value.trim()) provider.name = name.value.trim();
    if (!provider.name) {
      problem.textContent = "Give the new provider a name.";
      return;
    }
    const providers = ctx.pending.doc.Providers;
    const change = Array.isArray(providers)
      ? { path: ["Providers"], append: provider }
      : { path: ["Providers"], value: [provider] };
    ctx.commit(change, ALL);
  };
  return el("div", { class: "add-row" },
    el("strong", { text: "Add provider" }),
    field("From", choice), field("Name", name),
    button("Add provider", add, { class: "button-small", testid: "provider-add" }), problem);
}
