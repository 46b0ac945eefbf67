"""What every fixture-case module (`tests/*_cases.py`) and stream test shares.

- reading a case folder: `cases_in`, `read_json`, `read_jsonl`, `read_options`, a stream kept as JSON lines
  (`stream_of_chunks`), deterministic ids (`counter_ids`), the input-token estimate every case uses (`INPUT_TOKENS`)
- a provider's stream as reads (`reads_of_events`, `single_bytes`, `random_pieces`), and the Anthropic SSE the
  translator made as events (`decode_events`, `joined_deltas`, `same_stream`, `blocks_in_order`)
- what a client makes of that SSE: the official SDK's `messages.stream` (`sdk_message`) or its accumulator
  (`accumulate`)
- the expected files a case's request or reply produces (`translated_files`) and its stream produces
  (`stream_files`), and `write_proposals`: `<expected>.new` beside
  every expected file that is missing or differs, for review; an expected file itself is never touched
- checking what a translated request holds: `keys_anywhere`
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
from anthropic.lib.streaming._messages import accumulate_event

from ccrouter.providers.base import StreamTranslator
from ccrouter.sse import SSEDecoder

SDK_MODEL = "test-model"  # the model the SDK asks for; the message it assembles names the one the events carry
INPUT_TOKENS = 42  # the local estimate every case hands the translators


def counter_ids() -> Callable[[], str]:
    """Deterministic ids: gen0001, gen0002, ..."""
    count = 0

    def make_id() -> str:
        nonlocal count
        count += 1
        return f"gen{count:04d}"

    return make_id


# ---------------------------------------------------------------------------------------------------------
# Case folders


def cases_in(fixtures: Path, input_name: str) -> list[Path]:
    """The case folders under `fixtures` that have the input file `input_name`."""
    return sorted(path.parent for path in fixtures.glob(f"*/{input_name}"))


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def read_jsonl(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def read_options(case: Path) -> dict[str, Any]:
    """The case's `options.json`, or no options."""
    path = case / "options.json"
    return read_json(path) if path.exists() else {}


def stream_of_chunks(case: Path, jsonl_name: str, event_end: bytes) -> bytes:
    """The case's provider stream as it comes over the wire: `stream.sse` as it is, else each line of `jsonl_name`
    (one chunk) as a `data:` event ended by `event_end` (the provider's blank line: `\n\n` or `\r\n\r\n`)."""
    raw = case / "stream.sse"
    if raw.exists():
        return raw.read_bytes()
    lines = (case / jsonl_name).read_bytes().splitlines()
    return b"".join(b"data: " + line + event_end for line in lines if line.strip())


# ---------------------------------------------------------------------------------------------------------
# Streams in, events out


def reads_of_events(data: bytes) -> list[bytes]:
    """A provider's stream as separate reads, one SSE event each (as a provider pacing its tokens sends it)."""
    events = data.replace(b"\r\n", b"\n").split(b"\n\n")
    return [event + b"\n\n" for event in events[:-1]] + ([events[-1]] if events[-1] else [])


def single_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_pieces(data: bytes, seed: int, most_cuts: int = 40) -> list[bytes]:
    """`data` cut at up to `most_cuts` random places (the same ones for the same seed)."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(1, most_cuts))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def feed_all(translator: StreamTranslator, pieces: Iterable[bytes]) -> bytes:
    """Feed the pieces to a translator, then finish it; returns the Anthropic SSE bytes."""
    return b"".join(translator.feed(piece) for piece in pieces) + translator.finish()


def translator_state(translator: StreamTranslator) -> dict[str, Any]:
    """What a translator reports when its stream is over (`expected_state.json`)."""
    return {"usage": translator.usage.as_dict(), "stop_reason": translator.stop_reason}


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


def same_stream(out: bytes, case: Path) -> bool:
    """Whether `out` carries the case's expected events, however its deltas were cut."""
    return joined_deltas(decode_events(out)) == joined_deltas(read_jsonl(case / "expected_events.jsonl"))


def blocks_in_order(events: Iterable[tuple[str, dict[str, Any]]]) -> bool:
    """Whether content blocks never interleave and their indices count up from 0 (Anthropic's rule)."""
    open_index: int | None = None
    expected_next = 0
    for name, data in events:
        if name == "content_block_start":
            if open_index is not None or data["index"] != expected_next:
                return False
            open_index, expected_next = data["index"], expected_next + 1
        elif name in ("content_block_delta", "content_block_stop"):
            if data["index"] != open_index:
                return False
            if name == "content_block_stop":
                open_index = None
    return open_index is None


# ---------------------------------------------------------------------------------------------------------
# Translated requests


def keys_anywhere(value: Any) -> set[str]:
    """Every object key anywhere in `value` (the keys of nested objects and of objects in lists too)."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_anywhere(v)}
    return set()


# ---------------------------------------------------------------------------------------------------------
# What a client makes of the events


def accumulate(events: Iterable[tuple[str, dict[str, Any]]]) -> Any:
    """The message the anthropic SDK's stream accumulator builds from `(name, data)` events."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for _, data in events:
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


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
            model=SDK_MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
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


# ---------------------------------------------------------------------------------------------------------
# Expected files


def dump_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


def dump_jsonl(values: list[Any]) -> bytes:
    return b"".join(orjson.dumps(value) + b"\n" for value in values)


def translated_files(case: Path, translations: Mapping[str, tuple[str, Callable[[Path], Any]]]) -> dict[str, bytes]:
    """Expected file name -> the JSON the code makes now, for each input file the case has; `translations` maps an
    input file's name to its expected file's name and the translation that reads the case."""
    return {
        expected: dump_json(translate(case))
        for input_name, (expected, translate) in translations.items()
        if (case / input_name).exists()
    }


def stream_files(out: bytes, translator: StreamTranslator, sdk_sse: bytes | None = None) -> dict[str, bytes]:
    """The expected files of a stream case: the events `out` holds, the translator's final state, and what the
    SDK makes of `sdk_sse` (`out` unless given)."""
    return {
        "expected_events.jsonl": dump_jsonl(decode_events(out)),
        "expected_state.json": dump_json(translator_state(translator)),
        "expected_sdk_message.json": dump_json(sdk_message(out if sdk_sse is None else sdk_sse)),
    }


def write_proposals(fixtures: Path, produced: Callable[[Path], Mapping[str, bytes]]) -> int:
    """For every case under `fixtures`, `<expected>.new` beside each expected file that is missing or differs from
    what the code `produced` now; prints what to review and returns the exit status (0)."""
    written = 0
    for case in sorted(p for p in fixtures.iterdir() if p.is_dir()):
        for name, content in produced(case).items():
            target = case / name
            if _same(target, content):
                continue
            proposal = target.with_name(name + ".new")
            proposal.write_bytes(content)
            written += 1
            print(f"{'changed' if target.exists() else 'missing'}: review {proposal.relative_to(fixtures)}")
    print(f"{written} file(s) to review" if written else "all expected files match")
    return 0


def _same(path: Path, content: bytes) -> bool:
    if not path.exists():
        return False
    if path.suffix == ".jsonl":
        return read_jsonl(path) == [orjson.loads(line) for line in content.splitlines()]
    return bool(read_json(path) == orjson.loads(content))
