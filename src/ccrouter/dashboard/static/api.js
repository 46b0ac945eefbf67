// The dashboard's only way to the service: same-origin fetches to /api/ui/..., the session cookie sent by the
// browser. A 401 anywhere means the session ended; every page learns it through onSignedOut().

import { el } from "./format.js";

/** An error answer from the API: `message` is the service's own text (it says what to do next). */
export class ApiError extends Error {
  constructor(status, type, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.body = body;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

const signedOutHandlers = new Set();
let signedOut = false;

/** Call `handler` once the service says the session ended (401). */
export function onSignedOut(handler) {
  signedOutHandlers.add(handler);
  if (signedOut) handler();
}

export function isSignedOut() {
  return signedOut;
}

/** Mark the session as ended (a 401 was seen) and tell every listener once. */
export function markSignedOut() {
  if (signedOut) return;
  signedOut = true;
  for (const handler of signedOutHandlers) handler();
}

/** GET/POST/PUT `path` (absolute, e.g. "/api/ui/config"); resolves to the parsed JSON or throws ApiError. */
export async function api(method, path, body = undefined, { signal } = {}) {
  const response = await send(method, path, body, signal);
  return readJson(response);
}

export const getJSON = (path, options) => api("GET", path, undefined, options);
export const postJSON = (path, body, options) => api("POST", path, body, options);
export const putJSON = (path, body, options) => api("PUT", path, body, options);

async function send(method, path, body, signal) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The service did not answer: is it running? Check with `ccr status`.");
  }
  if (response.status === 401) {
    markSignedOut();
    throw new ApiError(401, "authentication_error", SIGNED_OUT_TEXT);
  }
  return response;
}

export const SIGNED_OUT_TEXT = "Signed out — run `ccr ui` in a terminal to sign in again";

async function readJson(response) {
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw errorOf(response.status, data);
  if (data === null) throw new ApiError(response.status, "api_error", "The service sent an answer that is not JSON.");
  return data;
}

function errorOf(status, data) {
  const error = data?.error;
  const message = error?.message || `The service answered HTTP ${status}.`;
  return new ApiError(status, error?.type || "api_error", message, data);
}

/**
 * POST `body` to `path` and yield its server-sent events as {event, data} (data parsed as JSON when it is).
 * EventSource cannot POST, so this reads the fetch body stream. A non-2xx answer throws ApiError.
 */
export async function* postEvents(path, body, { signal } = {}) {
  const response = await send("POST", path, body, signal);
  if (!response.ok) await readJson(response); // throws the API's error
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parseFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame) yield frame;
    }
  }
  const last = parseFrame(buffer);
  if (last) yield last;
}

/** One SSE frame ("event: x\ndata: {...}") → {event, data}; comments-only frames → null. */
export function parseFrame(text) {
  let event = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const raw = data.join("\n");
  try {
    return { event, data: JSON.parse(raw) };
  } catch {
    return { event, data: raw };
  }
}

/**
 * A visible error message for `error` (ApiError or other), to place next to what caused it. A 401 gives an empty
 * hidden node: the page-wide "Signed out" banner says it once.
 */
export function errorNote(error, testid = "error") {
  if (error instanceof ApiError && error.status === 401) return el("span", { hidden: true, testid });
  const message = error instanceof ApiError ? error.message : `Something went wrong in the page: ${error.message}`;
  return el("div", { class: "note note-error", role: "alert", testid, text: message });
}
