"""Turn pinning: every request that serves one user prompt stays on the target that served its first request.

A prompt's tool loop is many requests; keeping them on one target keeps the provider's prompt cache warm and the
thinking signatures valid (a provider rejects another's). The turn is Claude Code's prompt id (the
`x-claude-code-prompt-id` hint header; a subagent's requests share its prompt's id, so its agent id is part of
the key), or, without hint headers, a request whose last message only returns tool results continues the
session's latest turn. `TurnPins` is the record sink that remembers what served each turn; routing asks it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ccrouter.config.model import Target
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.request import MessagesRequest
from ccrouter.gateway.request_kind import RequestClass, RequestKind
from ccrouter.recent import Recent


@dataclass(frozen=True, slots=True)
class Pin:
    target: Target  # what served the turn (from the config that request ran on)
    scenario: str  # the route name the turn's first request took (`x-ccr-route`)


def turn_key(request: MessagesRequest, kind: RequestKind) -> str | None:
    """The turn `request` belongs to; None for requests that do not pin (chores, compaction, no session)."""
    session = request.session_id
    if session is None or kind.request_class not in (RequestClass.MAIN, RequestClass.SUBAGENT):
        return None
    hints = request.hints
    if hints.prompt_id:
        return f"{session}|{hints.prompt_id}|{hints.agent_id or ''}"
    if kind.request_class is RequestClass.SUBAGENT:  # a subagent is known by its task, the first user message
        return f"{session}|agent:{_digest(_first_user_text(request.body))}"
    return f"{session}|main"


def continues_turn(request: MessagesRequest) -> bool:
    """Whether the request continues a turn rather than starting one: with hint headers, any request (the prompt
    id says which turn); without, one whose last message only carries tool results."""
    if request.hints.prompt_id:
        return True
    messages = request.body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) and last.get("role") == "user" else None
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


class TurnPins:
    """What served each recent turn (a record sink), bounded to the most recent turns."""

    def __init__(self, capacity: int = 4096) -> None:
        self._pins: Recent[Pin] = Recent(capacity)

    def __call__(self, record: RequestRecord) -> None:
        if record.turn is not None and record.status < 400 and record.attempts and record.scenario:
            self._pins.put(record.turn, Pin(record.attempts[-1].target, record.scenario))

    def get(self, key: str | None) -> Pin | None:
        return self._pins.get(key) if key is not None else None


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()
