"""Every recorded request case of every translating format, replayed the same ways: the Anthropic request of each
case translates to exactly the expected provider request, one the provider accepts with nothing Anthropic-only
left in it, and the client's body is never modified. What each format does beyond its fixtures is tested in
tests/providers/test_<format>_request.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ccrouter.providers.gemini.request import build_gemini_request
from ccrouter.providers.openai_chat.request import build_chat_request
from ccrouter.providers.openai_responses.request import build_responses_request
from tests.support import gemini_cases, openai_chat_cases, openai_responses_cases
from tests.support.fixture_cases import read_json

Request = dict[str, Any]


@dataclass(frozen=True)
class RequestFormat:
    name: str
    cases: list[Path]
    fewest_cases: int
    expected_file: str
    translate: Callable[[Path], Request]  # the case's request, with the case's options
    translate_body: Callable[[Request], Request]  # any body, with the format's defaults
    problems: Callable[[Request], list[str]]  # why the provider would refuse the request (empty when it would not)
    keys: Callable[[Request], set[str]]  # the request's keys, but for names the client chose (schemas, arguments)
    anthropic_only: frozenset[str]


def _responses_problems(request: Request) -> list[str]:
    errors = openai_responses_cases.request_errors(request)
    return [errors] if errors else []


FORMATS = [
    RequestFormat(
        "openai_chat",
        openai_chat_cases.cases("anthropic_request.json"),
        15,
        "expected_openai_request.json",
        openai_chat_cases.translate_request,
        lambda body: build_chat_request(body, "m"),
        openai_chat_cases.request_problems,
        openai_chat_cases.keys_outside_schemas,
        openai_chat_cases.ANTHROPIC_ONLY,
    ),
    RequestFormat(
        "gemini",
        gemini_cases.cases("anthropic_request.json"),
        20,
        "expected_gemini_request.json",
        gemini_cases.translate_request,
        lambda body: build_gemini_request(body, "gemini-2.5-flash"),
        gemini_cases.request_problems,
        gemini_cases.keys_outside_schemas,
        gemini_cases.ANTHROPIC_ONLY,
    ),
    RequestFormat(
        "openai_responses",
        openai_responses_cases.cases("anthropic_request.json"),
        12,
        "expected_responses_request.json",
        openai_responses_cases.translate_request,
        lambda body: build_responses_request(body, openai_responses_cases.MODEL),
        _responses_problems,
        openai_responses_cases.keys_outside_schemas,
        openai_responses_cases.ANTHROPIC_ONLY,
    ),
]
FORMAT_PARAMS = [pytest.param(f, id=f.name) for f in FORMATS]
CASE_PARAMS = [pytest.param(f, case, id=f"{f.name}/{case.name}") for f in FORMATS for case in f.cases]


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_there_are_request_cases(fmt: RequestFormat) -> None:
    assert len(fmt.cases) >= fmt.fewest_cases


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_request_fixture(fmt: RequestFormat, case: Path) -> None:
    assert fmt.translate(case) == read_json(case / fmt.expected_file)


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_request_is_what_the_provider_accepts_and_the_body_is_untouched(fmt: RequestFormat, case: Path) -> None:
    body = read_json(case / "anthropic_request.json")
    before = copy.deepcopy(body)
    for request in (fmt.translate_body(body), fmt.translate(case)):
        assert fmt.problems(request) == []
        assert not fmt.keys(request) & fmt.anthropic_only
    assert body == before
