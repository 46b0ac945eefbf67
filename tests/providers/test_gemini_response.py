"""Gemini GenerateContentResponse -> Anthropic message (gemini_response), and the way back for what it carries,
beyond the fixture cases that tests/providers/test_response_fixtures.py replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.providers.base import Usage
from ccrouter.providers.gemini.request import build_gemini_request
from ccrouter.providers.gemini.response import read_usage, response_to_message, stop_reason
from tests.support.fixture_cases import counter_ids, read_json, read_jsonl
from tests.support.gemini_cases import MODEL, cases

RESPONSE_CASES = cases("gemini_response.json")
STREAM_CASES = cases("gemini_stream.jsonl")


# ---------------------------------------------------------------------------------------------------------
# The round trip: what Claude Code sends back on the next turn gives Gemini its own parts again, signatures
# on the parts that carried them.


def canonical(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemini parts as they come back after a round trip: adjacent pieces of one text, or of one unsigned
    thought, joined (as a stream delivers them); parts with no Anthropic counterpart left out."""
    out: list[dict[str, Any]] = []
    for part in parts:
        kept: dict[str, Any] = {k: part[k] for k in ("text", "thoughtSignature") if k in part}
        if "functionCall" in part:
            call = part["functionCall"]
            kept = {"functionCall": {"name": call["name"], "args": call.get("args") or {}}, **kept}
            kept.pop("text", None)
        elif part.get("thought") is True:
            kept["thought"] = True
        if not kept or kept == {"text": ""}:
            continue
        last = out[-1] if out else None
        if last is not None and "functionCall" not in last and "functionCall" not in kept:
            same_text = "thought" not in last and "thought" not in kept and "thoughtSignature" not in kept
            open_thought = last.get("thought") is True and kept.get("thought") is True
            if same_text or (open_thought and "thoughtSignature" not in last):
                last["text"] += kept.get("text", "")
                if "thoughtSignature" in kept:
                    last["thoughtSignature"] = kept["thoughtSignature"]
                continue
        out.append(kept)
    return out


def next_turn_parts(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}
    contents = build_gemini_request(body, MODEL)["contents"]
    return contents[1]["parts"] if len(contents) > 1 else []


@pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda p: p.name)
def test_response_round_trip(case: Path) -> None:
    response = read_json(case / "gemini_response.json")
    original = [p for c in response.get("candidates") or [] for p in (c.get("content") or {}).get("parts", [])]
    content = read_json(case / "expected_anthropic.json")["content"]
    assert next_turn_parts(content) == canonical(original)


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda p: p.name)
def test_stream_round_trip(case: Path) -> None:
    message = read_json(case / "expected_sdk_message.json")
    if "error" in message:
        return  # a failed stream leaves nothing for the next turn
    chunks = read_jsonl(case / "gemini_stream.jsonl")
    original = [
        p for c in chunks for cand in c.get("candidates") or [] for p in cand.get("content", {}).get("parts", [])
    ]
    assert next_turn_parts(message["content"]) == canonical(original)


# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finish", "has_calls", "expected"),
    [
        ("STOP", False, "end_turn"),
        ("STOP", True, "tool_use"),
        (None, True, "tool_use"),
        ("MAX_TOKENS", True, "max_tokens"),
        ("MAX_TOKENS", False, "max_tokens"),
        ("SAFETY", False, "refusal"),
        ("RECITATION", False, "refusal"),
        ("PROHIBITED_CONTENT", True, "refusal"),
        ("OTHER", False, "end_turn"),
        ("SOMETHING_NEW", False, "end_turn"),
        (None, False, "end_turn"),
    ],
)
def test_stop_reason(finish: str | None, has_calls: bool, expected: str) -> None:
    assert stop_reason(finish, has_calls) == expected


def test_usage_follows_anthropic_semantics() -> None:
    usage = Usage(input_tokens=7)
    meta = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 600,
        "toolUsePromptTokenCount": 50,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
    }
    assert read_usage(meta, usage)
    assert usage == Usage(input_tokens=450, output_tokens=50, cache_read_input_tokens=600)
    usage = Usage(input_tokens=7)
    assert read_usage({"candidatesTokenCount": 3}, usage)  # no prompt count: the estimate stays
    assert usage == Usage(input_tokens=7, output_tokens=3)
    assert not read_usage(None, usage)


def test_ids_are_generated_once_and_kept() -> None:
    data = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "a", "args": {}}}, {"functionCall": {"name": "b"}}]},
                "finishReason": "STOP",
            }
        ]
    }
    message = response_to_message(data, MODEL, 0, counter_ids())
    assert [b["id"] for b in message["content"]] == ["toolu_gen0001", "toolu_gen0002"]
    assert message["id"] == "msg_gen0003"
    random_ids = response_to_message(data, MODEL)
    ids = [b["id"] for b in random_ids["content"]]
    assert len(set(ids)) == 2 and all(i.startswith("toolu_") and len(i) > 20 for i in ids)
    assert orjson.loads(orjson.dumps(random_ids)) == random_ids
