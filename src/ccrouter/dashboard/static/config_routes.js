// Config → Routes: one row per route name with its target ("provider,model" from the providers' models, or not
// set) and its fallback list (`fallback.<route>`).

import { el } from "./format.js";
import { selectInput, button, section } from "./config_fields.js";
import { pathText, targetChoices } from "./config_model.js";

const NOT_SET = "";

export function renderRoutes(ctx) {
  const doc = ctx.pending.doc;
  const choices = targetChoices(doc);
  const names = ctx.pending.view.route_names || [];
  const body = el("tbody", {}, names.map((name) => routeRow(ctx, name, choices)));
  const table = el(
    "table",
    { class: "table table-form", testid: "config-routes" },
    el("thead", {}, el("tr", {}, ["Route", "Target", "Fallbacks (tried in order when the target fails)"]
      .map((title) => el("th", { text: title })))),
    body,
  );
  return section("Routes", "config-routes-section",
    "Which provider,model serves each kind of request. Choices come from the providers' models above.",
    el("div", { class: "table-wrap" }, table));
}

function routeRow(ctx, name, choices) {
  const current = ctx.pending.doc.Router?.[name];
  const listForm = Array.isArray(current);
  const target = listForm ? current[0] : current;
  const path = listForm ? ["Router", name, 0] : ["Router", name];
  const options = [[NOT_SET, "(not set)"], ...choices.map((choice) => [choice, choice])];
  const onValue = (value) => {
    if (value === NOT_SET) ctx.commit({ path: ["Router", name], delete: true }, ["routes"]);
    else ctx.commit({ path, value });
  };
  const select = selectInput(path, typeof target === "string" ? target : NOT_SET, options, onValue, {
    testid: "route-target", "aria-label": `${name} target`,
  });
  select.dataset.route = name;
  const listNote = listForm && current.length > 1
    ? el("span", { class: "field-hint", text: `then (list form): ${current.slice(1).join(", ")}` })
    : null;
  return el(
    "tr",
    { data: { route: name } },
    el("th", { scope: "row", class: "mono", text: name }),
    // the list form's select edits Router.<name>[0]; its wrapper takes errors about the whole list
    el("td", {}, el("div", { class: "field", data: listForm ? { path: pathText(["Router", name]) } : {} }, select,
      listNote)),
    el("td", {}, fallbackEditor(ctx, name, choices)),
  );
}

function fallbackEditor(ctx, route, choices) {
  const path = ["fallback", route];
  const current = () => {
    const found = ctx.pending.doc.fallback?.[route];
    return Array.isArray(found) ? [...found] : [];
  };
  const list = current();
  const write = (next, refresh = ["routes"]) => {
    if (next.length) ctx.commit({ path, value: next }, refresh);
    else ctx.commit({ path, delete: true }, refresh);
  };
  const options = choices.map((choice) => [choice, choice]);
  const items = list.map((target, index) => el(
    "li",
    { class: "field" },
    selectInput([...path, index], target, options, (value) => write(current().map((t, i) => (i === index ? value : t)), []), {
      testid: "fallback-target", "aria-label": `${route} fallback ${index + 1}`,
    }),
    button("✕", () => write(current().filter((_, i) => i !== index)), {
      class: "button-plain", "aria-label": `Remove fallback ${target}`, testid: "fallback-remove",
    }),
  ));
  const unused = choices.find((choice) => !list.includes(choice));
  const add = unused
    ? button("+ fallback", () => write([...list, unused]), { class: "button-small", testid: "fallback-add" })
    : null;
  return el("div", { class: "field fallbacks", data: { path: pathText(path), route } },
    el("ol", { class: "fallback-list" }, items), add);
}
