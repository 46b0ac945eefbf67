"""OpenAI chat completion streams -> Anthropic SSE (openai_chat_stream + the translator in openai_chat); the
recorded streams are replayed in tests/test_stream_fixtures.py."""

from __future__ import annotations

import random
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ccrouter.providers.anthropic import AnthropicStreamRelay
from ccrouter.providers.base import StreamFailure
from ccrouter.providers.openai_chat.adapter import ChatStreamTranslator
from ccrouter.providers.openai_chat.stream import ChatStreamState
from ccrouter.providers.stream_events import CUT_SHORT
from tests.support.anthropic_strategies import SMALL_ARGUMENTS
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    accumulate,
    blocks_in_order,
    counter_ids,
    decode_events,
)
from tests.support.openai_chat_cases import MODEL, run_stream

# ---------------------------------------------------------------------------------------------------------
# The state machine directly


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": "c1", "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}
    chunk.update(extra)
    return chunk


def test_usage_and_stop_reason_are_exposed_as_the_stream_progresses() -> None:
    translator = ChatStreamTranslator(ChatStreamState(MODEL, 500, make_id=counter_ids()))
    assert translator.usage.input_tokens == 500 and translator.stop_reason is None
    translator.feed(b"data: " + orjson.dumps(_chunk({"content": "hi"})) + b"\n\n")
    assert translator.stop_reason is None
    translator.feed(b"data: " + orjson.dumps(_chunk({}, "length")) + b"\n\n")
    assert translator.stop_reason == "max_tokens"
    assert translator.usage.input_tokens == 500  # the estimate until the provider says better
    usage = {"prompt_tokens": 900, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 100}}
    translator.feed(b'data: {"id":"c1","choices":[],"usage":' + orjson.dumps(usage) + b"}\n\n")
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (800, 12)
    assert translator.usage.cache_read_input_tokens == 100
    tail = translator.feed(b"data: [DONE]\n\n")
    assert [e["event"] for e in decode_events(tail)] == ["content_block_stop", "message_delta", "message_stop"]
    assert translator.feed(b"data: " + orjson.dumps(_chunk({"content": "late"})) + b"\n\n") == b""
    assert translator.finish() == b""


def test_usage_in_the_first_chunk_reaches_message_start() -> None:
    state = ChatStreamState(MODEL, 5, make_id=counter_ids())
    events = state.feed(_chunk({"role": "assistant"}, usage={"prompt_tokens": 70, "completion_tokens": 0}))
    assert events[0][1]["message"]["usage"]["input_tokens"] == 70


def test_finish_and_fail_are_idempotent() -> None:
    state = ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids())
    state.feed(_chunk({"content": "x"}, "stop"))
    assert [name for name, _ in state.finish()] == ["content_block_stop", "message_delta", "message_stop"]
    assert state.finish() == []
    assert state.fail("api_error", "late") == []
    assert state.feed(_chunk({"content": "y"})) == []


def test_error_event_needs_no_message_start() -> None:
    state = ChatStreamState(MODEL, INPUT_TOKENS)
    assert state.feed({"error": "upstream exploded"}) == [
        (
            "error",
            {
                "type": "error",
                "error": {
                    "type": "api_error",
                    "message": "The provider sent an error in its stream: upstream exploded",
                },
            },
        )
    ]


def test_finish_reason_then_eof_without_done_succeeds() -> None:
    out, translator = run_stream([b"data: " + orjson.dumps(_chunk({"content": "ok"}, "stop")) + b"\n\n"])
    assert [e["event"] for e in decode_events(out)][-2:] == ["message_delta", "message_stop"]
    assert translator.stop_reason == "end_turn"


def test_done_without_finish_reason_is_an_error() -> None:
    out, translator = run_stream([b"data: " + orjson.dumps(_chunk({"content": "half"})) + b"\n\ndata: [DONE]\n\n"])
    assert decode_events(out)[-1]["event"] == "error"
    assert translator.error == StreamFailure("api_error", CUT_SHORT)


