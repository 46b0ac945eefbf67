"""ccrouter against a real model server: llama-cpp-python's OpenAI-compatible server running a tiny random-weight
llama model (tests/harness/tiny_gguf.py), with `chat_format` chatml-function-calling, driven by the `anthropic` SDK.

The weights are random, so the text is noise, but everything around it is real: llama.cpp tokenizes the ChatML
prompt, samples tokens, counts usage, and for a named tool choice constrains the arguments with a grammar made
from the tool's JSON schema. Requests ask for temperature 0, so each answer is deterministic.

What this server taught the translation: an assistant tool-call turn needs `content: ""` (null is a 500), a stream
carries no usage (ccrouter counts the output), and grammar-sampled strings may hold raw control characters
(ccrouter escapes them).

scripts/test.sh builds llama-cpp-python once per venv (5-8 minutes on two cores); without it these tests fail under
CI and skip elsewhere. Run them alone with `.venv/bin/pytest -q tests/test_llama_cpp_e2e.py`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.llama_server import LlamaServer, require_llama_cpp
from tests.support.router_setup import StartRouter, sdk_client
from tests.support.tiny_gguf import write_tiny_gguf

MODEL = "llama,tiny-random"
MAX_TOKENS = 24
GREEDY = {"temperature": 0}  # the SDK has no `temperature` argument any more; ccrouter forwards the field
# Bounded strings and an enum: the grammar closes the JSON object within a few dozen tokens.
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 12},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
QUESTION = [{"role": "user", "content": "What's the weather in Paris?"}]
# Two lines of content: llama-cpp-python's grammar writes the line break as a raw newline inside the JSON string.
WRITE_TOOL = {
    "name": "write_file",
    "description": "Write a text file",
    "input_schema": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "enum": ["notes.txt"]},
            "content": {"type": "string", "pattern": "^[a-z]{1,6}\n[a-z]{1,6}$"},
        },
        "required": ["path", "content"],
    },
}


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny-random.gguf")


@pytest.fixture(scope="module")
def llama_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require_llama_cpp()
    server = LlamaServer(tiny_gguf, tmp_path_factory.mktemp("llama-server") / "server.log").start()
    yield server
    server.stop()


def config_for(server: LlamaServer, *transformers: str) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "name": "llama",
        "api_base_url": f"{server.url}/v1/chat/completions",  # no api_key: a local server needs none
        "models": [server.alias],
    }
    if transformers:
        provider["transformer"] = {"use": list(transformers)}
    return {"Providers": [provider], "Router": {"default": MODEL}}


def direct_chat(server: LlamaServer, body: dict[str, Any]) -> dict[str, Any]:
    """The same request straight to the server, for what it answers without ccrouter in between."""
    request = urllib.request.Request(
        server.url + "/v1/chat/completions",
        data=json.dumps({"model": server.alias, **body}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


client = sdk_client


def test_the_server_serves_the_generated_model(llama_server: LlamaServer) -> None:
    assert [m["id"] for m in llama_server.models()["data"]] == ["tiny-random"]


def test_text_reply_is_the_servers(llama_server: LlamaServer, start_router: StartRouter) -> None:
    router = start_router(config_for(llama_server))
    messages = [{"role": "user", "content": "Say something"}]
    reply = client(router.url).messages.create(model=MODEL, max_tokens=MAX_TOKENS, extra_body=GREEDY, messages=messages)
    direct = direct_chat(llama_server, {"messages": messages, "max_tokens": MAX_TOKENS, **GREEDY})
    assert reply.content[0].type == "text" and reply.content[0].text
    assert reply.content[0].text == direct["choices"][0]["message"]["content"]
    # The random model never picks <|im_end|> (its output row is zero), so max_tokens ends every text reply.
    assert direct["choices"][0]["finish_reason"] == "length" and reply.stop_reason == "max_tokens"
    assert reply.usage.output_tokens == direct["usage"]["completion_tokens"] == MAX_TOKENS
    assert reply.usage.input_tokens == direct["usage"]["prompt_tokens"]


def test_streamed_text(llama_server: LlamaServer, start_router: StartRouter) -> None:
    router = start_router(config_for(llama_server))
    messages = [{"role": "user", "content": "Say something"}]
    with client(router.url).messages.stream(
        model=MODEL, max_tokens=MAX_TOKENS, extra_body=GREEDY, messages=messages
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    direct = direct_chat(llama_server, {"messages": messages, "max_tokens": MAX_TOKENS, **GREEDY})
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    assert events.count("content_block_start") == events.count("content_block_stop") == 1
    assert len(final.content) == 1 and final.content[0].type == "text"
    assert final.content[0].text == direct["choices"][0]["message"]["content"]
    assert final.stop_reason == "max_tokens"


def test_streamed_text_reports_output_tokens(llama_server: LlamaServer, start_router: StartRouter) -> None:
    router = start_router(config_for(llama_server))
    with client(router.url).messages.stream(
        model=MODEL, max_tokens=MAX_TOKENS, extra_body=GREEDY, messages=[{"role": "user", "content": "Say something"}]
    ) as stream:
        final = stream.get_final_message()
    # The server reports no usage in a stream, so ccrouter counts what it streamed (cl100k, not the model's vocab).
    assert final.usage.output_tokens > 0 and final.content[0].type == "text" and final.content[0].text


def tool_call(api: Any, stream: bool, **request: Any) -> Any:
    request = {"model": MODEL, "max_tokens": 64, "extra_body": GREEDY, **request}
    if not stream:
        return api.messages.create(**request)
    with api.messages.stream(**request) as events:
        return events.get_final_message()


def force(tool: dict[str, Any]) -> dict[str, str]:
    """Anthropic's named tool choice -> OpenAI's, for which chatml-function-calling samples under a grammar."""
    return {"type": "tool", "name": tool["name"]}


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_forced_tool_call(llama_server: LlamaServer, start_router: StartRouter, stream: bool) -> None:
    router = start_router(config_for(llama_server))
    reply = tool_call(
        client(router.url), stream, tools=[WEATHER_TOOL], tool_choice=force(WEATHER_TOOL), messages=QUESTION
    )
    assert reply.stop_reason == "tool_use"
    assert [b.type for b in reply.content] == ["tool_use"]
    call = reply.content[0]
    assert call.name == "get_weather" and call.id.startswith(("toolu_", "call_"))
    assert isinstance(call.input, dict) and set(call.input) == {"city", "unit"}
    assert isinstance(call.input["city"], str) and len(call.input["city"]) <= 12
    assert call.input["unit"] in ("celsius", "fahrenheit")


def test_tool_result_turn(llama_server: LlamaServer, start_router: StartRouter) -> None:
    router = start_router(config_for(llama_server))
    api = client(router.url)
    first = tool_call(api, False, tools=[WEATHER_TOOL], tool_choice=force(WEATHER_TOOL), messages=QUESTION)
    call = first.content[0]
    assert call.type == "tool_use"
    follow_up = [
        *QUESTION,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]},
    ]
    second = api.messages.with_raw_response.create(
        model=MODEL, max_tokens=MAX_TOKENS, extra_body=GREEDY, tools=[WEATHER_TOOL], messages=follow_up
    )
    assert second.status_code == 200
    answer = second.parse()
    assert [b.type for b in answer.content] == ["text"] and answer.content[0].text
    assert answer.stop_reason == "max_tokens" and answer.usage.output_tokens == MAX_TOKENS


@pytest.mark.parametrize(
    ("stream", "transformers"),
    [
        pytest.param(False, (), id="create"),
        pytest.param(True, (), id="stream"),
        pytest.param(False, ("enhancetool",), id="create-enhancetool"),
        pytest.param(True, ("enhancetool",), id="stream-enhancetool"),
    ],
)
def test_a_raw_newline_in_tool_arguments(
    llama_server: LlamaServer, start_router: StartRouter, stream: bool, transformers: tuple[str, ...]
) -> None:
    body = {
        "tools": [{"type": "function", "function": {"name": "write_file", "parameters": WRITE_TOOL["input_schema"]}}],
        "tool_choice": {"type": "function", "function": {"name": "write_file"}},
        "messages": [{"role": "user", "content": "Write two lines"}],
        "max_tokens": 64,
        **GREEDY,
    }
    arguments = direct_chat(llama_server, body)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert "\n" in arguments  # a raw line break inside a JSON string: not strict JSON
    expected = json.loads(arguments, strict=False)

    router = start_router(config_for(llama_server, *transformers))
    api = client(router.url)
    reply = tool_call(api, stream, tools=[WRITE_TOOL], tool_choice=force(WRITE_TOOL), messages=body["messages"])
    assert reply.stop_reason == "tool_use" and [b.type for b in reply.content] == ["tool_use"]
    assert reply.content[0].input == expected
