// The small "live" badge: whether the shared EventSource is connected right now.

import { onStatus } from "./live.js";
import { el } from "./format.js";

/** {node, dispose}: a badge that follows the live stream's state until dispose() is called. */
export function liveIndicator() {
  const node = el("span", { class: "live", testid: "live-indicator", role: "status" });
  const dispose = onStatus((connected) => {
    node.dataset.state = connected ? "connected" : "disconnected";
    node.textContent = connected ? "live" : "not live";
    node.title = connected
      ? "New entries appear as they happen."
      : "The live stream is not connected; it reconnects by itself. Reload the page if it stays so.";
  });
  return { node, dispose };
}
