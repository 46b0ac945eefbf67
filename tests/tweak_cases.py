"""Fixture cases for the tweaks (CCR's transformer names), driven through the real adapter.

Each folder under tests/fixtures/tweaks/ is one case:

- `uses.json`: `{"transformer": <the provider's transformer block, as in config.json>, "model": "<model>"}`; the
  block goes through config loading (names, options, per-model lists), then into `OpenAIChatAdapter`
- `anthropic_request.json` -> `expected_openai_request.json` (the body the provider receives)
- `openai_response.json` -> `expected_anthropic.json`
- `openai_stream.jsonl` (one chunk per line, each its own read) -> `expected_events.jsonl` and
  `expected_sdk_message.json` (what the official anthropic SDK makes of the events)

Run `python tests/tweak_cases.py` to see what the code produces now: like tests/openai_chat_cases.py, it writes
`<expected>.new` beside every expected file that is missing or differs, for review; it never changes one itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ccrouter.config import Provider, Target, parse_config
from ccrouter.providers.base import RequestContext, StreamTranslator
from ccrouter.providers.openai_chat import OpenAIChatAdapter
from tests.openai_chat_cases import (
    INPUT_TOKENS,
    counter_ids,
    decode_events,
    read_json,
    read_jsonl,
    sdk_message,
    stream_reads,
)

FIXTURES = Path(__file__).parent / "fixtures" / "tweaks"
MODEL = "test-model"


def cases(input_name: str) -> list[Path]:
    return sorted(path.parent for path in FIXTURES.glob(f"*/{input_name}"))


def provider_for(transformer: dict[str, Any], model: str = MODEL) -> Provider:
    """A provider with this transformer block, loaded as config.json would be."""
    models = [model, *(key for key in transformer if key not in ("use", model))]
    config = {
        "Providers": [
            {
                "name": "tweaked",
                "api_base_url": "https://provider.test/v1/chat/completions",
                "api_key": "sk-tweak-test-123456",
                "models": models,
                "transformer": transformer,
            }
        ],
        "Router": {"default": f"tweaked,{model}"},
    }
    provider = parse_config(orjson.dumps(config).decode(), {}).provider("tweaked")
    assert provider is not None
    return provider


def setup(case: Path) -> tuple[OpenAIChatAdapter, Target]:
    uses = read_json(case / "uses.json")
    model = uses.get("model", MODEL)
    provider = provider_for(uses["transformer"], model)
    adapter = OpenAIChatAdapter(provider, provider.transformers_for(model), make_id=counter_ids())
    return adapter, Target(provider, model)


def context(target: Target, stream: bool) -> RequestContext:
    return RequestContext("req-tweak", target, stream, INPUT_TOKENS)


def translate_request(case: Path) -> dict[str, Any]:
    adapter, target = setup(case)
    body = read_json(case / "anthropic_request.json")
    request = adapter.build_request(body, context(target, bool(body.get("stream"))))
    result: dict[str, Any] = orjson.loads(request.body)
    return result


def translate_response(case: Path) -> dict[str, Any]:
    adapter, target = setup(case)
    reply = adapter.parse_reply((case / "openai_response.json").read_bytes(), context(target, False))
    result: dict[str, Any] = orjson.loads(reply.body)
    return result


def run_stream(case: Path, pieces: Iterable[bytes]) -> tuple[bytes, StreamTranslator]:
    adapter, target = setup(case)
    translator = adapter.stream_translator(context(target, True))
    out = b"".join(translator.feed(piece) for piece in pieces) + translator.finish()
    return out, translator


def translate_stream(case: Path) -> list[dict[str, Any]]:
    return decode_events(run_stream(case, stream_reads(case))[0])


def produced(case: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if (case / "anthropic_request.json").exists():
        files["expected_openai_request.json"] = _dump(translate_request(case))
    if (case / "openai_response.json").exists():
        files["expected_anthropic.json"] = _dump(translate_response(case))
    if (case / "openai_stream.jsonl").exists():
        out, _ = run_stream(case, stream_reads(case))
        files["expected_events.jsonl"] = b"".join(orjson.dumps(e) + b"\n" for e in decode_events(out))
        files["expected_sdk_message.json"] = _dump(sdk_message(out))
    return files


def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n"


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
