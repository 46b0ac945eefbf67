"""Fixture cases for the OpenAI Responses translation tests, and a reviewer-driven way to update them.

Each folder under tests/fixtures/openai_responses/ is one case, recognised by its input file:

- `anthropic_request.json` -> `expected_responses_request.json` (optional `options.json`: {"summary": null})
- `responses_response.json` -> `expected_anthropic.json`
- `responses_stream.sse` (raw bytes as the provider sends them) -> `expected_events.jsonl` (one `{"event", "data"}`
  per line), `expected_state.json` (usage, stop_reason) and `expected_sdk_message.json` (what the official
  anthropic SDK's `messages.stream` makes of the events)

Run `python -m tests.openai_responses_cases` to see what the code produces now: for every expected file that is
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

from ccrouter.providers.openai_responses import ResponsesStreamTranslator
from ccrouter.providers.openai_responses_request import build_responses_request
from ccrouter.providers.openai_responses_response import response_to_message
from ccrouter.providers.openai_responses_stream import ResponsesStreamState
from tests.openai_chat_cases import counter_ids, decode_events, read_json, read_jsonl, sdk_message

FIXTURES = Path(__file__).parent / "fixtures" / "openai_responses"
MODEL = "gpt-test"
INPUT_TOKENS = 42  # the local estimate handed to the translators

REQUEST_TYPES: TypeAdapter[Any] = TypeAdapter(
    response_create_params.ResponseCreateParamsStreaming | response_create_params.ResponseCreateParamsNonStreaming
)


def cases(input_name: str) -> list[Path]:
    return sorted(path.parent for path in FIXTURES.glob(f"*/{input_name}"))


def options(case: Path) -> dict[str, Any]:
    path = case / "options.json"
    return read_json(path) if path.exists() else {}


def translate_request(case: Path) -> dict[str, Any]:
    opts = options(case)
    body = read_json(case / "anthropic_request.json")
    return build_responses_request(body, opts.get("model", MODEL), summary=opts.get("summary", "auto"))


def translate_response(case: Path) -> dict[str, Any]:
    return response_to_message(read_json(case / "responses_response.json"), MODEL, INPUT_TOKENS, counter_ids())


def stream_bytes(case: Path) -> bytes:
    return (case / "responses_stream.sse").read_bytes()


def stream_reads(case: Path) -> list[bytes]:
    """The provider's stream as separate reads, one SSE event each (as a provider pacing its tokens sends it)."""
    events = stream_bytes(case).replace(b"\r\n", b"\n").split(b"\n\n")
    return [event + b"\n\n" for event in events[:-1]] + ([events[-1]] if events[-1] else [])


def stream_events(case: Path) -> list[dict[str, Any]]:
    """The provider's events, parsed (for validating them against the openai SDK's types)."""
    return [orjson.loads(line[6:]) for line in stream_bytes(case).splitlines() if line.startswith(b"data: {")]


def run_stream(pieces: Iterable[bytes]) -> tuple[bytes, ResponsesStreamTranslator]:
    """Feed the pieces to a fresh translator, then finish it; returns the Anthropic SSE bytes."""
    translator = ResponsesStreamTranslator(ResponsesStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    out = b"".join(translator.feed(piece) for piece in pieces) + translator.finish()
    return out, translator


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
        return "keys or values the SDK types do not know:\n" + _dump(request).decode() + _dump(validated).decode()
    return ""


def _materialise(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _materialise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, Iterator)) or type(value).__name__ == "ValidatorIterator":
        return [_materialise(item) for item in value]
    return value


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def _dump_lines(values: list[Any]) -> bytes:
    return b"".join(orjson.dumps(value) + b"\n" for value in values)


def produced(case: Path) -> dict[str, bytes]:
    """Expected file name -> the bytes the code produces now, for every input the case has."""
    files: dict[str, bytes] = {}
    if (case / "anthropic_request.json").exists():
        files["expected_responses_request.json"] = _dump(translate_request(case))
    if (case / "responses_response.json").exists():
        files["expected_anthropic.json"] = _dump(translate_response(case))
    if (case / "responses_stream.sse").exists():
        out, translator = run_stream(stream_reads(case))
        state = {"usage": translator.usage.as_dict(), "stop_reason": translator.stop_reason}
        files["expected_events.jsonl"] = _dump_lines(decode_events(out))
        files["expected_state.json"] = _dump(state)
        files["expected_sdk_message.json"] = _dump(sdk_message(out))
    return files


def _same(path: Path, content: bytes) -> bool:
    if not path.exists():
        return False
    if path.suffix == ".jsonl":
        return read_jsonl(path) == [orjson.loads(line) for line in content.splitlines()]
    return bool(read_json(path) == orjson.loads(content))


def main() -> int:
    written = 0
    for case in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for name, content in produced(case).items():
            target = case / name
            if _same(target, content):
                continue
            proposal = target.with_name(name + ".new")
            proposal.write_bytes(content)
            written += 1
            print(f"{'changed' if target.exists() else 'missing'}: review {proposal.relative_to(FIXTURES)}")
    print(f"{written} file(s) to review" if written else "all expected files match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
