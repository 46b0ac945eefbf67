// The dashboard shell: hash routes (#/overview, #/requests, #/config, #/logs, #/try), the top nav, the
// "signed out" banner. Each page module exports mount(container, params) and returns its unmount function.

import { getJSON, onSignedOut, SIGNED_OUT_TEXT } from "./api.js";
import { el, replace } from "./format.js";
import * as overview from "./overview.js";
import * as requests from "./requests.js";
import * as config from "./config.js";
import * as logs from "./logs.js";
import * as tryPage from "./try.js";

const PAGES = { overview, requests, config, logs, try: tryPage };
const TITLES = { overview: "Overview", requests: "Requests", config: "Config", logs: "Logs", try: "Try a route" };
const DEFAULT_PAGE = "overview";

const view = document.getElementById("view");
let unmountCurrent = null;

/** "#/requests?id=abc" → {name: "requests", params: URLSearchParams("id=abc")}. */
function parseHash(hash) {
  const text = hash.replace(/^#\/?/, "");
  const [name, query = ""] = text.split("?", 2);
  return { name: PAGES[name] ? name : DEFAULT_PAGE, params: new URLSearchParams(query) };
}

function highlightNav(name) {
  for (const link of document.querySelectorAll(".nav a")) {
    const active = link.dataset.route === name;
    link.classList.toggle("active", active);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showPage() {
  const { name, params } = parseHash(location.hash);
  if (unmountCurrent) unmountCurrent();
  unmountCurrent = null;
  highlightNav(name);
  document.title = `${TITLES[name]} — ccrouter`;
  const container = el("section", { class: `page page-${name}`, testid: `page-${name}` });
  replace(view, container);
  try {
    unmountCurrent = PAGES[name].mount(container, params) || null;
  } catch (error) {
    replace(container, el("div", { class: "note note-error", text: `This page failed to start: ${error.message}` }));
  }
}

function showSignedOut() {
  const banner = document.getElementById("signed-out");
  const [before, after] = SIGNED_OUT_TEXT.split("`ccr ui`");
  replace(banner, before, el("code", { text: "ccr ui" }), after);
  banner.hidden = false;
}

async function showWhoami() {
  const target = document.getElementById("whoami");
  try {
    const who = await getJSON("/api/ui/whoami");
    target.textContent = [`v${who.version}`, who.port ? `:${who.port}` : null, who.ledger === false ? "ledger off" : null]
      .filter(Boolean).join(" · ");
    target.title = who.config_path ? `Config: ${who.config_path}` : "Started without a config file";
  } catch {
    target.textContent = ""; // a 401 shows the banner; anything else shows on the page that needs the API
  }
}

onSignedOut(showSignedOut);
window.addEventListener("hashchange", showPage);
if (!location.hash) history.replaceState(null, "", `#/${DEFAULT_PAGE}`);
showPage();
showWhoami();
