"""Anthropic Messages -> Gemini generateContent requests (gemini_request, gemini_contents), beyond the fixture cases
that tests/providers/test_request_fixtures.py replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.providers.gemini.contents import SKIP_SIGNATURE, is_gemini_3_or_later
from ccrouter.providers.gemini.request import MAX_OUTPUT_TOKENS, build_gemini_request, thinking_config
from tests.support.fixture_cases import read_json
from tests.support.gemini_cases import ANTHROPIC_ONLY, keys_outside_schemas, request_problems
from tests.support.paths import CLAUDE_CODE_DIR

# ---------------------------------------------------------------------------------------------------------
# Real Claude Code 2.1.332 bodies: what Gemini would get for them every day.

CAPTURES = sorted(p for p in CLAUDE_CODE_DIR.glob("*.json") if not p.name.endswith(".headers.json"))


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "gemini-3-pro-preview"])
@pytest.mark.parametrize("path", [p for p in CAPTURES if not p.name.startswith("count_tokens")], ids=lambda p: p.stem)
def test_claude_code_capture(path: Path, model: str) -> None:
    body = read_json(path)
    out = build_gemini_request(body, model)
    assert request_problems(out) == []
    assert not keys_outside_schemas(out) & ANTHROPIC_ONLY
    assert b"x-anthropic-billing-header" not in orjson.dumps(out)  # it changes every request: no prompt cache
    assert out["systemInstruction"]["parts"][0]["text"].startswith(body["system"][1]["text"])
    assert out["generationConfig"]["maxOutputTokens"] == min(body["max_tokens"], MAX_OUTPUT_TOKENS)
    declared = [d["name"] for t in out.get("tools", []) for d in t.get("functionDeclarations", [])]
    assert declared == [t["name"] for t in body.get("tools", []) if "type" not in t]
    assert "toolConfig" not in out


def test_claude_code_tool_result_followup() -> None:
    body = read_json(CLAUDE_CODE_DIR / "tool_result_followup.json")
    tool_use = body["messages"][2]["content"][1]
    out = build_gemini_request(body, "gemini-2.5-pro")
    roles = [c["role"] for c in out["contents"]]
    assert roles == ["user", "model", "user"]
    # Anthropic's own (fake) signed thinking is another model's: left out.
    assert out["contents"][1]["parts"] == [{"functionCall": {"name": "Bash", "args": tool_use["input"]}}]
    assert out["contents"][2]["parts"] == [{"functionResponse": {"name": "Bash", "response": {"output": "hi"}}}]
    # The system message in the middle of the conversation joined the system instruction.
    assert "# Environment" in out["systemInstruction"]["parts"][0]["text"]
    # On Gemini 3 a call with no signature of its own gets Google's documented placeholder.
    out3 = build_gemini_request(body, "gemini-3-pro-preview")
    assert out3["contents"][1]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE


def test_claude_code_thinking_budget() -> None:
    body = read_json(CLAUDE_CODE_DIR / "thinking_budget.json")
    out = build_gemini_request(body, "gemini-2.5-flash")
    assert out["generationConfig"]["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 4000}


def test_claude_code_model_probe() -> None:
    out = build_gemini_request(read_json(CLAUDE_CODE_DIR / "model_probe.json"), "gemini-2.5-flash")
    assert out["generationConfig"] == {"maxOutputTokens": 1}
    assert "tools" not in out


# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("thinking", "output_config", "model", "expected"),
    [
        (None, None, "gemini-2.5-pro", None),
        ({"type": "disabled"}, {"effort": "high"}, "gemini-2.5-pro", None),
        ({"type": "enabled", "budget_tokens": 1024}, None, "gemini-2.5-pro", {"thinkingBudget": 1024}),
        ({"type": "enabled", "budget_tokens": 99999}, None, "gemini-2.5-pro", {"thinkingBudget": 32768}),
        ({"type": "enabled", "budget_tokens": 99999}, None, "gemini-2.5-flash", {"thinkingBudget": 24576}),
        ({"type": "enabled"}, None, "gemini-2.5-pro", {"thinkingBudget": -1}),
        ({"type": "enabled", "budget_tokens": 2000}, None, "gemini-3-pro-preview", {"thinkingBudget": 2000}),
        ({"type": "adaptive"}, None, "gemini-2.5-pro", {"thinkingBudget": -1}),
        ({"type": "adaptive"}, {"effort": "low"}, "gemini-2.5-pro", {"thinkingBudget": 1024}),
        ({"type": "adaptive"}, {"effort": "medium"}, "gemini-2.5-flash", {"thinkingBudget": 8192}),
        ({"type": "adaptive"}, {"effort": "max"}, "gemini-2.5-flash", {"thinkingBudget": 24576}),
        ({"type": "adaptive"}, {"effort": "bogus"}, "gemini-2.5-pro", {"thinkingBudget": -1}),
        ({"type": "adaptive"}, None, "gemini-3-pro-preview", {}),
        ({"type": "adaptive"}, {"effort": "high"}, "gemini-3-pro-preview", {"thinkingLevel": "high"}),
        ({"type": "adaptive"}, {"effort": "medium"}, "gemini-3-pro-preview", {}),
        ({"type": "adaptive"}, {"effort": "minimal"}, "gemini-3-pro-preview", {"thinkingLevel": "low"}),
        ({"type": "adaptive"}, {"effort": "minimal"}, "gemini-3-flash-preview", {"thinkingLevel": "minimal"}),
        ({"type": "adaptive"}, {"effort": "xhigh"}, "gemini-3.1-pro", {"thinkingLevel": "high"}),
    ],
)
def test_thinking_config(thinking: Any, output_config: Any, model: str, expected: dict[str, Any] | None) -> None:
    config = thinking_config(thinking, output_config, model)
    assert config == (None if expected is None else {"includeThoughts": True, **expected})


@pytest.mark.parametrize(
    ("model", "later"),
    [
        ("gemini-2.5-pro", False),
        ("gemini-2.0-flash", False),
        ("gemini-3-pro-preview", True),
        ("gemini-3.1-flash-lite", True),
        ("models/gemini-10-ultra", True),
        ("gemini-flash-latest", False),
    ],
)
def test_gemini_3_detection(model: str, later: bool) -> None:
    assert is_gemini_3_or_later(model) is later


def test_consecutive_turns_of_one_role_are_merged_and_empty_ones_dropped() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": ""}]},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": []},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]},
        ]
    }
    assert build_gemini_request(body, "gemini-2.5-pro")["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]},
    ]


def test_a_carried_signature_before_a_thought_is_kept_on_its_own_part() -> None:
    content = [
        {"type": "thinking", "thinking": "", "signature": "ccrouter-gemini:A"},
        {"type": "thinking", "thinking": "then this", "signature": "ccrouter-gemini:B"},
        {"type": "thinking", "thinking": "", "signature": "ccrouter-gemini:C"},
        {"type": "thinking", "thinking": "", "signature": "ccrouter-gemini:D"},
        {"type": "tool_use", "id": "t", "name": "f", "input": None},
    ]
    body = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}
    assert build_gemini_request(body, "gemini-2.5-pro")["contents"][1]["parts"] == [
        {"text": "", "thoughtSignature": "A"},
        {"text": "then this", "thought": True, "thoughtSignature": "B"},
        {"text": "", "thoughtSignature": "C"},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "D"},
    ]


def test_unknown_tool_choice_and_choice_of_an_undeclared_tool() -> None:
    tools = [{"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "string"}}}}]
    base = {"messages": [{"role": "user", "content": "q"}], "tools": tools}
    assert "toolConfig" not in build_gemini_request({**base, "tool_choice": {"type": "weird"}}, "g")
    assert "toolConfig" not in build_gemini_request({**base, "tool_choice": "auto"}, "g")
    out = build_gemini_request({**base, "tool_choice": {"type": "tool", "name": "nope"}}, "g")
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_tool_search_references_become_text() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "find a tool"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "tool_reference", "tool_name": "WebFetch"}, {"type": "weird"}],
                    }
                ],
            },
        ]
    }
    assert build_gemini_request(body, "g")["contents"][2]["parts"] == [
        {"functionResponse": {"name": "ToolSearch", "response": {"output": "(tool WebFetch is now available)"}}}
    ]
