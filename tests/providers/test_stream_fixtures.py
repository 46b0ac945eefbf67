"""Every recorded stream of every translating format, replayed the same ways: as recorded (one read per event),
through the official SDK, in one read, byte by byte, cut in two at many places, with other line endings, and cut
at random. What each format's state machine does beyond its fixtures is tested in tests/test_<format>_stream.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import gemini_cases, openai_chat_cases, openai_responses_cases
from tests.support.fixture_cases import (
    decode_events,
    joined_deltas,
    random_pieces,
    read_json,
    read_jsonl,
    same_stream,
    sdk_message,
    single_bytes,
    translator_state,
)


@dataclass(frozen=True)
class StreamFormat:
    name: str
    cases: list[Path]
    run_stream: Callable[[Iterable[bytes]], tuple[bytes, Any]]
    stream_bytes: Callable[[Path], bytes]
    stream_reads: Callable[[Path], list[bytes]]
    cut_step: Callable[[int], int]  # how far apart the places are where a stream of n bytes is cut in two


FORMATS = [
    StreamFormat(
        "openai_chat",
        sorted({*openai_chat_cases.cases("openai_stream.jsonl"), *openai_chat_cases.cases("stream.sse")}),
        openai_chat_cases.run_stream,
        openai_chat_cases.stream_bytes,
        openai_chat_cases.stream_reads,
        lambda n: 1,  # every boundary
    ),
    StreamFormat(
        "gemini",
        sorted({*gemini_cases.cases("gemini_stream.jsonl"), *gemini_cases.cases("stream.sse")}),
        gemini_cases.run_stream,
        gemini_cases.stream_bytes,
        gemini_cases.stream_reads,
        lambda n: max(1, n // 300),  # Gemini's recorded streams are long
    ),
    StreamFormat(
        "openai_responses",
        openai_responses_cases.cases("responses_stream.sse"),
        openai_responses_cases.run_stream,
        openai_responses_cases.stream_bytes,
        openai_responses_cases.stream_reads,
        lambda n: 7,
    ),
]
FORMAT_PARAMS = [pytest.param(f, id=f.name) for f in FORMATS]
CASE_PARAMS = [pytest.param(f, case, id=f"{f.name}/{case.name}") for f in FORMATS for case in f.cases]


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
def test_there_are_stream_cases(fmt: StreamFormat) -> None:
    assert len(fmt.cases) >= 15


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_stream_fixture(fmt: StreamFormat, case: Path) -> None:
    out, translator = fmt.run_stream(fmt.stream_reads(case))
    assert decode_events(out) == read_jsonl(case / "expected_events.jsonl")
    assert translator_state(translator) == read_json(case / "expected_state.json")


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_stream_through_anthropic_sdk(fmt: StreamFormat, case: Path) -> None:
    """The official SDK's `messages.stream` accepts the events, or raises on the error event."""
    out, _ = fmt.run_stream([fmt.stream_bytes(case)])
    assert sdk_message(out) == read_json(case / "expected_sdk_message.json")


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_stream_in_one_read_joins_deltas_and_keeps_the_content(fmt: StreamFormat, case: Path) -> None:
    whole = decode_events(fmt.run_stream([fmt.stream_bytes(case)])[0])
    expected = read_jsonl(case / "expected_events.jsonl")
    assert whole == joined_deltas(expected)
    deltas = [e for e in whole if e["event"] == "content_block_delta"]
    assert len(deltas) <= len([e for e in expected if e["event"] == "content_block_delta"])


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_stream_split_into_single_bytes(fmt: StreamFormat, case: Path) -> None:
    assert same_stream(fmt.run_stream(single_bytes(fmt.stream_bytes(case)))[0], case)


@pytest.mark.parametrize(("fmt", "case"), CASE_PARAMS)
def test_stream_split_in_two_anywhere_and_line_endings(fmt: StreamFormat, case: Path) -> None:
    data = fmt.stream_bytes(case)
    for cut in range(0, len(data) + 1, fmt.cut_step(len(data))):
        assert same_stream(fmt.run_stream([data[:cut], data[cut:]])[0], case), cut
    lf = data.replace(b"\r\n", b"\n")
    assert same_stream(fmt.run_stream([lf])[0], case)
    assert same_stream(fmt.run_stream([lf.replace(b"\n", b"\r\n")])[0], case)


@pytest.mark.parametrize("fmt", FORMAT_PARAMS)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 10_000))
def test_stream_split_at_random_boundaries(fmt: StreamFormat, seed: int, pick: int) -> None:
    case = fmt.cases[pick % len(fmt.cases)]
    assert same_stream(fmt.run_stream(random_pieces(fmt.stream_bytes(case), seed))[0], case)
