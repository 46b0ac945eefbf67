"""Tweaks through the running service: the official SDK in, the scripted provider recording what it received."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import ToolParam

from tests.support.fake_upstream import ScriptedUpstream, error_reply, json_reply, sse_reply
from tests.support.router_setup import StartRouter, openai_provider, sdk_client

BASH: ToolParam = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-e2e", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-e2e",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 3},
    }


def _config(*providers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    first = providers[0]
    return {"Providers": list(providers), "Router": {"default": f"{first['name']},{first['models'][0]}"}, **extra}


def test_provider_and_model_chains_shape_the_request_the_provider_gets(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    provider = openai_provider(
        upstream,
        name="openrouter",
        models=["moonshotai/kimi-k2", "openai/gpt-5"],
        transformer={
            "use": ["openrouter", ["maxtoken", {"max_tokens": 16384}]],
            "moonshotai/kimi-k2": {"use": [["openrouter", {"provider": {"only": ["moonshotai/fp8"]}}], "groq"]},
        },
    )
    router = start_router(_config(provider))
    upstream.queue(json_reply(_completion("Hi there.")))
    reply = sdk_client(router.url).messages.create(
        model="openrouter,moonshotai/kimi-k2",
        max_tokens=32000,
        system=[{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        tools=[BASH],
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "hello"}],
        timeout=30,  # the SDK asks for streaming above ~21k max_tokens unless the timeout is explicit
    )
    assert reply.content[0].type == "text" and reply.content[0].text == "Hi there."
    assert upstream.received[0].path == "/v1/chat/completions"
    assert upstream.received[0].body == {
        "model": "moonshotai/kimi-k2",
        "messages": [
            {"role": "system", "content": "You are Claude Code."},
            {"role": "user", "content": "hello"},
        ],
        "max_tokens": 16384,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Bash",
                    "description": "Run a shell command",
                    "parameters": {
                        "type": "object",
                        "properties": {"command": {"type": "string"}},
                        "required": ["command"],
                    },
                },
            }
        ],
        "reasoning": {"max_tokens": 2048},
        "provider": {"only": ["moonshotai/fp8"]},
    }
    upstream.queue(json_reply(_completion("Other model.")))
    sdk_client(router.url).messages.create(
        model="openrouter,openai/gpt-5", max_tokens=32000, messages=[{"role": "user", "content": "hi"}], timeout=30
    )
    assert upstream.received[1].body == {
        "model": "openai/gpt-5",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 16384,
    }


def test_enhancetool_repairs_a_broken_streamed_tool_call(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    router = start_router(_config(openai_provider(upstream, transformer={"use": ["enhancetool"]})))
    upstream.queue(
        sse_reply(
            [
                _chunk({"role": "assistant", "content": "Let me look."}),
                _chunk(
                    {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "Bash"}}]}
                ),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{'command': "}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "'ls -la', "}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "'timeout': 30,"}}]}),
                _chunk({}, "tool_calls"),
                {"id": "chatcmpl-e2e", "choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 9}},
            ]
        )
    )
    json_deltas: list[str] = []
    with sdk_client(router.url).messages.stream(
        model="fake,fake-model",
        max_tokens=1000,
        tools=[BASH],
        messages=[{"role": "user", "content": "ls"}],
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                json_deltas.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert json_deltas == ['{"command":"ls -la","timeout":30}']  # one piece, repaired
    assert final.stop_reason == "tool_use"
    calls = [block for block in final.content if block.type == "tool_use"]
    assert [(c.id, c.name, c.input) for c in calls] == [("call_1", "Bash", {"command": "ls -la", "timeout": 30})]


PLUGIN = """
name = "house-style"

def transform_request(request, options):
    request["user"] = options["user"]
    request["metadata_tag"] = options["tag"]
    return request

def transform_response(completion, options):
    completion["choices"][0]["message"]["content"] += options["suffix"]

