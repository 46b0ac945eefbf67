"""Real Claude Code request bodies (tests/fixtures/claude_code) replayed through the service to every adapter.

What each provider receives is checked: the Anthropic passthrough gets the body unchanged but for the model; the
OpenAI chat-completions adapter gets a request the `openai` SDK's own request types accept, with nothing
Anthropic-only left in it and every tool and tool result accounted for.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from openai.types.chat import completion_create_params
from pydantic import TypeAdapter

from tests.gateway.test_gateway_http import anthropic_provider, anthropic_sse_reply, message, stream_events
from tests.support.fake_upstream import (
    Received,
    Scripted,
    ScriptedUpstream,
    json_reply,
    openai_completion,
    openai_text_stream,
)
from tests.support.fixture_cases import keys_anywhere
from tests.support.paths import CLAUDE_CODE_DIR, CLAUDE_CODE_MESSAGE_BODIES
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider

ANTHROPIC_ONLY = ("cache_control", "context_management", "output_config", "metadata", "defer_loading", "thinking")

OPENAI_REQUEST = TypeAdapter(
    completion_create_params.CompletionCreateParamsStreaming
    | completion_create_params.CompletionCreateParamsNonStreaming
)


def load(name: str) -> tuple[dict[str, Any], dict[str, str]]:
    body = json.loads((CLAUDE_CODE_DIR / f"{name}.json").read_text())
    recorded = json.loads((CLAUDE_CODE_DIR / f"{name}.headers.json").read_text())
    headers = {k: v for k, v in recorded["headers"].items() if k.startswith(("anthropic-", "x-claude-code", "x-app"))}
    return body, headers


def reply_for(received: Received) -> Scripted:
    if received.path.endswith("/messages"):
        stream = received.body.get("stream")
        return anthropic_sse_reply(stream_events("fine")) if stream else json_reply(message("fine"))
    return openai_text_stream("fine") if received.body.get("stream") else openai_completion("fine")


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return LOOPBACK.post(url + "/v1/messages?beta=true", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("name", CLAUDE_CODE_MESSAGE_BODIES)
def test_replay_through_anthropic_passthrough(upstream: ScriptedUpstream, start_router: StartRouter, name: str) -> None:
    body, headers = load(name)
    upstream.default = reply_for
    router = start_router({"Providers": [anthropic_provider(upstream, "anth", ["m"])], "Router": {"default": "anth,m"}})
    response = post(router.url, body, headers)
    assert response.status_code == 200, response.text
    forwarded = upstream.received[0]
    # Unchanged but for the model, and for Claude Code's `role: "system"` messages, which only Anthropic's own API
    # takes: an Anthropic-format server elsewhere gets them at the end of the system prompt.
    notes = [m for m in body["messages"] if m["role"] == "system"]
    if notes:  # Claude Code 2.1.332 sends its environment as a system message on main turns
        body = {
            **body,
            "system": body["system"]
            + [
                b
                for m in notes
                for b in ([{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"])
            ],
            "messages": [m for m in body["messages"] if m["role"] != "system"],
        }
    assert forwarded.body == {**body, "model": "m"}
    assert forwarded.headers["anthropic-beta"] == headers["anthropic-beta"]
    if body.get("stream"):
        assert "event: message_stop" in response.text
    else:
        assert response.json()["content"][0]["text"] == "fine"


@pytest.mark.parametrize("name", CLAUDE_CODE_MESSAGE_BODIES)
def test_replay_through_openai_chat(upstream: ScriptedUpstream, start_router: StartRouter, name: str) -> None:
    body, headers = load(name)
    upstream.default = reply_for
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    response = post(router.url, body, headers)
    assert response.status_code == 200, response.text
    sent = upstream.received[0].body
    OPENAI_REQUEST.validate_python(sent)
    assert sent["model"] == "fake-model"
    # Tool parameter schemas may legitimately name a property "metadata": look everywhere else.
    outside_schemas = keys_anywhere(
        {**sent, "tools": [{**t, "function": {**t["function"], "parameters": {}}} for t in sent.get("tools", [])]}
    )
    assert not outside_schemas & set(ANTHROPIC_ONLY), outside_schemas & set(ANTHROPIC_ONLY)
    assert sent["messages"][0]["role"] == "system"
    assert "You are Claude Code" in sent["messages"][0]["content"] or "Claude" in sent["messages"][0]["content"]
    real_tools = [t for t in body.get("tools", []) if "type" not in t or t["type"] == "custom"]
    assert [t["function"]["name"] for t in sent.get("tools", [])] == [t["name"] for t in real_tools]
    tool_results = [
        b
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    tool_messages = [m for m in sent["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == [b["tool_use_id"] for b in tool_results]
    if body.get("stream"):
        assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
        assert "event: message_stop" in response.text
    else:
        assert response.json()["content"][0]["text"] == "fine"
    if body.get("thinking", {}).get("type") in ("enabled", "adaptive"):
        assert sent["reasoning_effort"] in ("low", "medium", "high")


@pytest.mark.parametrize("name", ["count_tokens", "count_tokens_minimal"])
def test_replay_count_tokens_stays_local(upstream: ScriptedUpstream, start_router: StartRouter, name: str) -> None:
    body, headers = load(name)
    router = start_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    response = LOOPBACK.post(router.url + "/v1/messages/count_tokens?beta=true", json=body, headers=headers)
    assert response.status_code == 200
    count = response.json()["input_tokens"]
    assert isinstance(count, int) and count > (1000 if name == "count_tokens" else 0)
    assert upstream.received == []
