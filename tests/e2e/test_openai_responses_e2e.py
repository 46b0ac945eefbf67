"""The openai-responses adapter end to end: the real service, the official anthropic SDK as the client, and a
scripted Responses provider (plus the third-party llmock's `/v1/responses`) recording what it receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.support.fake_upstream import ScriptedUpstream, error_reply
from tests.support.llmock_server import WEATHER_TOOL, LlmockServer
from tests.support.openai_responses_cases import request_errors
from tests.support.responses_fakes import (
    ResponsesStream,
    input_items,
    text_response,
    text_stream,
    tool_call_stream,
    usage,
)
from tests.support.router_setup import StartRouter, sdk_client

PROVIDER_KEY = "sk-test-provider-key-123456"


def responses_config(base_url: str) -> dict[str, Any]:
    return {
        "Providers": [
            {
                "name": "oai",
                "api_base_url": f"{base_url}/v1/responses",
                "api_key": PROVIDER_KEY,
                "models": ["gpt-fake"],
                "transformer": {"use": ["openai-responses"]},
            }
        ],
        "Router": {"default": "oai,gpt-fake"},
    }


def _sent(upstream: ScriptedUpstream, number: int) -> dict[str, Any]:
    """The request body the provider received, checked against the openai SDK's request types."""
    received = upstream.received[number]
    assert received.method == "POST" and received.path == "/v1/responses"
    assert received.headers["Authorization"] == "Bearer " + PROVIDER_KEY
    body = received.body
    assert isinstance(body, dict)
    problems = request_errors(body)
    assert not problems, problems
    assert body["model"] == "gpt-fake" and body["store"] is False
    return body


