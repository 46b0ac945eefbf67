// One EventSource on /api/ui/events for the whole page, shared by the Requests and Logs views.
// It opens when the first listener subscribes and closes when the last one leaves, so an idle tab costs the
// service nothing. The browser reconnects by itself after a dropped stream; a stream the service refused is
// retried after a pause, unless the session ended (401), which the whoami probe finds out.

import { getJSON, isSignedOut, onSignedOut } from "./api.js";

const EVENTS_PATH = "/api/ui/events";
const RETRY_MS = 3000;

const listeners = { request: new Set(), log: new Set() };
const statusListeners = new Set();
let source = null;
let retryTimer = null;
let connected = false;

/** Receive every live event of `type` ("request" or "log"); returns the function that unsubscribes. */
export function subscribe(type, handler) {
  listeners[type].add(handler);
  ensureOpen();
  return () => {
    listeners[type].delete(handler);
    if (!listeners.request.size && !listeners.log.size) close();
  };
}

/** Call `handler(connected: boolean)` now and whenever the stream connects or drops. */
export function onStatus(handler) {
  statusListeners.add(handler);
  handler(connected);
  return () => statusListeners.delete(handler);
}

function setConnected(value) {
  if (connected === value) return;
  connected = value;
  for (const handler of statusListeners) handler(value);
}

function ensureOpen() {
  if (source || retryTimer || isSignedOut()) return;
  source = new EventSource(EVENTS_PATH, { withCredentials: true });
  source.addEventListener("open", () => setConnected(true));
  source.addEventListener("error", onError);
  for (const type of Object.keys(listeners)) {
    source.addEventListener(type, (event) => dispatch(type, event.data));
  }
}

function dispatch(type, raw) {
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    return; // not ours to show: the service sends JSON only
  }
  for (const handler of listeners[type]) handler(data);
}

function onError() {
  setConnected(false);
  if (!source || source.readyState !== EventSource.CLOSED) return; // the browser is reconnecting
  source = null;
  getJSON("/api/ui/whoami").catch(() => null); // a 401 here marks the session ended
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (listeners.request.size || listeners.log.size) ensureOpen();
  }, RETRY_MS);
}

function close() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
  setConnected(false);
}

onSignedOut(close);
