"""The `<CCR-SUBAGENT-MODEL>provider,model</CCR-SUBAGENT-MODEL>` tag: taken out of a request before routing.

CCR's convention: a subagent's prompt starts with the tag to name the target that should serve it. The tag is
the router's business, never the model's, so it is always removed from the body before anything is forwarded,
whichever routing rule then decides (and whether or not it names a usable target).
"""

from __future__ import annotations

from typing import Any

SUBAGENT_OPEN = "<CCR-SUBAGENT-MODEL>"
SUBAGENT_CLOSE = "</CCR-SUBAGENT-MODEL>"


def take_subagent_tag(body: dict[str, Any]) -> str | None:
    """Remove the tag from `body` and return what it named ("provider,model" as written); None without a tag.

    Where Claude Code puts a subagent's prompt: the text of the second system block, which starts with the tag.
    """
    system = body.get("system")
    if not isinstance(system, list) or len(system) < 2:
        return None
    block = system[1]
    text = block.get("text") if isinstance(block, dict) else None
    if not isinstance(text, str) or not text.startswith(SUBAGENT_OPEN):
        return None
    end = text.find(SUBAGENT_CLOSE)
    if end < 0:
        return None
    block["text"] = text[end + len(SUBAGENT_CLOSE) :].lstrip("\n")
    return text[len(SUBAGENT_OPEN) : end]