def test_the_translator_exposes_the_error_it_ended_in() -> None:
    translator = ChatStreamTranslator(ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    translator.feed(b"data: " + orjson.dumps(_chunk({"content": "hi"})) + b"\n\n")
    assert translator.error is None
    out = translator.feed(b'data: {"error": {"message": "slow down", "code": 429}}\n\n')
    assert decode_events(out)[-1]["event"] == "error"
    message = "The provider sent an error in its stream: slow down"
    assert translator.error == StreamFailure("rate_limit_error", message)
    assert translator.finish() == b"" and translator.error.message == message


def test_an_error_before_anything_else_is_a_failure_at_the_start() -> None:
    translator = ChatStreamTranslator(ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    assert translator.feed(b": keepalive\n\n") == b""
    translator.feed(b'data: {"error": {"message": "no capacity", "code": 503}}\n\n')
    message = "The provider sent an error in its stream: no capacity"
    assert translator.error == StreamFailure("overloaded_error", message, at_start=True)


def test_the_anthropic_relay_exposes_the_error_it_relayed_or_made() -> None:
    relay = AnthropicStreamRelay()
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    chunk = b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"
    assert relay.feed(chunk) == chunk
    assert relay.error == StreamFailure("overloaded_error", "Overloaded", at_start=True)
    assert relay.finish() == b""
    cut = AnthropicStreamRelay()
    cut.feed(b'event: message_start\ndata: {"type": "message_start", "message": {"usage": {"input_tokens": 3}}}\n\n')
    assert cut.error is None and decode_events(cut.finish())[-1]["event"] == "error"
    assert cut.error == StreamFailure("api_error", CUT_SHORT)


# ---------------------------------------------------------------------------------------------------------
# Property: any interleaving of parallel tool calls, fragmented anywhere, arrives whole and in valid order


@settings(max_examples=150, deadline=None)
@given(
    calls=st.lists(SMALL_ARGUMENTS, min_size=1, max_size=4),
    text=st.text(max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_interleaved_tool_calls_property(calls: list[dict[str, Any]], text: str, seed: int) -> None:
    rng = random.Random(seed)
    queues: list[list[dict[str, Any]]] = []
    for index, args in enumerate(calls):
        encoded = orjson.dumps(args).decode() + " " * rng.randint(0, 1)
        cuts = sorted(rng.sample(range(1, len(encoded)), min(len(encoded) - 1, rng.randint(0, 6))))
        parts = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
        function: dict[str, Any] = {"name": f"f{index}"}
        if rng.random() < 0.5:
            function["arguments"] = parts.pop(0)
        first = {"index": index, "id": f"call_{index}", "type": "function", "function": function}
        queue = [first] + [{"index": index, "function": {"arguments": part}} for part in parts]
        queues.append(queue)
    chunks: list[dict[str, Any]] = []
    if text:
        chunks.append(_chunk({"content": text}))
    opened = 0  # calls start in index order, as every provider does
    while any(queues):
        live = [i for i in range(opened) if queues[i]]
        if opened < len(queues) and (not live or rng.random() < 0.4):
            live = [opened]
            opened += 1
        pick = rng.choice(live)
        chunks.append(_chunk({"tool_calls": [queues[pick].pop(0)]}))
    chunks.append(_chunk({}, "tool_calls"))

    state = ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids())
    events = [event for chunk in chunks for event in state.feed(chunk)] + state.finish()

    assert blocks_in_order(events)  # blocks never interleave and indices are contiguous
    snapshot = accumulate(events)
    tool_blocks = [block for block in snapshot.content if block.type == "tool_use"]
    assert [(b.id, b.name, b.input) for b in tool_blocks] == [
        (f"call_{i}", f"f{i}", args) for i, args in enumerate(calls)
    ]
    assert "".join(b.text for b in snapshot.content if b.type == "text") == text
    assert snapshot.stop_reason == "tool_use"
