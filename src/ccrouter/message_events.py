"""A complete Anthropic message as the stream of events that would have carried it.

For providers that ignore `stream: true` and answer with one JSON reply: the client asked for a stream, so it gets
one, with the same content, whatever the provider chose to send.
"""

from __future__ import annotations

from typing import Any

import orjson

from ccrouter.sse import encode_event


def message_events(message: dict[str, Any]) -> bytes:
    """`message_start`, each block (start, one delta, stop), `message_delta`, `message_stop`, as SSE bytes."""
    usage: dict[str, Any] = message["usage"] if isinstance(message.get("usage"), dict) else {}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {**usage}}
    start["usage"]["output_tokens"] = 0
    events = [encode_event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message.get("content") or ()):
        events += _block_events(index, block)
    events.append(
        encode_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")},
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
        )
    )
    events.append(encode_event("message_stop", {"type": "message_stop"}))
    return b"".join(events)


def _block_events(index: int, block: dict[str, Any]) -> list[bytes]:
    kind = block.get("type")
    deltas: list[dict[str, Any]]
    if kind == "text":
        opening: dict[str, Any] = {**block, "text": ""}
        deltas = [{"type": "text_delta", "text": block.get("text", "")}]
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
    start = {"type": "content_block_start", "index": index, "content_block": opening}
    events = [encode_event("content_block_start", start)]
    events += [
        encode_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    ]
    events.append(encode_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
