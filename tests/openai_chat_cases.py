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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson

from ccrouter.providers.openai_chat import ChatStreamTranslator
from ccrouter.providers.openai_chat_request import build_chat_request
from ccrouter.providers.openai_chat_response import completion_to_message
from ccrouter.providers.openai_chat_stream import ChatStreamState
from ccrouter.sse import SSEDecoder

FIXTURES = Path(__file__).parent / "fixtures" / "openai_chat"
MODEL = "test-model"
INPUT_TOKENS = 42  # the local estimate handed to the translators


def counter_ids() -> Callable[[], str]:
    """Deterministic ids: gen0001, gen0002, ..."""
    count = 0

    def make_id() -> str:
        nonlocal count
        count += 1
        return f"gen{count:04d}"

    return make_id


def cases(input_name: str) -> list[Path]:
    return sorted(path.parent for path in FIXTURES.glob(f"*/{input_name}"))


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def read_jsonl(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def options(case: Path) -> dict[str, Any]:
    path = case / "options.json"
    return read_json(path) if path.exists() else {}


def translate_request(case: Path) -> dict[str, Any]:
    opts = options(case)
    body = read_json(case / "anthropic_request.json")
    return build_chat_request(body, opts.get("model", MODEL), reasoning_echo=opts.get("reasoning_echo", True))


def translate_response(case: Path) -> dict[str, Any]:
    completion = read_json(case / "openai_response.json")
    return completion_to_message(completion, MODEL, INPUT_TOKENS, counter_ids())


def stream_bytes(case: Path) -> bytes:
    """The provider's stream as it comes over the wire."""
    raw = case / "stream.sse"
    if raw.exists():
        return raw.read_bytes()
    lines = (case / "openai_stream.jsonl").read_bytes().splitlines()
    return b"".join(b"data: " + line + b"\n\n" for line in lines if line.strip())


def stream_reads(case: Path) -> list[bytes]:
    """The provider's stream as separate reads, one SSE event each (as a provider pacing its tokens sends it)."""
    data = stream_bytes(case).replace(b"\r\n", b"\n")
    events = data.split(b"\n\n")
    return [event + b"\n\n" for event in events[:-1]] + ([events[-1]] if events[-1] else [])


def run_stream(pieces: Iterable[bytes]) -> tuple[bytes, ChatStreamTranslator]:
    """Feed the pieces to a fresh translator, then finish it; returns the Anthropic SSE bytes."""
    translator = ChatStreamTranslator(ChatStreamState(MODEL, INPUT_TOKENS, make_id=counter_ids()))
    out = b"".join(translator.feed(piece) for piece in pieces) + translator.finish()
    return out, translator


def decode_events(sse: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    events = decoder.feed(sse) + decoder.close()
    return [{"event": event.event, "data": orjson.loads(event.data)} for event in events]


_JOINABLE = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def joined_deltas(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stream with adjacent deltas of one block joined: what the client reassembles, whatever the
    sizes of the deltas (the translator joins deltas that arrive in one read)."""
    out: list[dict[str, Any]] = []
    for event in events:
        data = event["data"]
        if out and event["event"] == out[-1]["event"] == "content_block_delta":
            last = out[-1]["data"]
            field = _JOINABLE.get(data["delta"]["type"])
            if field and last["index"] == data["index"] and last["delta"]["type"] == data["delta"]["type"]:
                last["delta"][field] += data["delta"][field]
                continue
        out.append({"event": event["event"], "data": orjson.loads(orjson.dumps(data))})
    return out


def translate_stream(case: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out, translator = run_stream(stream_reads(case))
    state = {"usage": translator.usage.as_dict(), "stop_reason": translator.stop_reason}
    return decode_events(out), state


def sdk_message(sse: bytes) -> dict[str, Any]:
    """Run Anthropic SSE bytes through the official SDK's stream accumulator (over a mock transport).

    Returns the final message's main fields, or `{"error": ...}` when the SDK raised on an `error` event.
    """

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="test", base_url="http://gateway.test", http_client=http, max_retries=0)
    try:
        with client.messages.stream(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            for _ in stream:
                pass
            message = stream.get_final_message()
    except anthropic.APIStatusError as exc:
        return {"error": exc.body["error"] if isinstance(exc.body, dict) else exc.body}
    finally:
        http.close()
    usage = message.usage
    return {
        "id": message.id,
        "model": message.model,
        "content": [block.model_dump(mode="json", exclude_none=True) for block in message.content],
        "stop_reason": message.stop_reason,
        "stop_sequence": message.stop_sequence,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        },
    }


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def _dump_lines(values: list[Any]) -> bytes:
    return b"".join(orjson.dumps(value) + b"\n" for value in values)


def produced(case: Path) -> dict[str, bytes]:
    """Expected file name -> the bytes the code produces now, for every input the case has."""
    files: dict[str, bytes] = {}
    if (case / "anthropic_request.json").exists():
        files["expected_openai_request.json"] = _dump(translate_request(case))
    if (case / "openai_response.json").exists():
        files["expected_anthropic.json"] = _dump(translate_response(case))
    if (case / "stream.sse").exists() or (case / "openai_stream.jsonl").exists():
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
