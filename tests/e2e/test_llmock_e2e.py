"""ccrouter against llmock, a third-party mock provider from PyPI (OpenAI at /v1, Anthropic at /anthropic/v1).

Nobody here wrote llmock, so these tests check our translation against someone else's reading of the formats:
streaming, tool calls and injected errors included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.support.llmock_server import WEATHER_TOOL, LlmockServer
from tests.support.router_setup import StartRouter, sdk_client


def config_for(server: LlmockServer) -> dict[str, Any]:
    return {
        "Providers": [
            {
                "name": "oai",
                "api_base_url": f"{server.url}/v1/chat/completions",
                "api_key": "sk-llmock",
                "models": ["gpt-4o"],
            },
            {
                "name": "anth",
                "api_base_url": f"{server.url}/anthropic/v1/messages",
                "api_key": "sk-llmock",
                "models": ["claude-3-5-sonnet-latest"],
                "transformer": {"use": ["Anthropic"]},
            },
        ],
        "Router": {"default": "oai,gpt-4o"},
    }


client = sdk_client


@pytest.mark.parametrize("model", ["oai,gpt-4o", "anth,claude-3-5-sonnet-latest"])
def test_text_reply(llmock: LlmockServer, start_router: StartRouter, model: str) -> None:
    router = start_router(config_for(llmock))
    reply = client(router.url).messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Say something"}]
    )
    assert reply.stop_reason == "end_turn"
    assert reply.content[0].type == "text" and "Say something" in reply.content[0].text
    assert reply.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["oai,gpt-4o", "anth,claude-3-5-sonnet-latest"])
def test_streamed_text_reply(llmock: LlmockServer, start_router: StartRouter, model: str) -> None:
    router = start_router(config_for(llmock))
    with client(router.url).messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Stream please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Stream please" in text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["oai,gpt-4o", "anth,claude-3-5-sonnet-latest"])
def test_tool_call_and_tool_result_round_trip(
    llmock: LlmockServer, start_router: StartRouter, model: str, stream: bool
) -> None:
    router = start_router(config_for(llmock))
    api = client(router.url)
    question = [{"role": "user", "content": "What's the weather in Paris?"}]
    if stream:
        with api.messages.stream(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=question) as s:  # type: ignore[arg-type]
            first = s.get_final_message()
    else:
        first = api.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=question)  # type: ignore[arg-type]
    assert first.stop_reason == "tool_use"
    calls = [b for b in first.content if b.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and isinstance(calls[0].input, dict)
    assert calls[0].id
    follow_up = [
        *question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": "Sunny, 21 C"}]},
    ]
    second = api.messages.create(model=model, max_tokens=200, tools=[WEATHER_TOOL], messages=follow_up)  # type: ignore[arg-type]
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text


@pytest.mark.parametrize("model", ["oai,gpt-4o", "anth,claude-3-5-sonnet-latest"])
def test_injected_rate_limit_reaches_the_client_as_429(
    failing_llmock: LlmockServer, start_router: StartRouter, model: str, tmp_path: Path
) -> None:
    router = start_router(config_for(failing_llmock))
    with pytest.raises(anthropic.RateLimitError) as info:
        client(router.url).messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 429
    body = info.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "sk-llmock" not in str(body)
