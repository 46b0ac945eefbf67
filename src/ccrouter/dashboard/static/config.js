// Config: edit the config file's Providers, Routes, Prices, Budgets and StatusLine. Every edit is a Change in a
// pending list; "Review changes" asks the service to check them (errors next to their fields, the diff);
// "Save" writes them with the version loaded (409 when the file changed meanwhile).

import { getJSON, postJSON, putJSON, errorNote, ApiError } from "./api.js";
import { el, replace } from "./format.js";
import { button } from "./config_fields.js";
import { Pending, describe, pathTokens } from "./config_model.js";
import { renderProviders } from "./config_providers.js";
import { renderRoutes } from "./config_routes.js";
import { renderPrices, renderBudgets } from "./config_tables.js";
import { renderStatusLine } from "./config_statusline.js";

const SECTIONS = {
  providers: renderProviders, routes: renderRoutes, prices: renderPrices, budgets: renderBudgets,
  statusline: renderStatusLine,
};

let session = null; // {pending: Pending}; kept while the tab lives, so other pages can be visited mid-edit

export function mount(container) {
  const path = el("span", { class: "muted small mono", testid: "config-path" });
  const messages = el("div", { class: "messages", testid: "config-messages" });
  const slots = Object.fromEntries(Object.keys(SECTIONS).map((name) => [name, el("div", { data: { section: name } })]));
  const changes = el("div");
  const panel = el("aside", { class: "card panel changes", testid: "config-changes" }, messages, changes);
  const reloadButton = button("Reload config", () => load(), { testid: "config-reload",
    title: "Read the file again (pending changes are dropped)" });
  container.append(
    el("div", { class: "toolbar" }, el("h1", { text: "Config" }), path, reloadButton),
    el("div", { class: "config-layout" }, el("div", { class: "config-sections" }, Object.values(slots)), panel),
  );

  const ctx = {
    get pending() {
      return session.pending;
    },
    commit(change, refresh = []) {
      try {
        session.pending.add(change);
      } catch (error) {
        show(errorNote(new ApiError(0, "page_error", `That edit does not fit the config loaded (${error.message}); ` +
          "reload the config and make it again."), "config-error"));
        renderAll();
        return;
      }
      clearReview();
      for (const name of refresh) renderSection(name);
      renderChanges();
    },
  };

  function show(...nodes) {
    replace(messages, ...nodes);
    if (nodes.length) panel.scrollIntoView({ block: "nearest" });
  }

  function renderSection(name) {
    replace(slots[name], SECTIONS[name](ctx));
  }

  function renderAll() {
    path.textContent = session.pending.view.path || "";
    for (const name of Object.keys(SECTIONS)) renderSection(name);
    renderChanges();
  }

  async function load(keepMessages = false) {
    reloadButton.disabled = true;
    try {
      const view = await getJSON("/api/ui/config");
      session = { pending: new Pending(view) };
      if (!keepMessages) show();
      renderAll();
    } catch (error) {
      show(errorNote(error, "config-error"));
    } finally {
      reloadButton.disabled = false;
    }
  }

  let review = null; // {errors, diff, ok} of the last check, until the next edit

  function clearReview() {
    review = null;
    for (const note of container.querySelectorAll(".field-error")) note.remove();
    for (const node of container.querySelectorAll(".has-error")) node.classList.remove("has-error");
  }

  function body() {
    return { version: session.pending.version, changes: session.pending.changes };
  }

  async function check() {
    busy();
    try {
      const result = await postJSON("/api/ui/config/check", body());
      clearReview();
      review = { ok: Boolean(result.ok), errors: result.errors || [], diff: result.diff || "" };
      show();
    } catch (error) {
      failed(error);
    } finally {
      renderChanges();
      placeErrors(review?.errors || []);
    }
  }

  async function save() {
    busy();
    try {
      const saved = await putJSON("/api/ui/config", body());
      await load(true);
      show(savedNote(saved));
    } catch (error) {
      failed(error);
    } finally {
      renderChanges();
      placeErrors(review?.errors || []);
    }
  }

  function failed(error) {
    if (error instanceof ApiError && error.status === 409) {
      show(el("div", { class: "note note-conflict", role: "alert", testid: "config-conflict" },
        el("strong", { text: "Not saved: the config changed. " }), error.message, " ",
        button("Reload config", () => load(), { class: "button-primary", testid: "config-conflict-reload" })));
    } else if (error instanceof ApiError && error.errors.length) {
      clearReview();
      review = { ok: false, errors: error.errors, diff: "" };
      show(errorNote(error, "config-error"));
    } else {
      show(errorNote(error, "config-error"));
    }
  }

  /** Disable the panel's buttons while a request is out; renderChanges() draws them anew afterwards. */
  function busy() {
    for (const node of changes.querySelectorAll("button")) node.disabled = true;
  }

  function renderChanges() {
    const pending = session.pending;
    const count = pending.size;
    const items = pending.changes.map((change, index) => el(
      "li",
      { testid: "config-pending-item" },
      el("span", { class: "mono", text: describe(change) }),
      button("✕", () => {
        const dropped = pending.remove(index);
        clearReview();
        renderAll();
        if (dropped) show(el("div", { class: "note note-info", text: `${dropped} later change(s) no longer fit and were dropped.` }));
      }, { class: "button-plain", "aria-label": "Undo this change", testid: "config-pending-remove" }),
    ));
    replace(
      changes,
      el("h2", { text: count ? `Pending changes (${count})` : "No pending changes" }),
      count ? el("ol", { class: "pending-list", testid: "config-pending" }, items)
        : el("p", { class: "muted small", text: "Edit a field: each edit is listed here until you save." }),
      el("div", { class: "actions" },
        button("Review changes", check, { testid: "config-review", disabled: !count }),
        button("Save", save, { class: "button-primary", testid: "config-save", disabled: !count }),
        button("Discard", () => {
          session = { pending: new Pending(session.pending.view) };
          clearReview();
          show();
          renderAll();
        }, { testid: "config-discard", disabled: !count })),
      reviewNodes(),
    );
  }

  function reviewNodes() {
    if (!review) return null;
    const status = review.ok
      ? el("div", { class: "note note-ok", testid: "config-check-ok", text: "The changed config loads. Save to write it." })
      : el("div", { class: "note note-error", testid: "config-check-failed",
        text: `${review.errors.length} problem(s): fix them, then review again.` });
    return [status, el("div", { testid: "config-errors-slot" }), diffView(review.diff)];
  }

  /** Show each error next to the field whose path is the longest prefix of the error's path. */
  function placeErrors(errors) {
    const unplaced = [];
    const fields = [...container.querySelectorAll("[data-path]")].map((node) => ({
      node, tokens: pathTokens(node.dataset.path).map((t) => t.toLowerCase()),
    }));
    for (const error of errors) {
      const tokens = pathTokens(error.path).map((t) => t.toLowerCase());
      const best = fields
        .filter((f) => f.tokens.length <= tokens.length && f.tokens.every((t, i) => t === tokens[i]))
        .sort((a, b) => b.tokens.length - a.tokens.length)[0];
      if (best) attachError(best.node, error);
      else unplaced.push(error);
    }
    const slot = changes.querySelector("[data-testid=config-errors-slot]");
    if (slot && unplaced.length) {
      replace(slot, el("ul", { class: "error-list", testid: "config-errors" }, unplaced.map((error) =>
        el("li", {}, el("code", { text: error.path || "(config)" }), " ", error.message))));
    }
  }

  function attachError(node, error) {
    let holder = node.closest(".field") || node;
    if (holder.tagName === "TR") holder = holder.cells[0];
    holder.classList.add("has-error");
    holder.append(el("div", { class: "field-error", role: "alert", testid: "field-error",
      data: { errorPath: error.path || "" }, text: error.message }));
  }

  const onBeforeUnload = (event) => {
    if (session?.pending.size) event.preventDefault();
  };
  window.addEventListener("beforeunload", onBeforeUnload);
  if (session?.pending.size) renderAll();
  else load();
  return () => window.removeEventListener("beforeunload", onBeforeUnload);
}

function savedNote(saved) {
  const applied = saved.applied === false
    ? "the router will apply it when it next reads the file"
    : "the router applied it";
  return el("div", { class: "note note-ok", role: "status", testid: "config-success",
    text: `Saved — backup ${saved.backup}; ${applied}.` });
}

/** The unified diff as a <pre>, its lines coloured by kind (+ added, - removed, @@ hunks). */
function diffView(diff) {
  if (!diff) return el("p", { class: "muted small", text: "No difference in the file." });
  const lines = diff.replace(/\n$/, "").split("\n").map((line) => {
    let kind = "";
    if (line.startsWith("+++") || line.startsWith("---")) kind = "diff-file";
    else if (line.startsWith("+")) kind = "diff-add";
    else if (line.startsWith("-")) kind = "diff-del";
    else if (line.startsWith("@@")) kind = "diff-hunk";
    return el("span", { class: `diff-line ${kind}`, text: `${line}\n` });
  });
  return el("pre", { class: "diff", testid: "config-diff" }, lines);
}
