"""The `<CCR-SUBAGENT-MODEL>provider,model</CCR-SUBAGENT-MODEL>` tag: taken out of a request before routing.

CCR's convention: a subagent's prompt (its agent definition) starts with the tag to name the target that serves
it. The tag is the router's business, never the model's, so it is always removed from the body before anything is
forwarded, whichever routing rule then decides (and whether or not it names a usable target).
"""

from __future__ import annotations

from typing import Any

SUBAGENT_OPEN = "<CCR-SUBAGENT-MODEL>"
SUBAGENT_CLOSE = "</CCR-SUBAGENT-MODEL>"


def take_subagent_tag(body: dict[str, Any]) -> str | None:
    """Remove the tag from `body` and return what it named ("provider,model" as written); None without a tag.

    The tag counts at the start of any block of the system prompt, which is where an agent definition's prompt goes
    (Claude Code 2.1.332: `system[2]`, after the attribution and identity blocks; older versions: `system[1]`).
    Never in the messages: a file an agent reads, or a tool's output, must not be able to re-route it.
    """
    system = body.get("system")
    if not isinstance(system, list):
        return None
    for block in system:
        text = block.get("text") if isinstance(block, dict) else None
        if not isinstance(text, str):
            continue
        start = len(text) - len(text.lstrip()) if text[:1].isspace() else 0  # (no copy of a long prompt)
        if not text.startswith(SUBAGENT_OPEN, start):
            continue
        end = text.find(SUBAGENT_CLOSE, start)
        if end < 0:
            continue
        block["text"] = text[:start] + text[end + len(SUBAGENT_CLOSE) :].lstrip("\n")
        return text[start + len(SUBAGENT_OPEN) : end]
    return None
