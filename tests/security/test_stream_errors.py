"""An error that arrives after a stream started: the client's `event: error` never quotes the provider's key, and
the stream ends right after it (the provider's connection closed, so nothing more is read or paid for)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.security.streams import PROVIDER_KEY, WIRE_FORMATS, read_stream, single_provider_config, sse_events
from tests.support.fake_upstream import Scripted, ScriptedUpstream
from tests.support.inprocess import ServeRouter
from tests.support.responses_fakes import response_object

ECHO = f"mid-stream failure Bearer {PROVIDER_KEY}"


def _sse(events: list[tuple[str | None, dict[str, Any]]]) -> list[bytes]:
    return [
        (f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode() + b"\n\n"
        for name, data in events
    ]


def first_chunk_then_error(wire: str) -> Scripted:
    """A stream of `wire` format: one piece of text, then an error quoting the key, then silence (connection open)."""
    if wire == "openai":
        chunks = _sse(
            [
                (None, {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
                (None, {"error": {"message": ECHO, "type": "server_error"}}),
            ]
        )
    elif wire == "gemini":
        chunks = _sse(
            [
                (None, {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]}),
                (None, {"error": {"code": 500, "message": ECHO, "status": "INTERNAL"}}),
            ]
        )
    elif wire == "responses":
        created = response_object([], status="in_progress")
        item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
        chunks = _sse(
            [
                ("response.created", {"type": "response.created", "response": created}),
                ("response.output_item.added", {"type": "response.output_item.added", "output_index": 0, "item": item}),
                (
                    "response.output_text.delta",
                    {"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_1", "delta": "Hel"},
                ),
                ("error", {"type": "error", "code": "server_error", "message": ECHO}),
            ]
        )
    else:
        message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": []}
        message |= {"stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 0}}
        chunks = _sse(
            [
                ("message_start", {"type": "message_start", "message": message}),
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
                ),
                ("error", {"type": "error", "error": {"type": "api_error", "message": ECHO}}),
            ]
        )
    never_sent = b"data: {}\n\n"
    return Scripted(content_type="text/event-stream", chunks=[*chunks, never_sent], stall_after=len(chunks))


@pytest.mark.parametrize("wire", WIRE_FORMATS)
def test_an_error_after_the_stream_started_does_not_quote_the_provider_key(
    upstream: ScriptedUpstream, serve_router: ServeRouter, wire: str
) -> None:
    upstream.queue(first_chunk_then_error(wire))
    router = serve_router(single_provider_config(upstream, wire, PING_INTERVAL_MS=200, API_TIMEOUT_MS=6000))
    status, body, _ = read_stream(router)
    assert status == 200
    events = sse_events(body)
    errors = [data for name, data in events if name == "error"]
    assert errors, body
    assert "mid-stream failure" in errors[0]["error"]["message"]
    assert PROVIDER_KEY not in body
    assert "[redacted]" in errors[0]["error"]["message"]


@pytest.mark.parametrize("wire", WIRE_FORMATS)
def test_the_stream_ends_right_after_the_error_and_the_provider_connection_is_closed(
    upstream: ScriptedUpstream, serve_router: ServeRouter, wire: str
) -> None:
    upstream.queue(first_chunk_then_error(wire))
    # API_TIMEOUT_MS is long: only ending the stream on the error can end it within the deadline below.
    router = serve_router(single_provider_config(upstream, wire, PING_INTERVAL_MS=200, API_TIMEOUT_MS=60000))
    status, body, ended = read_stream(router, deadline_s=5)
    assert status == 200
    assert ended, f"the client's stream was still open 5 s after the error: {body[-300:]}"
    names = [name for name, _ in sse_events(body)]
    assert names[-1] == "error", names
    assert upstream.client_went_away.wait(10), "the provider's connection stayed open after the error"
