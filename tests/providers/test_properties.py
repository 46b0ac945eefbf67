"""Property tests (hypothesis) for the Anthropic <-> OpenAI chat translation and for the service's resilience.

1. Any valid Claude Code-style request passes the gateway's parser and translates to a chat completions request
   that the `openai` SDK's own request types accept strictly (no unknown keys, no coercion, every message
   checked), with every tool_use id kept as a tool_calls id and every tool_result answered by a role:"tool"
   message right after the assistant message that made the call.
2. Tool ids round-trip: a provider's completion (or stream, fragmented and interleaved anyhow) becomes tool_use
   blocks whose ids, sent back in the next request, give matching tool_calls and tool_call_ids.
3. Junk request bodies never make the router (served in this process) answer 5xx, every 4xx is in Anthropic's
   error shape, and the router stays healthy.

The strategies live in tests/anthropic_strategies.py. Runs are derandomized so CI sees the same examples.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openai.types.chat import completion_create_params
from pydantic import TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from ccrouter.gateway.request import parse_messages_body
from ccrouter.providers.openai_chat.adapter import ChatStreamTranslator
from ccrouter.providers.openai_chat.request import TOOL_ERROR_PREFIX, build_chat_request
from ccrouter.providers.openai_chat.response import completion_to_message
from ccrouter.providers.openai_chat.stream import ChatStreamState
from ccrouter.sse import SSEDecoder
from tests.support.anthropic_strategies import (
    EXTRA_PREFIX,
    anthropic_requests,
    byte_splits,
    junk_bodies,
    openai_completions,
    openai_tool_streams,
    usable,
)
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.inprocess import InProcessRouter, InProcessServer
from tests.support.openai_chat_cases import keys_outside_schemas
from tests.support.router_setup import openai_provider

PURE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Keys a chat completions request may hold outside tool parameter schemas. `reasoning_content` is the one
# extension: DeepSeek requires assistant reasoning back (REFERENCE §4); it is checked separately.
ANTHROPIC_ONLY = {
    "cache_control",
    "metadata",
    "thinking",
    "redacted_thinking",
    "signature",
    "budget_tokens",
    "output_config",
    "context_management",
    "defer_loading",
    "safeguards",
    "service_tier",
    "top_k",
    "system",
    "stop_sequences",
    "input_schema",
    "tool_use_id",
    "is_error",
    "source",
    "media_type",
    "disable_parallel_tool_use",
    "citations",
    "max_uses",
}


# ----------------------------------------------------------------------------------------------------------
# The openai SDK's request types, strictly


def _tighten(node: Any) -> Any:
    """A pydantic core schema with every TypedDict closed to unknown keys and every Iterable checked as a list.

    Pydantic validates the SDK's TypedDicts ignoring extra keys, and `Iterable[...]` fields (messages, tools,
    content parts, tool_calls) lazily, that is not at all until iterated: a plain TypeAdapter accepts
    `{"messages": [{"role": "bogus"}], "anything": 1}`.
    """
    if isinstance(node, dict):
        node = {key: _tighten(value) for key, value in node.items()}
        if node.get("type") == "typed-dict":
            node["extra_behavior"] = "forbid"
        elif node.get("type") == "generator":
            node["type"] = "list"
        return node
    if isinstance(node, list):
        return [_tighten(item) for item in node]
    return node


_PARAMS = TypeAdapter(
    completion_create_params.CompletionCreateParamsStreaming
    | completion_create_params.CompletionCreateParamsNonStreaming
)
STRICT_OPENAI_REQUEST = SchemaValidator(_tighten(_PARAMS.core_schema))


def assert_openai_request(out: dict[str, Any], reasoning_echo: bool = True) -> None:
    """`out` is a chat completions request the SDK's types accept, strictly, and orjson can send."""
    orjson.dumps(out)
    plain = copy.deepcopy(out)
    for message in plain["messages"]:
        if message.get("role") == "assistant" and "reasoning_content" in message:
            assert reasoning_echo, message
            assert isinstance(message.pop("reasoning_content"), str)
    try:
        STRICT_OPENAI_REQUEST.validate_python(plain, strict=True)
    except ValidationError as exc:
        raise AssertionError(f"not a valid OpenAI request:\n{_short(exc)}\n{plain}") from None


def _short(exc: ValidationError) -> str:
    """The errors of the union member that got furthest (the deepest locations), not all 40 of them."""
    errors = sorted(exc.errors(), key=lambda e: -len(e["loc"]))
    return "\n".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])