def test_streamed_text(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.queue(text_stream("Hello from the Responses API"))
    router = start_router(responses_config(upstream.url))
    with sdk_client(router.url).messages.stream(
        model="claude-sonnet-5-5",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the Responses API"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 5)
    sent = _sent(upstream, 0)
    assert sent["stream"] is True and sent["instructions"] == "Be brief."
    assert sent["input"] == [{"type": "message", "role": "user", "content": "Say hello"}]
    record = router.wait_for_records(1)[-1]
    assert (record["provider"], record["model"], record["status"]) == ("oai", "gpt-fake", 200)


def test_streamed_tool_call_then_tool_result(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    """Arguments arrive in fragments; the tool_use id is the provider's call_id (not its `fc_` item id), and the
    next turn gives the provider back its reasoning, its call and the result, joined by that call_id."""
    upstream.queue(
        tool_call_stream("call_abc123", "get_weather", {"city": "Paris"}, reasoning="gAAAAB-encrypted-1"),
        text_stream("Sunny in Paris."),
    )
    router = start_router(responses_config(upstream.url))
    api = sdk_client(router.url)
    question: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    thinking: Any = {"type": "adaptive", "display": "updates"}
    with api.messages.stream(
        model="claude-sonnet-5-5", max_tokens=2000, tools=[WEATHER_TOOL], thinking=thinking, messages=question
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert [block.type for block in first.content] == ["thinking", "tool_use"]
    call = first.content[1]
    assert call.type == "tool_use"
    assert (call.id, call.name, call.input) == ("call_abc123", "get_weather", {"city": "Paris"})
    sent = _sent(upstream, 0)
    assert sent["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert sent["tools"][0]["name"] == "get_weather"

    follow_up = [
        *question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]},
    ]
    with api.messages.stream(
        model="claude-sonnet-5-5", max_tokens=2000, tools=[WEATHER_TOOL], thinking=thinking, messages=follow_up
    ) as stream:
        second = stream.get_final_message()
    assert second.content[0].type == "text" and second.content[0].text == "Sunny in Paris."
    sent = _sent(upstream, 1)
    assert [item["type"] for item in sent["input"]] == ["message", "reasoning", "function_call", "function_call_output"]
    assert input_items(sent, "reasoning") == [
        {
            "type": "reasoning",
            "id": "rs_fake",
            "summary": [{"type": "summary_text", "text": "Thinking about get_weather"}],
            "encrypted_content": "gAAAAB-encrypted-1",
        }
    ]
    [function_call] = input_items(sent, "function_call")
    assert function_call["call_id"] == "call_abc123" and function_call["name"] == "get_weather"
    assert json.loads(function_call["arguments"]) == {"city": "Paris"}
    assert input_items(sent, "function_call_output") == [
        {"type": "function_call_output", "call_id": "call_abc123", "output": "Sunny, 21 C"}
    ]


def test_non_streaming_reasoning_round_trip(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.queue(text_response("First answer.", reasoning="gAAAAB-encrypted-2"), text_response("Second answer."))
    router = start_router(responses_config(upstream.url))
    api = sdk_client(router.url)
    thinking: Any = {"type": "enabled", "budget_tokens": 2000}
    turn: list[Any] = [{"role": "user", "content": "First question"}]
    first = api.messages.create(model="claude-sonnet-5-5", max_tokens=4000, thinking=thinking, messages=turn)
    assert [block.type for block in first.content] == ["thinking", "text"]
    assert first.content[0].type == "thinking" and first.content[0].thinking == "Short thought"
    assert first.usage.input_tokens == 10 and first.usage.cache_read_input_tokens == 30
    assert first.usage.output_tokens == 7
    assert "stream" not in _sent(upstream, 0)

    turn += [
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": "Second question"},
    ]
    second = api.messages.create(model="claude-sonnet-5-5", max_tokens=4000, thinking=thinking, messages=turn)
    assert second.content[-1].type == "text" and second.content[-1].text == "Second answer."
    sent = _sent(upstream, 1)
    assert [(item["type"], item.get("role")) for item in sent["input"]] == [
        ("message", "user"),
        ("reasoning", None),
        ("message", "assistant"),
        ("message", "user"),
    ]
    assert sent["input"][1]["encrypted_content"] == "gAAAAB-encrypted-2"
    assert sent["input"][2]["content"] == "First answer."


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("status", "error", "exception"),
    [
        (400, {"message": "Invalid 'input[0].content': empty.", "type": "invalid_request_error"}, "BadRequestError"),
        (401, {"message": "Incorrect API key provided.", "type": "invalid_request_error"}, "AuthenticationError"),
    ],
)
def test_provider_error_status(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    stream: bool,
    status: int,
    error: dict[str, Any],
    exception: str,
) -> None:
    upstream.queue(error_reply(status, {"error": {**error, "param": None, "code": None}}))
    router = start_router(responses_config(upstream.url))
    api = sdk_client(router.url)
    with pytest.raises(anthropic.APIStatusError) as caught:
        if stream:
            with api.messages.stream(
                model="claude-sonnet-5-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ) as events:
                events.get_final_message()
        else:
            api.messages.create(model="claude-sonnet-5-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert type(caught.value).__name__ == exception and caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert error["message"] in body["error"]["message"] and "'oai'" in body["error"]["message"]
    assert PROVIDER_KEY not in str(body)


@pytest.mark.parametrize("ending", ["failed", "cut"])
def test_a_stream_that_does_not_complete_ends_in_an_error_event(
    upstream: ScriptedUpstream, start_router: StartRouter, ending: str
) -> None:
    stream = ResponsesStream().created().text("Partial answ")
    if ending == "failed":
        stream.failed("server_error", "The model produced invalid content.")
    upstream.queue(stream.reply())
    router = start_router(responses_config(upstream.url))
    text: list[str] = []
    request: Any = {"model": "claude-sonnet-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    with (
        pytest.raises(anthropic.APIStatusError) as caught,  # the error arrives mid-stream, after the text
        sdk_client(router.url).messages.stream(**request) as events,
    ):
        text.extend(events.text_stream)
    assert "".join(text) == "Partial answ"
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "api_error"
    expected = "The model produced invalid content." if ending == "failed" else "ended before the reply was complete"
    assert expected in body["error"]["message"]


def test_cached_and_reasoning_usage_reach_the_client(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.queue(
        ResponsesStream().created().text("ok").completed(usage(5000, 300, cached=4096, reasoning=250)).reply()
    )
    router = start_router(responses_config(upstream.url))
    with sdk_client(router.url).messages.stream(
        model="claude-sonnet-5-5", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        904,
        4096,
        300,
    )
    record = router.wait_for_records(1)[-1]
    assert (record["input_tokens"], record["cache_read_input_tokens"], record["output_tokens"]) == (904, 4096, 300)


# ---------------------------------------------------------------------------------------------------------------
# llmock (PyPI) serves /v1/responses too: someone else's reading of the format


@pytest.fixture(scope="module")
def llmock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlmockServer]:
    server = LlmockServer(tmp_path_factory.mktemp("llmock") / "llmock.log", "--response-style", "echo").start()
    yield server
    server.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_llmock_text(llmock: LlmockServer, start_router: StartRouter, stream: bool) -> None:
    router = start_router(responses_config(llmock.url))
    api = sdk_client(router.url)
    question: Any = [{"role": "user", "content": "Say something about otters"}]
    if stream:
        with api.messages.stream(model="claude-sonnet-5-5", max_tokens=100, messages=question) as events:
            text = "".join(events.text_stream)
            reply: anthropic.types.Message = events.get_final_message()
    else:
        reply = api.messages.create(model="claude-sonnet-5-5", max_tokens=100, messages=question)
        text = "".join(block.text for block in reply.content if block.type == "text")
    assert "otters" in text
    assert reply.stop_reason == "end_turn" and reply.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_llmock_tool_call_and_tool_result_round_trip(
    llmock: LlmockServer, start_router: StartRouter, stream: bool
) -> None:
    router = start_router(responses_config(llmock.url))
    api = sdk_client(router.url)
    question: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    if stream:
        with api.messages.stream(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=question) as events:
            first: anthropic.types.Message = events.get_final_message()
    else:
        first = api.messages.create(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=question)
    assert first.stop_reason == "tool_use"
    calls = [block for block in first.content if block.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and isinstance(calls[0].input, dict)
    assert calls[0].id and not calls[0].id.startswith("fc_")
    follow_up = [
        *question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "Sunny, 21 C"}]},
    ]
    second = api.messages.create(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=follow_up)
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text
