"""Anthropic Messages -> OpenAI chat completions requests (openai_chat_request), beyond the fixture cases that
tests/providers/test_request_fixtures.py replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.providers.openai_chat.request import build_chat_request, reasoning_effort
from tests.support.fixture_cases import read_json
from tests.support.openai_chat_cases import ALLOWED_KEYS, ANTHROPIC_ONLY, keys_outside_schemas
from tests.support.paths import CLAUDE_CODE_DIR


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        (None, None, None),
        ({"type": "disabled"}, None, None),
        ({"type": "enabled", "budget_tokens": 1024}, None, "low"),
        ({"type": "enabled", "budget_tokens": 1025}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 8192}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 8193}, None, "high"),
        ({"type": "enabled"}, None, "medium"),
        ({"type": "adaptive"}, None, "medium"),
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
        ({"type": "adaptive", "display": "omitted"}, {"effort": "high"}, "high"),
        ({"type": "adaptive"}, {"effort": "max"}, "high"),
        ({"type": "adaptive"}, {"effort": "bogus"}, "medium"),
        ({"type": "adaptive"}, {"format": {"type": "json_schema"}}, "medium"),
        ({"type": "disabled"}, {"effort": "high"}, None),
    ],
)
def test_reasoning_effort(thinking: Any, output_config: Any, effort: str | None) -> None:
    assert reasoning_effort(thinking, output_config) == effort


def test_stream_false_and_empty_stop_are_not_sent() -> None:
    body = {"model": "x", "max_tokens": 5, "stream": False, "stop_sequences": [], "messages": []}
    assert build_chat_request(body, "m") == {"model": "m", "messages": [], "max_tokens": 5}


def test_tool_error_without_text_and_unknown_blocks() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": 12, "is_error": True},
                    {"type": "search_result", "source": "x", "title": "t", "content": []},
                ],
            },
            {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s", "name": "web_search"}]},
        ]
    }
    assert build_chat_request(body, "m")["messages"] == [
        {"role": "tool", "tool_call_id": "12", "content": "[tool error] "},
        {"role": "assistant", "content": ""},
    ]


# ---------------------------------------------------------------------------------------------------------
# Real Claude Code 2.1.332 bodies (tests/fixtures/claude_code): the shapes the gateway sees every day.

CAPTURES = sorted(p for p in CLAUDE_CODE_DIR.glob("*.json") if not p.name.endswith(".headers.json"))


@pytest.mark.parametrize("path", [p for p in CAPTURES if not p.name.startswith("count_tokens")], ids=lambda p: p.stem)
def test_claude_code_capture(path: Path) -> None:
    body = read_json(path)
    out = build_chat_request(body, "deepseek-chat")
    assert set(out) <= ALLOWED_KEYS
    assert not keys_outside_schemas(out) & ANTHROPIC_ONLY
    assert b"cache_control" not in orjson.dumps(out["messages"])
    assert out["model"] == "deepseek-chat"
    assert out["max_tokens"] == body["max_tokens"]
    assert out["messages"][0]["role"] == "system"
    assert "Claude" in out["messages"][0]["content"]
    assert b"x-anthropic-billing-header" not in orjson.dumps(out)  # Claude Code's attribution is for Anthropic only
    tools = [t["name"] for t in body.get("tools", []) if "type" not in t]
    assert [t["function"]["name"] for t in out.get("tools", [])] == tools
    assert out.get("stream", False) == body.get("stream", False)


def test_claude_code_tool_result_followup() -> None:
    body = read_json(CLAUDE_CODE_DIR / "tool_result_followup.json")
    out = build_chat_request(body, "deepseek-reasoner")
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system", "assistant", "tool"]
    tool_use = body["messages"][2]["content"][1]
    assert out["messages"][3] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": tool_use["id"],
                "type": "function",
                "function": {"name": "Bash", "arguments": orjson.dumps(tool_use["input"]).decode()},
            }
        ],
        "reasoning_content": "",  # the signed, empty (display: omitted) thinking block: DeepSeek needs the field
    }
    result = body["messages"][3]["content"][0]
    assert out["messages"][4] == {"role": "tool", "tool_call_id": tool_use["id"], "content": result["content"]}
    assert out["reasoning_effort"] == "medium"
    assert out["stream_options"] == {"include_usage": True}


def test_claude_code_thinking_budget() -> None:
    body = read_json(CLAUDE_CODE_DIR / "thinking_budget.json")
    assert body["thinking"]["budget_tokens"] == 4000
    assert build_chat_request(body, "m")["reasoning_effort"] == "medium"


def test_claude_code_model_probe() -> None:
    out = build_chat_request(read_json(CLAUDE_CODE_DIR / "model_probe.json"), "m")
    assert out["max_tokens"] == 1
    assert "tools" not in out and "stream" not in out and "reasoning_effort" not in out
