"""Anthropic Messages request -> OpenAI Responses request (openai_responses_request), beyond the fixture cases that
tests/providers/test_request_fixtures.py replays."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ccrouter.providers.openai_responses.request import build_responses_request
from ccrouter.providers.openai_responses.response import (
    SIGNATURE_PREFIX,
    reasoning_of_signature,
    reasoning_signature,
    response_to_message,
)
from tests.support.fixture_cases import counter_ids
from tests.support.openai_responses_cases import ANTHROPIC_ONLY, MODEL, keys_outside_schemas, request_errors
from tests.support.paths import CLAUDE_CODE_DIR, CLAUDE_CODE_MESSAGE_BODIES


def test_the_validator_notices_unknown_keys_and_wrong_values() -> None:
    good = {"model": "m", "input": [{"type": "message", "role": "user", "content": "hi"}], "store": False}
    assert not request_errors(good)
    assert request_errors({**good, "stop": ["x"]})
    assert request_errors({**good, "tools": [{"type": "function", "name": "f", "parameters": {}}]})  # no strict
    assert request_errors({**good, "input": [{"type": "message", "role": "user", "content": "hi", "x": 1}]})
    assert request_errors({**good, "tool_choice": "any"})


@pytest.mark.parametrize("name", CLAUDE_CODE_MESSAGE_BODIES)
def test_real_claude_code_bodies(name: str) -> None:
    body = json.loads((CLAUDE_CODE_DIR / f"{name}.json").read_text())
    request = build_responses_request(body, "gpt-5")
    assert not request_errors(request)
    assert not keys_outside_schemas(request) & ANTHROPIC_ONLY
    assert request["store"] is False and request["model"] == "gpt-5"
    assert "Claude" in request["instructions"]
    assert "x-anthropic-billing-header" not in json.dumps(request)  # Claude Code's attribution is for Anthropic only
    client_tools = [t["name"] for t in body.get("tools", []) if t.get("type") in (None, "custom")]
    assert [t["name"] for t in request.get("tools", [])] == client_tools
    results = [b["tool_use_id"] for m in body["messages"] for b in _blocks(m) if b.get("type") == "tool_result"]
    calls = [b["id"] for m in body["messages"] for b in _blocks(m) if b.get("type") == "tool_use"]
    assert [i["call_id"] for i in request["input"] if i["type"] == "function_call_output"] == results
    assert [i["call_id"] for i in request["input"] if i["type"] == "function_call"] == calls
    # Claude Code's thinking blocks here were signed by Anthropic: never sent to OpenAI
    assert not [i for i in request["input"] if i["type"] == "reasoning"]
    thinking = body.get("thinking") or {}
    if thinking.get("type") in ("enabled", "adaptive"):
        assert request["reasoning"]["effort"] in ("low", "medium", "high")
        assert request["include"] == ["reasoning.encrypted_content"]
        assert ("summary" in request["reasoning"]) == (thinking.get("display") != "omitted")
    if name == "model_probe":
        assert request["max_output_tokens"] == 16  # Claude Code probes with max_tokens 1


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else []


# ---------------------------------------------------------------------------------------------------------
# Reasoning round trip: a reply's thinking and tool calls come back as the provider's own items


def test_a_reply_comes_back_as_the_same_items() -> None:
    encrypted = "gAAAAABpZZZZ_blob=="
    reply = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            {
                "type": "reasoning",
                "id": "rs_42",
                "summary": [{"type": "summary_text", "text": "Plan."}],
                "encrypted_content": encrypted,
            },
            {"type": "function_call", "id": "fc_9", "call_id": "call_abc", "name": "Bash", "arguments": '{"a":1}'},
        ],
    }
    message = response_to_message(reply, MODEL, 0, counter_ids())
    body = {
        "max_tokens": 100,
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": message["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "done"}]},
        ],
    }
    request = build_responses_request(body, MODEL)
    assert request["input"][1:] == [
        {
            "type": "reasoning",
            "id": "rs_42",
            "summary": [{"type": "summary_text", "text": "Plan."}],
            "encrypted_content": encrypted,
        },
        {"type": "function_call", "call_id": "call_abc", "name": "Bash", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "call_abc", "output": "done"},
    ]
    assert not request_errors(request)


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        (reasoning_signature("rs_1", "gAAAA:with:colons=="), ("rs_1", "gAAAA:with:colons==")),
        (reasoning_signature("", "blob"), ("", "blob")),
        (reasoning_signature("rs_1", ""), None),  # the bare prefix: nothing to send back
        (SIGNATURE_PREFIX, None),
        ("ccrouter-openai-chat", None),
        ("EqQBCkYIBxgCKkA=", None),
        (SIGNATURE_PREFIX + ":rs_1", None),
        (SIGNATURE_PREFIX + "x:rs_1:blob", None),
        (None, None),
    ],
)
def test_reasoning_signature_round_trip(signature: Any, expected: tuple[str, str] | None) -> None:
    assert reasoning_of_signature(signature) == expected


def test_signatures_are_recognisably_ccrouters() -> None:
    """The Anthropic adapter drops thinking blocks whose signature starts with `ccrouter-`: Anthropic would refuse
    them when a conversation moves there."""
    assert reasoning_signature("rs_1", "blob").startswith("ccrouter-")
    assert SIGNATURE_PREFIX.startswith("ccrouter-")


def test_a_thinking_block_without_following_output_is_not_sent() -> None:
    signed = {"type": "thinking", "thinking": "t", "signature": reasoning_signature("rs_1", "blob")}
    body: dict[str, Any] = {
        "messages": [{"role": "assistant", "content": [signed]}, {"role": "user", "content": "again"}]
    }
    assert build_responses_request(body, MODEL)["input"] == [{"type": "message", "role": "user", "content": "again"}]
    body["messages"][0]["content"] = [signed, {"type": "text", "text": "answer"}]
    assert [item["type"] for item in build_responses_request(body, MODEL)["input"]] == [
        "reasoning",
        "message",
        "message",
    ]


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 1025}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 8192}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 8193}, None, "high"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "disabled"}, {"effort": "high"}, None),
        (None, {"effort": "high"}, None),
    ],
)
def test_reasoning_effort(thinking: Any, output_config: Any, effort: str | None) -> None:
    body: dict[str, Any] = {"messages": [], "thinking": thinking, "output_config": output_config}
    request = build_responses_request(body, MODEL)
    assert request.get("reasoning", {}).get("effort") == effort
    assert ("include" in request) == (effort is not None)


def test_max_output_tokens_has_the_apis_minimum() -> None:
    for given, sent in [(1, 16), (16, 16), (17, 17), (128000, 128000)]:
        assert build_responses_request({"max_tokens": given, "messages": []}, MODEL)["max_output_tokens"] == sent
    assert "max_output_tokens" not in build_responses_request({"messages": []}, MODEL)
