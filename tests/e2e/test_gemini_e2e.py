"""Gemini through the running service, with the official anthropic SDK as the client.

Against llmock's Gemini endpoints (a third party's reading of the format: text, streams, a tool loop, injected
errors) and against scripted providers that record exactly what they received (thought signatures across turns,
schema cleaning, headers, the system instruction, error mapping). Vertex: test_gemini_vertex_e2e.py.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import anthropic
import pytest

from tests.support.fake_upstream import ScriptedUpstream, sse_reply
from tests.support.gemini_cases import request_problems
from tests.support.gemini_fakes import (
    contents_of,
    gemini_error,
    gemini_reply,
)
from tests.support.llmock_server import LlmockServer
from tests.support.paths import FIXTURES_DIR
from tests.support.router_setup import LOOPBACK, StartRouter, sdk_client

KEY = "AIza-test-gemini-key-0001"
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
NO_RETRY = {"max_retries": 0}

client = sdk_client


def gemini_config(url: str, model: str = "gemini-2.5-pro") -> dict[str, Any]:
    return {
        "Providers": [
            {
                "name": "gm",
                "api_base_url": url,
                "api_key": KEY,
                "models": [model],
                "transformer": {"use": ["gemini"]},
            }
        ],
        "Router": {"default": f"gm,{model}"},
        "RETRY": NO_RETRY,
    }


# ---------------------------------------------------------------------------------------------------------------
# llmock


def llmock_url(server: LlmockServer) -> str:
    return f"{server.url}/gemini/v1beta/models/"


def llmock_control(server: LlmockServer, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def test_llmock_text_reply(llmock: LlmockServer, start_router: StartRouter) -> None:
    router = start_router(gemini_config(llmock_url(llmock)))
    reply = client(router.url).messages.create(
        model="claude-sonnet-5-5",
        max_tokens=100,
        system="Answer like a pirate.",
        messages=[{"role": "user", "content": "Say something"}],
    )
    assert reply.stop_reason == "end_turn"
    assert reply.content[0].type == "text"
    assert "Say something" in reply.content[0].text and "pirate" in reply.content[0].text  # the system instruction
    assert reply.usage.output_tokens > 0 and reply.usage.input_tokens > 0


def test_llmock_streamed_text(llmock: LlmockServer, start_router: StartRouter) -> None:
    router = start_router(gemini_config(llmock_url(llmock)))
    with client(router.url).messages.stream(
        model="claude-sonnet-5-5", max_tokens=100, messages=[{"role": "user", "content": "Stream please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Stream please" in text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_llmock_tool_call_and_result_round_trip(llmock: LlmockServer, start_router: StartRouter, stream: bool) -> None:
    router = start_router(gemini_config(llmock_url(llmock)))
    api = client(router.url)
    question: Any = [{"role": "user", "content": "What's the weather in Paris?"}]
    llmock_control(llmock, "DELETE", "/_llmock/requests")
    first: Any
    if stream:
        with api.messages.stream(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=question) as s:
            first = s.get_final_message()
    else:
        first = api.messages.create(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=question)
    assert first.stop_reason == "tool_use"  # Gemini says STOP; a call makes it tool_use
    calls = [b for b in first.content if b.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and isinstance(calls[0].input, dict)
    assert calls[0].id.startswith("toolu_")
    follow_up: Any = [
        *question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "Sunny, 21 C"}]},
    ]
    second = api.messages.create(model="m", max_tokens=200, tools=[WEATHER_TOOL], messages=follow_up)
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text
    bodies = [r["body"] for r in llmock_control(llmock, "GET", "/_llmock/requests")["requests"]]
    last_turn = bodies[-1]["contents"][-1]
    assert last_turn == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "Sunny, 21 C"}}}],
    }


def test_llmock_truncated_stream_ends_in_an_error(llmock: LlmockServer, start_router: StartRouter) -> None:
    router = start_router(gemini_config(llmock_url(llmock)))
    fault = {"type": "stream_fault", "kind": "truncate", "after_chunks": 1, "match": {"provider": "gemini"}}
    llmock_control(llmock, "POST", "/_llmock/scenario", {"behaviors": [fault]})
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client(router.url).messages.stream(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "A long enough prompt to be streamed in several pieces"}],
        ) as stream,
    ):
        for _ in stream:
            pass
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "api_error"
    assert "ended before the reply was complete" in body["error"]["message"]


def test_llmock_injected_rate_limit_reaches_the_client_as_429(
    failing_llmock: LlmockServer, start_router: StartRouter
) -> None:
    router = start_router(gemini_config(llmock_url(failing_llmock)))
    with pytest.raises(anthropic.RateLimitError) as info:
        client(router.url).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "rate_limit_error"
    assert "RESOURCE_EXHAUSTED" in body["error"]["message"]
    assert KEY not in str(body)


# ---------------------------------------------------------------------------------------------------------------
# Scripted Gemini


def test_thought_signatures_survive_two_turns(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    upstream.queue(
        gemini_reply(
            [
                {"text": "The user wants the weather.", "thought": True},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG_CALL=="},
            ],
            stream=True,
        ),
        gemini_reply([{"text": "Sunny.", "thoughtSignature": "SIG_TEXT"}], stream=False),
    )
    router = start_router(gemini_config(upstream.url + "/v1beta/models/"))
    api = client(router.url)
    question: Any = [{"role": "user", "content": "Weather in Paris?"}]
    thinking: Any = {"type": "enabled", "budget_tokens": 2048}
    with api.messages.stream(
        model="m",
        max_tokens=4096,
        thinking=thinking,
        tools=[WEATHER_TOOL],
        messages=question,
    ) as stream:
        first = stream.get_final_message()
    assert [b.type for b in first.content] == ["thinking", "thinking", "tool_use"]
    assert first.stop_reason == "tool_use"
    call = first.content[2]
    assert call.type == "tool_use"
    follow_up: Any = [
        *question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}]},
    ]
    second = api.messages.create(
        model="m",
        max_tokens=4096,
        thinking=thinking,
        tools=[WEATHER_TOOL],
        messages=follow_up,
    )
    assert [b.type for b in second.content] == ["thinking", "text"]

    first_request, second_request = upstream.received
    assert first_request.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert first_request.query == "alt=sse"
    assert second_request.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert first_request.body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 2048}
    assert contents_of(second_request)[1:] == [
        {
            "role": "model",
            "parts": [
                {"text": "The user wants the weather.", "thought": True},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "SIG_CALL=="},
            ],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "Sunny"}}}]},
    ]


def test_headers_system_instruction_and_schema_cleaning(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    """A real Claude Code request body, as it reaches Gemini."""
    body = json.loads((FIXTURES_DIR / "claude_code" / "main_turn.json").read_text())
    upstream.queue(gemini_reply([{"text": "Hello."}], stream=True))
    router = start_router(gemini_config(upstream.url + "/v1beta"))
    response = LOOPBACK.post(router.url + "/v1/messages?beta=true", json=body, headers={"x-api-key": "x"}, timeout=30)
    assert response.status_code == 200 and "event: message_stop" in response.text
    received = upstream.received[0]
    assert received.headers["x-goog-api-key"] == KEY
    assert "Authorization" not in received.headers and "x-api-key" not in received.headers
    assert request_problems(received.body) == []
    sent = json.dumps(received.body)
    for word in ("$schema", "additionalProperties", "cache_control", "exclusiveMinimum", "x-anthropic-billing-header"):
        assert word not in sent, word
    system = received.body["systemInstruction"]["parts"][0]["text"]
    assert system.startswith(body["system"][1]["text"]) and "# Environment" in system
    assert [c["role"] for c in received.body["contents"]] == ["user"]
    declared = [d["name"] for d in received.body["tools"][0]["functionDeclarations"]]
    assert declared == [t["name"] for t in body["tools"]]


@pytest.mark.parametrize(
    ("status", "gemini_status", "message", "client_error", "error_type"),
    [
        (
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            anthropic.BadRequestError,
            "invalid_request_error",
        ),
        (
            403,
            "PERMISSION_DENIED",
            "Permission denied on resource project x.",
            anthropic.PermissionDeniedError,
            "permission_error",
        ),
        (
            404,
            "NOT_FOUND",
            "models/nope is not found for API version v1beta.",
            anthropic.NotFoundError,
            "not_found_error",
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for metric generate_content.",
            anthropic.RateLimitError,
            "rate_limit_error",
        ),
        (503, "UNAVAILABLE", "The model is overloaded.", anthropic.InternalServerError, "overloaded_error"),
    ],
)
def test_gemini_errors_reach_the_client_with_the_providers_message(
    upstream: ScriptedUpstream,
    start_router: StartRouter,
    status: int,
    gemini_status: str,
    message: str,
    client_error: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    upstream.default = lambda _: gemini_error(status, message, gemini_status)
    router = start_router(gemini_config(upstream.url + "/v1beta/models/"))
    with pytest.raises(client_error) as info:
        client(router.url).messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    body = info.value.body
    assert info.value.status_code == status
    assert isinstance(body, dict) and body["error"]["type"] == error_type
    assert f"answered HTTP {status}: {message} ({gemini_status})" in body["error"]["message"]


def test_an_error_chunk_mid_stream_becomes_an_error_event(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.queue(
        sse_reply(
            [
                {"candidates": [{"content": {"role": "model", "parts": [{"text": "Partial"}]}}]},
                {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}},
            ],
            done=False,
        )
    )
    router = start_router(gemini_config(upstream.url + "/v1beta/models/"))
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        json={"model": "m", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert "event: message_stop" not in response.text
    last = response.text.strip().split("\n\n")[-1]
    assert last.startswith("event: error") and "Internal error encountered." in last