def transform_chunk(chunk, options):
    for choice in chunk.get("choices") or []:
        if choice.get("delta", {}).get("content"):
            choice["delta"]["content"] = choice["delta"]["content"].upper()
    return chunk
"""


def test_a_python_plugin_tweaks_requests_replies_and_streams(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    plugin = tmp_path / "house_style.py"
    plugin.write_text(PLUGIN)
    provider = openai_provider(upstream, transformer={"use": [["house-style", {"tag": "from-use"}]]})
    config = _config(
        provider, transformers=[{"path": str(plugin), "options": {"user": "ccr-user", "tag": "x", "suffix": "!"}}]
    )
    router = start_router(config)
    client = sdk_client(router.url)
    upstream.queue(json_reply(_completion("plain")))
    reply = client.messages.create(model="fake,fake-model", max_tokens=50, messages=[{"role": "user", "content": "q"}])
    assert reply.content[0].type == "text" and reply.content[0].text == "plain!"
    assert upstream.received[0].body["user"] == "ccr-user"
    assert upstream.received[0].body["metadata_tag"] == "from-use"
    upstream.queue(sse_reply([_chunk({"content": "quiet "}), _chunk({"content": "words"}, "stop")]))
    with client.messages.stream(
        model="fake,fake-model", max_tokens=50, messages=[{"role": "user", "content": "q"}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "QUIET WORDS"


def test_a_plugin_that_raises_is_named_in_a_clear_error(
    upstream: ScriptedUpstream, start_router: StartRouter, tmp_path: Path
) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text('name = "broken"\ndef transform_request(request, options):\n    raise ValueError("no key")\n')
    provider = openai_provider(upstream, transformer={"use": ["broken"]})
    router = start_router(_config(provider, transformers=[{"path": str(plugin)}]))
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk_client(router.url).messages.create(
            model="fake,fake-model", max_tokens=50, messages=[{"role": "user", "content": "q"}]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    message = body["error"]["message"]
    assert "'broken'" in message and str(plugin) in message and "ValueError: no key" in message
    assert "internal error" not in message
    assert upstream.received == []  # the provider was never asked
    assert router.wait_for_records(1)[0]["status"] == 400


def test_a_local_server_without_api_key_gets_no_authorization_header(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    ollama = {"name": "ollama", "api_base_url": f"{upstream.url}/", "models": ["qwen2.5-coder:latest"]}
    router = start_router(_config(ollama))
    upstream.queue(json_reply(_completion("local")))
    reply = sdk_client(router.url).messages.create(
        model="ollama,qwen2.5-coder:latest", max_tokens=50, messages=[{"role": "user", "content": "q"}]
    )
    assert reply.content[0].type == "text" and reply.content[0].text == "local"
    received = upstream.received[0]
    assert received.path == "/v1/chat/completions"  # a bare base URL gets the usual path
    assert "authorization" not in {name.lower() for name in received.headers}


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_without_tools_tells_the_client_what_to_do(
    upstream: ScriptedUpstream, start_router: StartRouter, stream: bool
) -> None:
    ollama = {"name": "ollama", "api_base_url": f"{upstream.url}/v1", "models": ["gemma3:4b"]}
    router = start_router(_config(ollama))
    refusal = "registry.ollama.ai/library/gemma3:4b does not support tools"
    upstream.queue(error_reply(400, {"error": {"message": refusal, "type": "api_error", "param": None, "code": None}}))
    client = sdk_client(router.url)
    request: dict[str, Any] = {
        "model": "ollama,gemma3:4b",
        "max_tokens": 50,
        "tools": [BASH],
        "messages": [{"role": "user", "content": "ls"}],
    }
    with pytest.raises(anthropic.BadRequestError) as caught:
        if stream:
            with client.messages.stream(**request) as events:
                for _ in events:
                    pass
        else:
            client.messages.create(**request)
    message = caught.value.body["error"]["message"]  # type: ignore[index]
    assert refusal in message and "`tooluse`" in message and "Router" in message
