"""Fixture cases for the OpenAI Responses translation tests, and a reviewer-driven way to update them.

Each folder under tests/fixtures/openai_responses/ is one case, recognised by its input file:

- `anthropic_request.json` -> `expected_responses_request.json` (optional `options.json`: {"summary": null})
- `responses_response.json` -> `expected_anthropic.json`
- `responses_stream.sse` (raw bytes as the provider sends them) -> `expected_events.jsonl` (one `{"event", "data"}`
  per line), `expected_state.json` (usage, stop_reason) and `expected_sdk_message.json` (what the official
  anthropic SDK's `messages.stream` makes of the events)

Run `python -m tests.support.openai_responses_cases` to see what the code produces now: for every expected file that is
missing or differs it writes `<expected>.new` beside it and never touches the expected file itself. Review the
`.new` file, then rename it over the expected one by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from openai.types.responses import response_create_params
from pydantic import TypeAdapter, ValidationError

from ccrouter.providers.openai_responses.adapter import ResponsesStreamTranslator
from ccrouter.providers.openai_responses.request import build_responses_request
from ccrouter.providers.openai_responses.response import response_to_message
from ccrouter.providers.openai_responses.stream import ResponsesStreamState
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    cases_in,
    counter_ids,
    dump_json,
    feed_all,
    keys_anywhere,
    read_json,
    read_options,
    reads_of_events,
    stream_files,
    translated_files,
    write_proposals,
)
from tests.support.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "openai_responses"
MODEL = "gpt-test"

REQUEST_TYPES: TypeAdapter[Any] = TypeAdapter(
    response_create_params.ResponseCreateParamsStreaming | response_create_params.ResponseCreateParamsNonStreaming
)


def cases(input_name: str) -> list[Path]:
    return cases_in(FIXTURES, input_name)


def translate_request(case: Path) -> dict[str, Any]:
    opts = read_options(case)
    body = read_json(case / "anthropic_request.json")
    return build_responses_request(body, opts.get("model", MODEL), summary=opts.get("summary", "auto"))


def translate_response(case: Path) -> dict[str, Any]:
    return response_to_message(read_json(case / "responses_response.json"), MODEL, INPUT_TOKENS, counter_ids())


def stream_bytes(case: Path) -> bytes:
    return (case / "responses_stream.sse").read_bytes()


def stream_reads(case: Path) -> list[bytes]:
    """The provider's stream as separate reads, one SSE event each (as a provider pacing its tokens sends it)."""
    return reads_of_events(stream_bytes(case))


def stream_events(case: Path) -> list[dict[str, Any]]:
    """The provider's events, parsed (for validating them against the openai SDK's types)."""
    return [orjson.loads(line[6:]) for line in stream_bytes(case).splitlines() if line.startswith(b"data: {")]


def run_stream(pieces: Iterable[bytes]) -> tuple[bytes, ResponsesStreamTranslator]:
    """Feed the pieces to a fresh translator, then finish it; returns the Anthropic SSE bytes."""
    translator = ResponsesStreamTranslator(ResponsesStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    return feed_all(translator, pieces), translator


def request_errors(request: dict[str, Any]) -> str:
    """Why the openai SDK's request types refuse `request` ("" when they accept it, every key known to them).

    Pydantic ignores keys a TypedDict does not declare and validates `Iterable` fields lazily, so the validated
    value is walked in full and must equal the input: an unknown key or a coerced value makes them differ.
    """
    try:
        validated = _materialise(REQUEST_TYPES.validate_python(request))
    except ValidationError as exc:
        return str(exc)[:3000]
    if validated != request:
        return (
            "keys or values the SDK types do not know:\n" + dump_json(request).decode() + dump_json(validated).decode()
        )
    return ""


ANTHROPIC_ONLY = frozenset(
    {
        "cache_control",
        "context_management",
        "output_config",
        "metadata",
        "defer_loading",
        "thinking",
        "safeguards",
        "stop_sequences",
        "input_schema",
        "tool_use_id",
        "is_error",
        "signature",
        "budget_tokens",
    }
)


def keys_outside_schemas(request: dict[str, Any]) -> set[str]:
    """Every key in the request except inside tool parameter schemas (which may name a property anything)."""
    tools = [{k: v for k, v in tool.items() if k != "parameters"} for tool in request.get("tools", [])]
    text = request.get("text", {})
    return keys_anywhere({**request, "tools": tools, "text": {**text, "format": {}}})


def _materialise(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _materialise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, Iterator)) or type(value).__name__ == "ValidatorIterator":
        return [_materialise(item) for item in value]
    return value


def produced(case: Path) -> dict[str, bytes]:
    """Expected file name -> the bytes the code produces now, for every input the case has."""
    files = translated_files(
        case,
        {
            "anthropic_request.json": ("expected_responses_request.json", translate_request),
            "responses_response.json": ("expected_anthropic.json", translate_response),
        },
    )
    if (case / "responses_stream.sse").exists():
        files.update(stream_files(*run_stream(stream_reads(case))))
    return files


if __name__ == "__main__":
    sys.exit(write_proposals(FIXTURES, produced))
