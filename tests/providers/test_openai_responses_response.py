"""OpenAI Responses object -> Anthropic message (openai_responses_response), beyond the fixture cases that
tests/providers/test_response_fixtures.py replays."""

from __future__ import annotations

from typing import Any

import pytest

from ccrouter.providers.base import Usage
from ccrouter.providers.openai_responses.response import error_text, error_type, read_usage, stop_reason


@pytest.mark.parametrize(
    ("status", "details", "has_calls", "expected"),
    [
        ("completed", None, False, "end_turn"),
        ("completed", None, True, "tool_use"),
        ("incomplete", {"reason": "max_output_tokens"}, False, "max_tokens"),
        ("incomplete", {"reason": "max_output_tokens"}, True, "max_tokens"),
        ("incomplete", {"reason": "content_filter"}, False, "refusal"),
        ("incomplete", {"reason": "something_new"}, False, "end_turn"),
        ("incomplete", None, True, "tool_use"),
        (None, None, False, "end_turn"),
    ],
)
def test_stop_reason(status: Any, details: Any, has_calls: bool, expected: str) -> None:
    assert stop_reason(status, details, has_calls) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (None, Usage(7, 0, 0, 0)),
        ({"input_tokens": 100, "output_tokens": 5}, Usage(100, 5, 0, 0)),
        (
            {
                "input_tokens": 100,
                "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 0},
                "output_tokens": 50,
                "output_tokens_details": {"reasoning_tokens": 45},
            },
            Usage(40, 50, 60, 0),
        ),
        (
            {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 30}},
            Usage(60, 0, 10, 30),
        ),
        ({"output_tokens": 9}, Usage(7, 9, 0, 0)),  # no input count: keep the estimate
        ({"input_tokens": True, "output_tokens": -3}, Usage(7, 0, 0, 0)),
    ],
)
def test_read_usage(source: Any, expected: Usage) -> None:
    usage = Usage(input_tokens=7)
    assert read_usage(source, usage) is (source is not None)
    assert usage == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("rate_limit_exceeded", "rate_limit_error"),
        ("server_error", "api_error"),
        ("invalid_prompt", "invalid_request_error"),
        ("image_too_large", "invalid_request_error"),
        ("bio_policy", "invalid_request_error"),
        ("context_length_exceeded", "invalid_request_error"),
        ("something_new", "api_error"),
        (None, "api_error"),
    ],
)
def test_error_type(code: Any, expected: str) -> None:
    assert error_type(code) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "server_error", "message": "Boom."}, "Boom. (server_error)"),
        ({"code": None, "message": "Boom."}, "Boom."),
        ({"code": "x", "message": "code x already in it"}, "code x already in it"),
        ({}, "no details given"),
        (None, "no details given"),
        ("plain", "plain"),
    ],
)
def test_error_text(error: Any, expected: str) -> None:
    assert error_text(error) == expected
