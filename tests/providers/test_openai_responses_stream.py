"""OpenAI Responses streams -> Anthropic SSE (openai_responses_stream + the translator in openai_responses)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from ccrouter.providers.openai_responses.response import response_to_message
from ccrouter.providers.openai_responses.stream import ResponsesStreamState
from tests.support.anthropic_strategies import SMALL_ARGUMENTS
from tests.support.fixture_cases import (
    accumulate,
    blocks_in_order,
    counter_ids,
    decode_events,
    read_json,
    sdk_message,
)
from tests.support.openai_responses_cases import (
    INPUT_TOKENS,
    MODEL,
    cases,
    run_stream,
    stream_events,
)
from tests.support.responses_fakes import ResponsesStream, function_call_item, sse_event, usage

STREAM_CASES = cases("responses_stream.sse")
# Cases whose input is not made of well-formed Responses events, on purpose.
NOT_STANDARD = {"stream_json_body_instead", "stream_invalid_json", "stream_error_event_nested"}
EVENT_TYPES: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


@pytest.mark.parametrize("case", [c for c in STREAM_CASES if c.name not in NOT_STANDARD], ids=lambda p: p.name)
def test_inputs_are_real_openai_events(case: Path) -> None:
    events = stream_events(case)
    assert events
    for event in events:
        EVENT_TYPES.validate_python(event)


def _final_response(case: Path) -> dict[str, Any] | None:
    if case.name in NOT_STANDARD:
        return None
    final = [e for e in stream_events(case) if e["type"] in ("response.completed", "response.incomplete")]
    return final[0]["response"] if final else None


COMPLETE_CASES = [case for case in STREAM_CASES if _final_response(case) is not None]


def test_most_stream_cases_complete() -> None:
    assert len(COMPLETE_CASES) >= 10


@pytest.mark.parametrize("case", COMPLETE_CASES, ids=lambda p: p.name)
def test_stream_and_final_response_agree(case: Path) -> None:
    """What a client assembles from the stream equals the translation of the final response it ends with."""
    final = _final_response(case)
    assert final is not None
    message = response_to_message(final, MODEL, INPUT_TOKENS, counter_ids())
    streamed = read_json(case / "expected_sdk_message.json")
    assert [_sorted(block) for block in streamed["content"]] == [_sorted(block) for block in message["content"]]
    assert streamed["stop_reason"] == message["stop_reason"]
    assert streamed["usage"] == message["usage"]


def _sorted(block: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(block.items()))


# ---------------------------------------------------------------------------------------------------------
# The translator and the state machine directly


def test_usage_and_stop_reason_are_exposed_when_the_stream_completes() -> None:
    stream = ResponsesStream().created().text("Hi")
    out, translator = run_stream([sse_event(event) for event in stream.events])
    assert translator.stop_reason is None and translator.usage.input_tokens == INPUT_TOKENS
    assert decode_events(out)[-1]["event"] == "error"  # no response.completed: cut short

    stream.completed(usage(900, 12, cached=100))
    out, translator = run_stream([stream.sse()])
    assert [e["event"] for e in decode_events(out)][-2:] == ["message_delta", "message_stop"]
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (800, 12)
    assert translator.usage.cache_read_input_tokens == 100
    assert translator.stop_reason == "end_turn"
    assert translator.feed(sse_event({"type": "response.output_text.delta", "output_index": 0, "delta": "x"})) == b""
    assert translator.finish() == b""


def test_done_sentinel_and_unknown_events_are_ignored() -> None:
    stream = ResponsesStream().created().text("ok")
    stream.event("response.some_future_event", detail=1).completed()
    out, _ = run_stream([stream.sse() + b"data: [DONE]\n\n"])
    assert sdk_message(out)["content"] == [{"type": "text", "text": "ok"}]


def test_deltas_without_announced_items_still_arrive() -> None:
    """Servers that skip `output_item.added` (or send no `output_index`) still get their text and calls through."""
    state = ResponsesStreamState(MODEL, 5, make_id=counter_ids())
    events = state.feed({"type": "response.output_text.delta", "item_id": "m1", "delta": "Hel"})
    events += state.feed({"type": "response.output_text.delta", "item_id": "m1", "delta": "lo"})
    events += state.feed({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a":'})
    events += state.feed({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "1}"})
    events += state.feed({"type": "response.completed", "response": {"status": "completed"}})
    snapshot = accumulate(events)
    assert [block.type for block in snapshot.content] == ["text", "tool_use"]
    assert snapshot.content[0].text == "Hello"
    assert snapshot.content[1].input == {"a": 1} and snapshot.content[1].id == "toolu_gen0002"
    assert snapshot.id == "msg_gen0001" and snapshot.stop_reason == "tool_use"


def test_fail_and_finish_are_idempotent() -> None:
    state = ResponsesStreamState(MODEL, INPUT_TOKENS)
    assert [name for name, _ in state.feed({"type": "error", "message": "bad"})] == ["error"]
    assert state.finish() == []
    assert state.fail("api_error", "late") == []
    assert state.feed({"type": "response.output_text.delta", "output_index": 0, "delta": "y"}) == []


def test_a_later_item_waits_for_the_open_block() -> None:
    """Interleaved items never interleave blocks: the second call's fragments wait until the first is done."""
    state = ResponsesStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids())
    state.feed({"type": "response.created", "response": {"id": "resp_1"}})
    first = function_call_item("call_a", "f", "", "fc_a", "in_progress")
    second = function_call_item("call_b", "g", "", "fc_b", "in_progress")
    assert state.feed({"type": "response.output_item.added", "output_index": 0, "item": first})[0][0] == (
        "content_block_start"
    )
    assert state.feed({"type": "response.output_item.added", "output_index": 1, "item": second}) == []
    assert state.feed({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"}) == []
    done = state.feed({"type": "response.output_item.done", "output_index": 0, "item": {**first, "arguments": "{}"}})
    assert [(name, data.get("index")) for name, data in done] == [
        ("content_block_delta", 0),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_delta", 1),
    ]


# ---------------------------------------------------------------------------------------------------------
# Property: parallel calls whose argument fragments interleave in any order arrive whole, blocks never overlap


@settings(max_examples=120, deadline=None)
@given(
    calls=st.lists(SMALL_ARGUMENTS, min_size=1, max_size=4),
    text=st.text(max_size=8),
    seed=st.integers(0, 2**32 - 1),
    done_early=st.booleans(),
)
def test_interleaved_calls_property(calls: list[dict[str, Any]], text: str, seed: int, done_early: bool) -> None:
    rng = random.Random(seed)
    stream = ResponsesStream().created()
    if text:
        stream.text(text, count=rng.randint(1, 4))
    offset = len(stream.output)
    queues: list[list[tuple[str, Any]]] = []
    for args in calls:
        encoded = orjson.dumps(args).decode()
        cuts = sorted(rng.sample(range(1, len(encoded)), min(len(encoded) - 1, rng.randint(0, 6))))
        parts = [encoded[a:b] for a, b in zip([0, *cuts], [*cuts, len(encoded)], strict=True)]
        queue: list[tuple[str, Any]] = [("delta", part) for part in parts]
        if done_early:
            queue.append(("done", encoded))
        queues.append(queue)
    added = 0
    while any(queues) or added < len(calls):
        live = [i for i in range(added) if queues[i]]
        if added < len(calls) and (not live or rng.random() < 0.4):
            stream.add(function_call_item(f"call_{added}", f"f{added}", "", f"fc_{added}", "in_progress"))
            added += 1
            continue
        pick = rng.choice(live)
        kind, value = queues[pick].pop(0)
        if kind == "delta":
            stream.arguments_delta(offset + pick, value, f"fc_{pick}")
        else:
            stream.done(offset + pick, function_call_item(f"call_{pick}", f"f{pick}", value, f"fc_{pick}"))
    stream.completed()

    state = ResponsesStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids())
    events = [event for raw in stream.events for event in state.feed(raw)]
    assert blocks_in_order(events)  # blocks never interleave and indices are contiguous
    snapshot = accumulate(events)
    tool_blocks = [block for block in snapshot.content if block.type == "tool_use"]
    assert [(b.id, b.name, b.input) for b in tool_blocks] == [(f"call_{i}", f"f{i}", a) for i, a in enumerate(calls)]
    assert "".join(b.text for b in snapshot.content if b.type == "text") == text
    assert snapshot.stop_reason == "tool_use"