@pytest.mark.parametrize(
    "bad",
    [
        {"messages": [{"role": "bogus"}]},
        {"messages": [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}]},
        {"messages": [{"role": "tool", "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]},
        {"messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 2000}},
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": "5"},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
    ],
)
def test_the_strict_validator_rejects_what_a_plain_type_adapter_accepts(bad: dict[str, Any]) -> None:
    body = {"model": "m", **bad}
    _PARAMS.validate_python(body)  # pydantic's default: unknown keys ignored, messages never looked at
    with pytest.raises(AssertionError, match="not a valid OpenAI request"):
        assert_openai_request(body)


def blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    content = message.get("content")
    return [b for b in content if b.get("type") == kind] if isinstance(content, list) else []


def texts_of(body: dict[str, Any]) -> list[str]:
    """Every piece of text in an Anthropic request that the model must see."""
    found: list[str] = []
    system = body.get("system")
    found += [system] if isinstance(system, str) else [b["text"] for b in system or ()]
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            found.append(content)
            continue
        found += [b["text"] for b in content if b["type"] == "text"]
        for result in (b for b in content if b["type"] == "tool_result"):
            inner = result.get("content")
            found += [inner] if isinstance(inner, str) else [b["text"] for b in inner or () if b["type"] == "text"]
    return [text for text in found if text]


def contents_of(out: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for message in out["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found += [part["text"] for part in content if part.get("type") == "text"]
    return found


def check_tool_pairing(out_messages: list[dict[str, Any]]) -> None:
    """Each assistant message with tool_calls is followed at once by one role:"tool" message per call, and no
    tool message appears anywhere else (what OpenAI-compatible servers enforce)."""
    i = 0
    while i < len(out_messages):
        message = out_messages[i]
        assert message["role"] != "tool", f"tool message {i} does not follow the assistant's tool_calls"
        calls = message.get("tool_calls") if message["role"] == "assistant" else None
        if calls:
            ids = [call["id"] for call in calls]
            answers = out_messages[i + 1 : i + 1 + len(ids)]
            assert [m["role"] for m in answers] == ["tool"] * len(ids), (i, out_messages)
            assert sorted(m["tool_call_id"] for m in answers) == sorted(ids)
            i += 1 + len(ids)
        else:
            i += 1


EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high"}


def expected_effort(body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        budget = thinking["budget_tokens"]
        return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    if thinking.get("type") == "adaptive":
        return EFFORT.get((body.get("output_config") or {}).get("effort"), "medium")
    return None


# ----------------------------------------------------------------------------------------------------------
# 1. Valid requests -> valid OpenAI requests


@PURE
@given(drawn=anthropic_requests(), reasoning_echo=st.booleans())
def test_valid_request_translates_to_a_valid_openai_request(drawn: dict[str, Any], reasoning_echo: bool) -> None:
    body = parse_messages_body(orjson.dumps(drawn))  # the gateway accepts it, and this is what it then sees
    assert body == drawn
    before = copy.deepcopy(body)
    out = build_chat_request(body, "target-model", reasoning_echo=reasoning_echo)
    assert body == before, "the request body was modified"

    assert_openai_request(out, reasoning_echo)
    assert out["model"] == "target-model"
    leaked = keys_outside_schemas(out) & ANTHROPIC_ONLY
    assert not leaked, leaked
    assert not any(key.startswith(EXTRA_PREFIX) for key in keys_outside_schemas(out))

    # Tool ids: every tool_use becomes a tool call and every tool_result a tool message, in order.
    assistants = [m for m in body["messages"] if m["role"] == "assistant"]
    users = [m for m in body["messages"] if m["role"] == "user"]
    uses = [b for m in assistants for b in blocks(m, "tool_use")]
    results = [b for m in users for b in blocks(m, "tool_result")]
    calls = [c for m in out["messages"] if m["role"] == "assistant" for c in m.get("tool_calls", ())]
    tool_messages = [m for m in out["messages"] if m["role"] == "tool"]
    assert [c["id"] for c in calls] == [b["id"] for b in uses]
    assert [c["function"]["name"] for c in calls] == [b["name"] for b in uses]
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [b["input"] for b in uses]
    assert [m["tool_call_id"] for m in tool_messages] == [b["tool_use_id"] for b in results]
    for message, result in zip(tool_messages, results, strict=True):
        assert message["content"].startswith(TOOL_ERROR_PREFIX) == bool(result.get("is_error")), message
    check_tool_pairing(out["messages"])

    # Nothing the model must read is lost, images included.
    haystack = "\x00".join(contents_of(out))
    for text in texts_of(body):
        assert text in haystack, text
    images = 0
    for message in users:
        for block in message["content"] if isinstance(message["content"], list) else ():
            inner = block.get("content") if block["type"] == "tool_result" else [block]
            images += sum(1 for b in inner if b["type"] == "image") if isinstance(inner, list) else 0
    image_parts = [
        part
        for m in out["messages"]
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if part["type"] == "image_url"
    ]
    assert len(image_parts) == images
    system = body.get("system")
    if system and (isinstance(system, str) or any(b["text"] for b in system)):
        assert out["messages"][0]["role"] == "system"

    # Parameters.
    assert out.get("max_tokens") == body["max_tokens"]
    for key in ("temperature", "top_p"):
        assert out.get(key) == body.get(key)
    assert out.get("stop") == (body.get("stop_sequences") or None)
    assert out.get("reasoning_effort") == expected_effort(body)
    if body.get("stream"):
        assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in out and "stream_options" not in out
    custom = [t for t in body.get("tools", ()) if t.get("type", "custom") == "custom"]
    functions = [t["function"] for t in out.get("tools", ())]
    assert [f["name"] for f in functions] == [t["name"] for t in custom]
    assert [f["parameters"] for f in functions] == [t["input_schema"] for t in custom]
    choice = body.get("tool_choice")
    if not custom or choice is None:
        assert "tool_choice" not in out and "parallel_tool_calls" not in out
    else:
        expected = {"auto": "auto", "any": "required", "none": "none"}.get(choice["type"])
        if choice["type"] == "tool":
            expected = {"type": "function", "function": {"name": choice["name"]}}
        assert out["tool_choice"] == expected
        no_parallel = bool(choice.get("disable_parallel_tool_use")) and choice["type"] != "none"
        assert out.get("parallel_tool_calls") == (False if no_parallel else None)


# ----------------------------------------------------------------------------------------------------------
# 2. Tool ids round-trip through the response side


def next_request(assistant_content: list[dict[str, Any]]) -> dict[str, Any]:
    """Claude Code's next turn: the assistant's answer as it came, then one tool_result per tool_use."""
    uses = [b for b in assistant_content if b["type"] == "tool_use"]
    results = [{"type": "tool_result", "tool_use_id": b["id"], "content": f"result of {b['name']}"} for b in uses]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    messages.append({"role": "assistant", "content": assistant_content})
    messages.append({"role": "user", "content": results or "thanks"})
    return {"model": "claude-sonnet-5-5", "max_tokens": 1000, "messages": messages}


def check_round_trip(content: list[dict[str, Any]], calls: list[dict[str, Any]]) -> None:
    """The tool_use blocks made from `calls` keep the provider's usable ids, are distinct, and come back in the
    next request as tool_calls ids equal to the tool messages' tool_call_ids."""
    uses = [b for b in content if b["type"] == "tool_use"]
    assert [(b["name"], b["input"]) for b in uses] == [(c["name"], c["args"]) for c in calls]
    ids = [b["id"] for b in uses]
    assert all(isinstance(i, str) and i for i in ids), ids
    for block, call in zip(uses, calls, strict=True):
        if usable(call["id"]):
            assert block["id"] == str(call["id"])
    assert len(set(ids)) == len(ids), f"tool_use ids repeat within one message: {ids}"

    body = parse_messages_body(orjson.dumps(next_request(content)))
    out = build_chat_request(body, "provider-model")
    assert_openai_request(out)
    check_tool_pairing(out["messages"])
    sent_calls = [c for m in out["messages"] if m["role"] == "assistant" for c in m.get("tool_calls", ())]
    assert [c["id"] for c in sent_calls] == ids
    assert [m["tool_call_id"] for m in out["messages"] if m["role"] == "tool"] == ids
    assert [orjson.loads(c["function"]["arguments"]) for c in sent_calls] == [c["args"] for c in calls]


@PURE
@given(sample=openai_completions())
def test_completion_tool_ids_round_trip(sample: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    completion, calls = sample
    message = completion_to_message(completion, "claude-sonnet-5-5", 10)
    anthropic.types.Message.model_validate(message)
    finish = completion["choices"][0]["finish_reason"]
    expected = "tool_use" if calls and finish != "length" else {"length": "max_tokens"}.get(finish, "end_turn")
    assert message["stop_reason"] == expected
    check_round_trip(message["content"], calls)


def decode_events(sse: bytes) -> list[tuple[str, dict[str, Any]]]:
    decoder = SSEDecoder()
    return [(event.event or "", orjson.loads(event.data)) for event in decoder.feed(sse) + decoder.close()]


def assemble(events: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Check that an Anthropic event sequence is well formed; return its content blocks and message_delta.

    message_start first, message_delta then message_stop last; blocks with contiguous indices from 0, each
    started and stopped once, never interleaved, with deltas of their own kind only.
    """
    names = [name for name, _ in events]
    assert names[0] == "message_start", names
    assert names[-2:] == ["message_delta", "message_stop"], names
    assert names.count("message_start") == names.count("message_delta") == names.count("message_stop") == 1
    assert "error" not in names
    content: list[dict[str, Any]] = []
    parts: list[list[str]] = []
    open_index: int | None = None
    allowed = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"}}
    for name, data in events[1:-2]:
        if name == "ping":
            continue
        if name == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert data["index"] == len(content), "block indices are not contiguous"
            open_index = data["index"]
            content.append(copy.deepcopy(data["content_block"]))
            parts.append([])
            continue
        assert data["index"] == open_index, (name, data, open_index)
        block = content[open_index]
        if name == "content_block_stop":
            if block["type"] == "tool_use":
                block["input"] = orjson.loads("".join(parts[open_index]) or "{}")
            open_index = None
            continue
        assert name == "content_block_delta", name
        delta = data["delta"]
        assert delta["type"] in allowed.get(block["type"], {"input_json_delta"}), (block["type"], delta)
        if delta["type"] == "text_delta":
            block["text"] += delta["text"]
        elif delta["type"] == "thinking_delta":
            block["thinking"] += delta["thinking"]
        elif delta["type"] == "signature_delta":
            block["signature"] += delta["signature"]
        else:
            parts[open_index].append(delta["partial_json"])
    assert open_index is None, "a block was never stopped"
    return content, events[-2][1]


STREAMS = settings(PURE, max_examples=200)


@STREAMS
@given(sample=openai_tool_streams(), data=st.data())
def test_stream_tool_ids_round_trip_and_events_are_well_formed(sample: dict[str, Any], data: st.DataObject) -> None:
    raw = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in sample["chunks"]) + b"data: [DONE]\n\n"
    translator = ChatStreamTranslator(ChatStreamState("claude-sonnet-5-5", 10))
    out = b"".join(translator.feed(piece) for piece in data.draw(byte_splits(raw))) + translator.finish()
    content, message_delta = assemble(decode_events(out))

    calls = sample["calls"]
    assert message_delta["delta"]["stop_reason"] == ("tool_use" if calls else "end_turn")
    assert "".join(b["text"] for b in content if b["type"] == "text") == sample["text"]
    assert "".join(b["thinking"] for b in content if b["type"] == "thinking") == sample["reasoning"]
    anthropic.types.Message.model_validate(
        {
            "id": "msg_x",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": content,
            "stop_reason": message_delta["delta"]["stop_reason"],
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )
    check_round_trip(content, calls)


# Providers do send one id for several parallel calls (or the same numeric id twice). The tool_use ids must
# still be distinct: the client answers each by id, and Anthropic rejects repeated tool_use ids.


def _two_calls_one_id() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The smallest counterexample found: two parallel calls that share the provider's id."""
    call = {"id": "call_0", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call, dict(call)]}
    completion = {"id": "c", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    return completion, [{"id": "call_0", "name": "Bash", "args": {}}] * 2


def _two_streamed_calls_one_id() -> dict[str, Any]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    calls = [
        {"index": i, "id": "call_0", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
        for i in (0, 1)
    ]
    chunks = [chunk({"tool_calls": [call]}) for call in calls] + [chunk({}, "tool_calls")]
    return {"chunks": chunks, "calls": [{"id": "call_0", "name": "Bash", "args": {}}] * 2}


@settings(PURE, max_examples=150)
@example(sample=_two_calls_one_id())
@given(sample=openai_completions(unique_ids=False))
def test_completion_tool_ids_are_distinct_even_when_the_provider_repeats_them(
    sample: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    message = completion_to_message(sample[0], "claude-sonnet-5-5", 10)
    ids = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
    assert len(set(ids)) == len(ids), ids


@settings(PURE, max_examples=150)
@example(sample=_two_streamed_calls_one_id())
@given(sample=openai_tool_streams(unique_ids=False))
def test_stream_tool_ids_are_distinct_even_when_the_provider_repeats_them(sample: dict[str, Any]) -> None:
    state = ChatStreamState("claude-sonnet-5-5", 10)
    events = [event for chunk in sample["chunks"] for event in state.feed(chunk)] + state.finish()
    content, _ = assemble(events)
    ids = [b["id"] for b in content if b["type"] == "tool_use"]
    assert len(ids) == len(sample["calls"])
    assert len(set(ids)) == len(ids), ids


# ----------------------------------------------------------------------------------------------------------
# 3. Junk bodies against the running service


def _any_completion(received: Received) -> Scripted:
    stream = isinstance(received.body, dict) and received.body.get("stream") is True
    return openai_text_reply("fine", stream)


@pytest.fixture(scope="module")
def junk_router(router_server: InProcessServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRouter]:
    """One router app for the whole module, in front of a provider that answers any request with a completion."""
    upstream = ScriptedUpstream().start()
    upstream.default = _any_completion
    home: Path = tmp_path_factory.mktemp("ccr-junk")
    try:
        yield router_server.serve(
            home, {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}}
        )
    finally:
        router_server.unmount()
        upstream.stop()


@pytest.fixture(scope="module")
def junk_client(junk_router: InProcessRouter) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=junk_router.url, timeout=20) as client:
        yield client


def check_error_shape(response: httpx.Response) -> None:
    """A 4xx in Anthropic's error shape, with a message that says something."""
    assert response.status_code in (400, 404, 413), response.status_code
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert isinstance(body["error"]["type"], str) and body["error"]["type"], body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip(), body


def check_answer(response: httpx.Response) -> None:
    """The provider behind `junk_router` answers every request well, so any 5xx is the service's own."""
    status = response.status_code
    assert status < 500, f"HTTP {status}: {response.text[:500]}"
    if status >= 400:
        check_error_shape(response)
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert status == 200, status
        names = [name for name, _ in decode_events(response.content)]
        assert names[0] == "message_start" and names[-1] == "message_stop", names
    else:
        assert status == 200, status
        anthropic.types.Message.model_validate(response.json())


def _deep(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


# The smallest bodies that made the service answer 500 when these tests were written: tried first, every run.
FOUND_500S = [
    # tokens.count_text gets a non-string text / name (tokens._count_content)
    b'{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}',
    b'{"model":"m","system":[{"type":"text","text":true}],"messages":[{"role":"user","content":"hi"}]}',
    b'{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":5,"input":{}}]}]}',
    # orjson parses 1024 levels but writes only 254: tokens._count_json, tokens._count_tools, and
    # OpenAIChatAdapter.build_request's orjson.dumps of the forwarded body
    (
        b'{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n",'
        b'"input":{"a":%s}}]}]}' % _deep(254).encode()
    ),
    b'{"model":"m","tools":[{"name":"n","input_schema":%s}],"messages":[{"role":"user","content":"hi"}]}'
    % _deep(300).encode(),
    b'{"model":"m","temperature":%s,"messages":[{"role":"user","content":"hi"}]}' % _deep(300).encode(),
]

HTTP = settings(PURE, max_examples=150)


def _with_examples(bodies: list[bytes]) -> Any:
    def decorate(test: Any) -> Any:
        for raw in reversed(bodies):
            test = example(raw=raw)(test)
        return test

    return decorate


@HTTP
@_with_examples(FOUND_500S)
@given(raw=junk_bodies())
def test_junk_bodies_never_make_a_5xx(
    router_server: InProcessServer, junk_router: InProcessRouter, junk_client: httpx.Client, raw: bytes
) -> None:
    response = junk_client.post("/v1/messages", content=raw, headers={"content-type": "application/json"})
    check_answer(response)
    assert router_server.serving(junk_router), "the server died"


@settings(HTTP, max_examples=100)
@_with_examples(FOUND_500S)
@given(raw=junk_bodies())
def test_junk_count_tokens_bodies_never_make_a_5xx(
    junk_router: InProcessRouter, junk_client: httpx.Client, raw: bytes
) -> None:
    """Claude Code's /context sends ~30 count_tokens requests at once; they must fail as cleanly."""
    response = junk_client.post("/v1/messages/count_tokens", content=raw, headers={"content-type": "application/json"})
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        check_error_shape(response)
    else:
        count = response.json()["input_tokens"]
        assert isinstance(count, int) and count >= 0


def test_service_is_healthy_after_the_junk(
    router_server: InProcessServer, junk_router: InProcessRouter, junk_client: httpx.Client
) -> None:
    assert router_server.serving(junk_router)
    assert junk_client.get("/health").json() == {"status": "ok"}
    response = junk_client.post(
        "/v1/messages",
        json={"model": "claude-sonnet-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "fine"
