"""Every recorded (non-streamed) response case of every translating format, replayed the same ways: the provider's
response of each case translates to exactly the expected Anthropic message, one the Anthropic SDK accepts, and
the inputs that stand for a well-formed provider response are ones the provider's own SDK accepts. What each
format does beyond its fixtures is tested in tests/providers/test_<format>_response.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.support import gemini_cases, openai_chat_cases, openai_responses_cases
from tests.support.fixture_cases import read_json


@dataclass(frozen=True)
class ResponseFormat:
    name: str
    cases: list[Path]
    input_file: str
    translate: Callable[[Path], dict[str, Any]]
    standard: frozenset[str] | None = None  # the cases whose input is a well-formed provider response
    validate_input: Callable[[Any], object] | None = None  # the provider SDK's own check of a response

    @property
    def standard_cases(self) -> list[Path]:
        return [case for case in self.cases if self.standard is None or case.name in self.standard]


OPENAI_CHAT = openai_chat_cases.cases("openai_response.json")
OPENAI_RESPONSES = openai_responses_cases.cases("responses_response.json")
FORMATS = [
    ResponseFormat(
        "openai_chat",
        OPENAI_CHAT,
        "openai_response.json",
        openai_chat_cases.translate_response,
        # the other cases carry quirks of other servers on purpose
        standard=frozenset(
            {
                "response_text_cached_usage",
                "response_deepseek_reasoning_tool_calls",
                "response_length",
                "response_content_filter_refusal",
            }
        ),
        validate_input=openai.types.chat.ChatCompletion.model_validate,
    ),
    ResponseFormat(
        "gemini", gemini_cases.cases("gemini_response.json"), "gemini_response.json", gemini_cases.translate_response
    ),
    ResponseFormat(
        "openai_responses",
        OPENAI_RESPONSES,
        "responses_response.json",
        openai_responses_cases.translate_response,
        standard=frozenset(c.name for c in OPENAI_RESPONSES) - {"response_no_usage_no_id"},  # a server's quirk
        validate_input=openai.types.responses.Response.model_validate,
    ),
]
FORMAT_PARAMS = [pytest.param(f, id=f.name) for f in FORMATS]
CASE_PARAMS = [pytest.param(f, case, id=f"{f.name}/{case.name}") for f in FORMATS for case in f.cases]
STANDARD_PARAMS = [
    pytest.param(f, case, id=f"{f.name}/{case.name}")
    for f in FORMATS
    if f.validate_input is not None
    for case in f.standard_cases
]


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_there_are_response_cases(fmt: ResponseFormat) -> None:
    assert len(fmt.cases) >= 8
    assert {case.name for case in fmt.cases} >= (fmt.standard or set())


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_response_fixture(fmt: ResponseFormat, case: Path) -> None:
    message = fmt.translate(case)
    assert message == read_json(case / "expected_anthropic.json")
    anthropic.types.Message.model_validate(message)  # a shape the Anthropic SDK accepts


@pytest.mark.parametrize(("fmt", "case"), STANDARD_PARAMS)
def test_standard_inputs_are_real_provider_shapes(fmt: ResponseFormat, case: Path) -> None:
    assert fmt.validate_input is not None
    fmt.validate_input(read_json(case / fmt.input_file))
