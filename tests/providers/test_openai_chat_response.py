"""OpenAI chat completion -> Anthropic message (openai_chat_response), beyond the fixture cases that
tests/providers/test_response_fixtures.py replays."""

from __future__ import annotations

from typing import Any

import pytest

from ccrouter.providers.base import Usage
from ccrouter.providers.openai_chat.response import parse_arguments, read_usage, stop_reason, tool_id


@pytest.mark.parametrize(
    ("finish_reason", "has_calls", "expected"),
    [
        ("stop", False, "end_turn"),
        ("stop", True, "tool_use"),
        ("length", False, "max_tokens"),
        ("length", True, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("tool_calls", False, "tool_use"),
        ("function_call", False, "tool_use"),
        ("content_filter", False, "refusal"),
        ("eos", False, "end_turn"),
        (None, False, "end_turn"),
        (None, True, "tool_use"),
    ],
)
def test_stop_reason(finish_reason: Any, has_calls: bool, expected: str) -> None:
    assert stop_reason(finish_reason, has_calls) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, Usage(7, 0, 0, 0)),
        ({"prompt_tokens": 100, "completion_tokens": 5}, Usage(100, 5, 0, 0)),
        ({"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": None}, Usage(100, 5, 0, 0)),
        (
            {"prompt_tokens": 100, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 60}},
            Usage(40, 5, 60, 0),
        ),
        ({"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 30}, Usage(70, 5, 30, 0)),
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 50},
            },
            Usage(40, 5, 10, 50),
        ),
        ({"completion_tokens": 9}, Usage(7, 9, 0, 0)),  # no prompt count: keep the estimate
        ({"prompt_tokens": True, "completion_tokens": -3}, Usage(7, 0, 0, 0)),
    ],
)
def test_read_usage(source: Any, expected: Usage) -> None:
    usage = Usage(input_tokens=7)
    assert read_usage(source, usage) is (source is not None)
    assert usage == expected


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("", {}),
        ("  ", {}),
        (None, {}),
        ({"already": "parsed"}, {"already": "parsed"}),
        ('{"a": ', {"_raw": '{"a": '}),
        ("[1]", {"_raw": "[1]"}),
        ("null", {"_raw": "null"}),
    ],
)
def test_parse_arguments(arguments: Any, expected: dict[str, Any]) -> None:
    assert parse_arguments(arguments) == expected


@pytest.mark.parametrize(
    ("given", "expected"), [("call_1", "call_1"), (0, "0"), (17, "17"), (None, "toolu_x"), ("", "toolu_x")]
)
def test_tool_id(given: Any, expected: str) -> None:
    assert tool_id(given, lambda: "x") == expected
