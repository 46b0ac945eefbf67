"""Gemini streamGenerateContent?alt=sse -> Anthropic SSE (gemini_stream); the recorded streams are replayed in
tests/test_stream_fixtures.py."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ccrouter.providers.gemini.stream import GeminiStreamState, GeminiStreamTranslator
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    accumulate,
    blocks_in_order,
    counter_ids,
    decode_events,
)
from tests.support.gemini_cases import MODEL, run_stream

# ---------------------------------------------------------------------------------------------------------
# The state machine directly


def _chunk(parts: list[dict[str, Any]], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **extra}


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def test_usage_and_stop_reason_are_exposed_as_the_stream_progresses() -> None:
    translator = GeminiStreamTranslator(GeminiStreamState(MODEL, 500, make_id=counter_ids()))
    assert translator.usage.input_tokens == 500 and translator.stop_reason is None
    first = translator.feed(_sse(_chunk([{"text": "hi"}], usageMetadata={"promptTokenCount": 800})))
    assert decode_events(first)[0]["data"]["message"]["usage"]["input_tokens"] == 800
    assert translator.stop_reason is None
    translator.feed(_sse(_chunk([{"functionCall": {"name": "f", "args": {"a": 1}}}], "STOP")))
    assert translator.stop_reason == "tool_use"
    tail = translator.finish()
    assert [e["event"] for e in decode_events(tail)] == ["message_delta", "message_stop"]
    assert translator.finish() == b""
    assert translator.feed(_sse(_chunk([{"text": "late"}]))) == b""


def test_finish_and_fail_are_idempotent() -> None:
    state = GeminiStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids())
    assert [name for name, _ in state.feed(_chunk([{"text": "x"}], "STOP"))] == ["message_start", "content_block_start"]
    ends = ["content_block_delta", "content_block_stop", "message_delta", "message_stop"]
    assert [name for name, _ in state.finish()] == ends  # the text waiting for flush() comes first
    assert state.finish() == []
    assert state.fail("api_error", "late") == []
    assert state.feed(_chunk([{"text": "y"}])) == []


def test_a_stream_that_fails_after_finishing_is_ignored_but_one_cut_short_is_an_error() -> None:
    out, translator = run_stream([_sse(_chunk([{"text": "ok"}], "STOP")), b"data: {broken"])
    assert [e["event"] for e in decode_events(out)][-2:] == ["message_delta", "message_stop"]
    out, translator = run_stream([_sse(_chunk([{"text": "ok"}])), b"\r\n"])
    assert decode_events(out)[-1]["event"] == "error" and translator.stop_reason is None


def test_one_read_of_many_chunks_costs_one_delta_per_block() -> None:
    chunks = b"".join(_sse(_chunk([{"text": c}])) for c in "abcdef") + _sse(_chunk([], "STOP"))
    events = decode_events(run_stream([chunks])[0])
    deltas = [e["data"]["delta"] for e in events if e["event"] == "content_block_delta"]
    assert deltas == [{"type": "text_delta", "text": "abcdef"}]


# ---------------------------------------------------------------------------------------------------------
# Property: any sequence of Gemini parts gives blocks with contiguous indices that never interleave, and the SDK
# rebuilds every text, thought and call from them.

_PART = st.one_of(
    st.builds(lambda t: {"text": t}, st.text("ab ", min_size=1, max_size=4)),
    st.builds(lambda t: {"text": t, "thought": True}, st.text("xy", max_size=4)),
    st.builds(
        lambda n, s: {"functionCall": {"name": n, "args": {"v": n}}, "thoughtSignature": s},
        st.sampled_from(["f", "g"]),
        st.text("S", min_size=1, max_size=2),
    ),
    st.builds(lambda n: {"functionCall": {"name": n}}, st.sampled_from(["h"])),
    st.builds(
        lambda t, s: {"text": t, "thoughtSignature": s}, st.text("c", max_size=2), st.text("T", min_size=1, max_size=2)
    ),
)


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.lists(_PART, max_size=3), max_size=6), reads=st.integers(1, 4))
def test_any_parts_make_a_valid_anthropic_stream(chunks: list[list[dict[str, Any]]], reads: int) -> None:
    data = [_sse(_chunk(parts)) for parts in chunks] + [_sse(_chunk([], "STOP"))]
    size = max(1, len(data) // reads)
    pieces = [b"".join(data[i : i + size]) for i in range(0, len(data), size)]
    events = decode_events(run_stream(pieces)[0])
    assert events[0]["event"] == "message_start" and events[-1]["event"] == "message_stop"
    pairs = [(event["event"], event["data"]) for event in events]
    assert blocks_in_order(pairs)
    snapshot = accumulate(pairs)
    parts = [part for chunk in chunks for part in chunk]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert [(b.name, b.input) for b in snapshot.content if b.type == "tool_use"] == [
        (c["name"], c.get("args") or {}) for c in calls
    ]
    text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
    assert "".join(b.text for b in snapshot.content if b.type == "text") == text
    thoughts = "".join(p["text"] for p in parts if p.get("thought"))
    assert "".join(b.thinking for b in snapshot.content if b.type == "thinking") == thoughts
    signatures = [p["thoughtSignature"] for p in parts if "thoughtSignature" in p]
    carried = [b.signature.removeprefix("ccrouter-gemini:") for b in snapshot.content if b.type == "thinking"]
    assert [s for s in carried if s != "ccrouter-gemini"] == signatures
    assert snapshot.stop_reason == ("tool_use" if calls else "end_turn")
