"""Fixture cases for the OpenAI chat translation tests, and a reviewer-driven way to update them.

Each folder under tests/fixtures/openai_chat/ is one case, recognised by its input file:

- `anthropic_request.json` -> `expected_openai_request.json` (optional `options.json`: {"reasoning_echo": false})
- `openai_response.json` -> `expected_anthropic.json`
- `openai_stream.jsonl` (one chunk per line, sent as `data:` lines) or `stream.sse` (raw bytes) ->
  `expected_events.jsonl` (one `{"event", "data"}` per line), `expected_state.json` (usage, stop_reason) and
  `expected_sdk_message.json` (what the official anthropic SDK's `messages.stream` makes of the events)

Run `python tests/openai_chat_cases.py` to see what the code produces now: for every expected file that is
missing or differs it writes `<expected>.new` beside it and never touches the expected file itself. Review the
`.new` file, then rename it over the expected one by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ccrouter.providers.openai_chat.adapter import ChatStreamTranslator
from ccrouter.providers.openai_chat.request import build_chat_request
from ccrouter.providers.openai_chat.response import completion_to_message
from ccrouter.providers.openai_chat.stream import ChatStreamState
from tests.support.paths import FIXTURES_DIR

if not __package__:  # run as `python tests/openai_chat_cases.py`: the repository root holds the `tests` package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.fixture_cases import (
    INPUT_TOKENS,
    cases_in,
    counter_ids,
    decode_events,
    feed_all,
    read_json,
    read_options,
    reads_of_events,
    stream_files,
    stream_of_chunks,
    translated_files,
    translator_state,
    write_proposals,
)

FIXTURES = FIXTURES_DIR / "openai_chat"
MODEL = "test-model"


def cases(input_name: str) -> list[Path]:
    return cases_in(FIXTURES, input_name)


def translate_request(case: Path) -> dict[str, Any]:
    opts = read_options(case)
    body = read_json(case / "anthropic_request.json")
    return build_chat_request(body, opts.get("model", MODEL), reasoning_echo=opts.get("reasoning_echo", True))


def translate_response(case: Path) -> dict[str, Any]:
    completion = read_json(case / "openai_response.json")
    return completion_to_message(completion, MODEL, INPUT_TOKENS, counter_ids())


def stream_bytes(case: Path) -> bytes:
    """The provider's stream as it comes over the wire."""
    return stream_of_chunks(case, "openai_stream.jsonl", b"\n\n")


def stream_reads(case: Path) -> list[bytes]:
    """The provider's stream as separate reads, one SSE event each (as a provider pacing its tokens sends it)."""
    return reads_of_events(stream_bytes(case))


def run_stream(pieces: Iterable[bytes]) -> tuple[bytes, ChatStreamTranslator]:
    """Feed the pieces to a fresh translator, then finish it; returns the Anthropic SSE bytes."""
    translator = ChatStreamTranslator(ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    return feed_all(translator, pieces), translator


def translate_stream(case: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out, translator = run_stream(stream_reads(case))
    return decode_events(out), translator_state(translator)


def produced(case: Path) -> dict[str, bytes]:
    """Expected file name -> the bytes the code produces now, for every input the case has."""
    files = translated_files(
        case,
        {
            "anthropic_request.json": ("expected_openai_request.json", translate_request),
            "openai_response.json": ("expected_anthropic.json", translate_response),
        },
    )
    if (case / "stream.sse").exists() or (case / "openai_stream.jsonl").exists():
        files.update(stream_files(*run_stream(stream_reads(case))))
    return files


if __name__ == "__main__":
    sys.exit(write_proposals(FIXTURES, produced))


# ----------------------------------------------------------------------------------------------------------
# What a chat completions request may carry, as checks the tests share

ALLOWED_KEYS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "stream",
        "stream_options",
    }
)
ANTHROPIC_ONLY = frozenset(
    {
        "cache_control",
        "defer_loading",
        "metadata",
        "context_management",
        "output_config",
        "safeguards",
        "service_tier",
        "container",
        "mcp_servers",
        "betas",
        "thinking",
        "top_k",
        "system",
        "stop_sequences",
        "input_schema",
    }
)


def request_problems(request: dict[str, Any]) -> list[str]:
    """The top-level fields of `request` that are not chat completions fields ccrouter sends (empty when none)."""
    return [f"{key}: not a field ccrouter sends" for key in request if key not in ALLOWED_KEYS]


def keys_outside_schemas(value: Any) -> set[str]:
    """Every object key anywhere in `value`, outside tool parameter schemas."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key != "parameters":
                found |= keys_outside_schemas(item)
    elif isinstance(value, list):
        for item in value:
            found |= keys_outside_schemas(item)
    return found
