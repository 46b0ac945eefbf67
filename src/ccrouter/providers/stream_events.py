"""The Anthropic stream events every provider's state machine emits, as `(event name, event data)` pairs.

Built here once so that each state machine (`openai_chat_stream`, `openai_responses_stream`, `gemini_stream`, and
`gemini_response`'s block writer) keeps only what its provider's format needs.
"""

from __future__ import annotations

from typing import Any

import orjson

from ccrouter.providers.base import Usage

Event = tuple[str, dict[str, Any]]

CUT_SHORT = "The provider's stream ended before the reply was complete. Try again."


def message_start(message_id: str, model: str, usage: Usage) -> Event:
    """The `message_start` event: an empty assistant message with the input counts known so far."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": 0,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        },
    }
    return "message_start", {"type": "message_start", "message": message}


def message_end(stop_reason: str | None, usage: Usage, usage_seen: bool) -> list[Event]:
    """`message_delta` and `message_stop`: the output count, and the input counts when the provider reported
    them (else message_start's estimate stands); a cache write only when there was one."""
    counts: dict[str, int] = {"output_tokens": usage.output_tokens}
    if usage_seen:
        counts["input_tokens"] = usage.input_tokens
        counts["cache_read_input_tokens"] = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens:
            counts["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    return [
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": counts}),
        ("message_stop", {"type": "message_stop"}),
    ]


def block_start(index: int, block: dict[str, Any]) -> Event:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def empty_block_start(index: int, kind: str) -> Event:
    """The `content_block_start` of an empty text (`kind` "text") or thinking ("thinking") block, which the deltas
    after it fill in."""
    block = {"type": "text", "text": ""} if kind == "text" else {"type": "thinking", "thinking": "", "signature": ""}
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def block_delta(index: int, delta: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def whole_message_events(message: dict[str, Any]) -> list[Event]:
    """A complete Anthropic message as the events that would have carried it: for providers that ignore
    `stream: true` and answer in one piece, so the client still gets the stream it asked for."""
    raw_usage = message.get("usage")
    counts: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    usage = Usage(**{k: v for k, v in counts.items() if k in _USAGE_FIELDS and isinstance(v, int)})
    events = [message_start(str(message.get("id", "")), str(message.get("model", "")), usage)]
    for index, block in enumerate(message.get("content") or ()):
        events += _whole_block(index, block)
    end = message_end(message.get("stop_reason"), usage, usage_seen=True)
    end[0][1]["delta"]["stop_sequence"] = message.get("stop_sequence")
    return events + end


_USAGE_FIELDS = frozenset(Usage().as_dict())


def _whole_block(index: int, block: dict[str, Any]) -> list[Event]:
    kind = block.get("type")
    if kind == "text":
        opening, deltas = {**block, "text": ""}, [{"type": "text_delta", "text": block.get("text", "")}]
    elif kind == "thinking":
        opening = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")}]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        opening = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": orjson.dumps(block.get("input") or {}).decode()}]
    else:  # redacted_thinking, server tool blocks, ...: whole in the start event
        opening, deltas = block, []
    return [block_start(index, opening), *(block_delta(index, d) for d in deltas), block_stop(index)]
