"""Fixture cases for the tweaks (CCR's transformer names), driven through the real adapter.

Each folder under tests/fixtures/tweaks/ is one case:

- `uses.json`: `{"transformer": <the provider's transformer block, as in config.json>, "model": "<model>"}`; the
  block goes through config loading (names, options, per-model lists), then into `OpenAIChatAdapter`
- `anthropic_request.json` -> `expected_openai_request.json` (the body the provider receives)
- `openai_response.json` -> `expected_anthropic.json`
- `openai_stream.jsonl` (one chunk per line, each its own read) -> `expected_events.jsonl` and
  `expected_sdk_message.json` (what the official anthropic SDK makes of the events)

Run `python -m tests.support.tweak_cases` to see what the code produces now: like tests/openai_chat_cases.py, it writes
`<expected>.new` beside every expected file that is missing or differs, for review; it never changes one itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Provider, Target
from ccrouter.providers.base import RequestContext, StreamTranslator
from ccrouter.providers.openai_chat.adapter import OpenAIChatAdapter
from tests.support.fixture_cases import (
    INPUT_TOKENS,
    cases_in,
    counter_ids,
    decode_events,
    dump_json,
    dump_jsonl,
    feed_all,
    read_json,
    sdk_message,
    translated_files,
    write_proposals,
)
from tests.support.openai_chat_cases import stream_reads
from tests.support.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "tweaks"
MODEL = "test-model"


def cases(input_name: str) -> list[Path]:
    return cases_in(FIXTURES, input_name)


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
    return feed_all(translator, pieces), translator


def translate_stream(case: Path) -> list[dict[str, Any]]:
    return decode_events(run_stream(case, stream_reads(case))[0])


def produced(case: Path) -> dict[str, bytes]:
    files = translated_files(
        case,
        {
            "anthropic_request.json": ("expected_openai_request.json", translate_request),
            "openai_response.json": ("expected_anthropic.json", translate_response),
        },
    )
    if (case / "openai_stream.jsonl").exists():
        out, _ = run_stream(case, stream_reads(case))
        files["expected_events.jsonl"] = dump_jsonl(decode_events(out))
        files["expected_sdk_message.json"] = dump_json(sdk_message(out))
    return files


if __name__ == "__main__":
    sys.exit(write_proposals(FIXTURES, produced))
