"""What kind of request Claude Code sent, and whether the user asked for more reasoning.

Claude Code 2.1.332 says what a request is in its gateway hint headers (`x-claude-code-request-class`,
`x-claude-code-agent-type`) when `CLAUDE_CODE_GATEWAY_HINT_HEADERS=1`, which `ccr code` and `ccr activate` set.
Without them the same facts are read from the body, from the marks Claude Code puts there (captured in
`tests/fixtures/claude_code/routing/`); both readings agree on the same traffic.

The user's wishes for more reasoning (`Router.thinkSignals`): plan mode and "ultrathink" (Claude Code adds a note
to its environment message), an effort above the one Claude Code sends by default for the model, and a thinking
budget from a client that is not Claude Code. Adaptive thinking at the default effort is not one: Claude Code
sends it on every main turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ccrouter.gateway.request import MessagesRequest
from ccrouter.providers.base import CLAUDE_CODE_ATTRIBUTION


class RequestClass(StrEnum):
    MAIN = "main"  # a turn of the conversation (and its tool loop)
    SUBAGENT = "subagent"  # a turn of a subagent (Agent/Task tool)
    AUXILIARY = "auxiliary"  # a chore: the session title and the like
    COMPACTION = "compaction"  # summarising the conversation (/compact, or automatically)


@dataclass(frozen=True, slots=True)
class RequestKind:
    request_class: RequestClass
    agent_type: str | None = None  # a subagent's type: "Explore", "Plan", "general-purpose", "custom", ...


# The marks Claude Code puts in a body.
SUBAGENT_MARK = "cc_is_subagent=true"  # in the attribution block, system[0]
COMPACTION_OPENING = "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools."
COMPACTION_TASK = "summary of the conversation"
ULTRATHINK_NOTE = 'The user included the keyword "ultrathink"'
PLAN_MODE_NOTE = "Plan mode is active."
# A built-in subagent's prompt starts with these words (system[2]); custom agents' prompts are the user's own.
BUILTIN_AGENT_OPENINGS = {
    "You are a file search specialist for Claude Code": "Explore",
    "You are a software architect and planning specialist for Claude Code": "Plan",
}
CUSTOM_AGENT = "custom"  # what Claude Code's agent-type header says for an agent the user defined

EFFORT_RANK = {"low": 0, "medium": 1, "high": 2, "xhigh": 3, "max": 4}
# Claude Code sends effort "medium" by default to the model ids it knows, "high" to any other id (a custom
# ANTHROPIC_MODEL, "provider,model", a gateway model from /model).
KNOWN_MODEL_DEFAULT_EFFORT = "medium"
OTHER_MODEL_DEFAULT_EFFORT = "high"
_KNOWN_MODEL = re.compile(r"claude-(?:opus|sonnet|haiku|fable)-\d+(?:-\d+)*(?:\[1m\])?")


def kind_of(request: MessagesRequest) -> RequestKind:
    """The request's class and agent type: from the hint headers when Claude Code sent them, else from the body."""
    hints = request.hints
    if hints.request_class in _CLASSES:
        request_class = RequestClass(hints.request_class)
        if request_class is RequestClass.SUBAGENT:
            return RequestKind(request_class, hints.agent_type or _agent_type_in(request.body))
        return RequestKind(request_class)
    return _kind_in(request.body)


def think_signals(request: MessagesRequest) -> frozenset[str]:
    """Which of the user's wishes for more reasoning the request carries (names as in `Router.thinkSignals`)."""
    body = request.body
    found: set[str] = set()
    notes = _system_message_texts(body)
    if any(PLAN_MODE_NOTE in text for text in notes):
        found.add("planMode")
    if any(ULTRATHINK_NOTE in text for text in notes):
        found.add("ultrathink")
    effort = _effort(body)
    if effort is not None and EFFORT_RANK.get(effort, -1) > EFFORT_RANK[default_effort(request.model)]:
        found.add("effort")
    thinking = body.get("thinking")
    # Claude Code sends an `enabled` budget (31999, or MAX_THINKING_TOKENS below it) on every turn of an older model
    # id: only another client's budget is a choice.
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and not _from_claude_code(body):
        found.add("budget")
    return frozenset(found)


def default_effort(model: str) -> str:
    """The effort Claude Code 2.1.332 sends for `model` when the user did not choose one."""
    return KNOWN_MODEL_DEFAULT_EFFORT if _KNOWN_MODEL.fullmatch(model) else OTHER_MODEL_DEFAULT_EFFORT


_CLASSES = frozenset(RequestClass)


def _kind_in(body: dict[str, Any]) -> RequestKind:
    if SUBAGENT_MARK in _attribution(body):
        return RequestKind(RequestClass.SUBAGENT, _agent_type_in(body))
    if _is_compaction(body):
        return RequestKind(RequestClass.COMPACTION)
    if not body.get("tools") and isinstance(body.get("output_config"), dict) and body["output_config"].get("format"):
        return RequestKind(RequestClass.AUXILIARY)  # a chore: no tools, an answer in a JSON schema
    return RequestKind(RequestClass.MAIN)


def _attribution(body: dict[str, Any]) -> str:
    system = body.get("system")
    first = system[0] if isinstance(system, list) and system else None
    text = first.get("text") if isinstance(first, dict) else None
    return text if isinstance(text, str) and text.startswith(CLAUDE_CODE_ATTRIBUTION) else ""


def _from_claude_code(body: dict[str, Any]) -> bool:
    return bool(_attribution(body))


def _agent_type_in(body: dict[str, Any]) -> str:
    """A built-in agent recognised by its prompt's first words; any other agent is the user's own."""
    system = body.get("system")
    if isinstance(system, list):
        for block in system[1:]:
            text = block.get("text") if isinstance(block, dict) else None
            if isinstance(text, str):
                for opening, agent_type in BUILTIN_AGENT_OPENINGS.items():
                    if text.startswith(opening):
                        return agent_type
    return CUSTOM_AGENT


def _is_compaction(body: dict[str, Any]) -> bool:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return False
    content = last.get("content")
    if isinstance(content, str):
        return content.startswith(COMPACTION_OPENING) and COMPACTION_TASK in content
    return isinstance(content, list) and any(
        isinstance(b, dict)
        and isinstance(b.get("text"), str)
        and b["text"].startswith(COMPACTION_OPENING)
        and COMPACTION_TASK in b["text"]
        for b in content
    )


def _system_message_texts(body: dict[str, Any]) -> list[str]:
    """The text of the `system` messages inside `messages` (Claude Code's environment notes): never the user's."""
    texts: list[str] = []
    for message in body.get("messages") or ():
        if isinstance(message, dict) and message.get("role") == "system":
            content = message.get("content")
            texts.extend([content] if isinstance(content, str) else _block_texts(content))
    return texts


def _block_texts(content: Any) -> list[str]:
    if not isinstance(content, list):
        return []
    return [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]


def _effort(body: dict[str, Any]) -> str | None:
    output_config = body.get("output_config")
    effort = output_config.get("effort") if isinstance(output_config, dict) else None
    return effort if isinstance(effort, str) else None
