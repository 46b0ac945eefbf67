"""The subagent tag never reaches a provider, whichever routing rule decides (it is taken out before routing).

Drives the gateway itself (no HTTP) with a `Transport` that records what would have gone over the network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.config.loading import parse_config
from ccrouter.config.model import Config
from ccrouter.gateway.journey import Gateway
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.runtime import Runtime
from ccrouter.gateway.subagent import take_subagent_tag
from ccrouter.providers.base import ForwardRequest

TAG = "<CCR-SUBAGENT-MODEL>aux,web</CCR-SUBAGENT-MODEL>"
COMPLETION = {
    "id": "c1",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}


class Answer:
    def __init__(self) -> None:
        self.status = 200
        self.headers = {"content-type": "application/json"}

    async def read(self) -> bytes:
        return orjson.dumps(COMPLETION)

    async def next_chunk(self) -> bytes:
        return b""

    async def chunks(self) -> AsyncIterator[bytes]:
        return
        yield b""

    def close(self) -> None:
        pass


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[ForwardRequest] = []

    async def post(
        self, request: ForwardRequest, provider_name: str, timeout_ms: int, proxy_url: str | None = None
    ) -> Answer:
        self.sent.append(request)
        return Answer()


def make_config(tmp_path: Path, **extra: Any) -> Config:
    data = {
        "LOG": False,
        "Providers": [
            {"name": "main", "api_base_url": "http://127.0.0.1:1/v1", "models": ["m-default", "m-long"]},
            {"name": "aux", "api_base_url": "http://127.0.0.1:2/v1", "models": ["web", "small"]},
        ],
        "Router": {"default": "main,m-default", "longContext": "main,m-long", "longContextThreshold": 1000},
        **extra,
    }
    return parse_config(json.dumps(data), {}, tmp_path / "config.json")


def ask(config: Config, **fields: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """The routing headers of the answer, and the body the provider was sent."""
    transport = RecordingTransport()
    gateway = Gateway(Runtime(config), transport, Logger(None))
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "You are Claude Code."}, {"type": "text", "text": f"{TAG}\nReview."}],
        "messages": [{"role": "user", "content": "go"}],
        **fields,
    }
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(gateway.messages({}, orjson.dumps(body), send))
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert sent[0]["status"] == 200, sent
    (forwarded,) = transport.sent
    return headers, orjson.loads(forwarded.body)


@pytest.mark.parametrize(
    ("fields", "scenario", "model"),
    [
        ({}, "subagent", "web"),
        ({"model": "aux,small"}, "explicit", "small"),
        ({"model": "claude-ccr/route/longContext"}, "longContext", "m-long"),  # a route picked in /model
        ({"model": "custom-please"}, "custom", "small"),
    ],
)
def test_the_tag_is_removed_whichever_rule_decides(
    tmp_path: Path, fields: dict[str, Any], scenario: str, model: str
) -> None:
    router_file = tmp_path / "custom_router.py"
    router_file.write_text(
        "def router(request, config):\n    return 'aux,small' if request['model'] == 'custom-please' else None\n"
    )
    headers, forwarded = ask(make_config(tmp_path, CUSTOM_ROUTER_PATH=str(router_file)), **fields)
    assert (headers["x-ccr-route"], headers["x-ccr-model"]) == (scenario, model)
    assert forwarded["model"] == model
    assert "CCR-SUBAGENT" not in json.dumps(forwarded)
    assert forwarded["messages"][0] == {"role": "system", "content": "You are Claude Code.\n\nReview."}


def test_a_tag_naming_nothing_usable_is_removed_too(tmp_path: Path) -> None:
    body = {
        "system": [
            {"type": "text", "text": "x"},
            {"type": "text", "text": "<CCR-SUBAGENT-MODEL>zz,yy</CCR-SUBAGENT-MODEL>rest"},
        ]
    }
    assert take_subagent_tag(body) == "zz,yy"
    assert body["system"][1]["text"] == "rest"


@pytest.mark.parametrize(
    "system",
    [
        "<CCR-SUBAGENT-MODEL>aux,web</CCR-SUBAGENT-MODEL> a string system prompt",
        [{"type": "text", "text": "x"}, {"type": "text", "text": "text before <CCR-SUBAGENT-MODEL>aux,web"}],
        [{"type": "text", "text": "x"}, {"type": "text", "text": "<CCR-SUBAGENT-MODEL>aux,web never closed"}],
    ],
)
def test_only_a_tag_where_claude_code_puts_it_counts(system: Any) -> None:
    body = {"system": system}
    before = json.dumps(body)
    assert take_subagent_tag(body) is None and json.dumps(body) == before


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_the_tag_counts_at_the_start_of_any_system_block(index: int) -> None:
    """Claude Code 2.1.332 puts an agent's prompt in system[2] (after the attribution and identity blocks)."""
    system = [{"type": "text", "text": f"block {i}"} for i in range(4)]
    system[index]["text"] = "\n<CCR-SUBAGENT-MODEL>aux,web</CCR-SUBAGENT-MODEL>\nYou list files."
    body = {"system": system}
    assert take_subagent_tag(body) == "aux,web"
    assert body["system"][index]["text"] == "\nYou list files."
    assert "CCR-SUBAGENT-MODEL" not in json.dumps(body)


def test_a_tag_in_the_messages_never_counts() -> None:
    tag = "<CCR-SUBAGENT-MODEL>aux,web</CCR-SUBAGENT-MODEL>"
    body = {
        "system": [{"type": "text", "text": "x"}, {"type": "text", "text": "You are an agent."}],
        "messages": [
            {"role": "user", "content": f"{tag} do it"},
            {"role": "system", "content": f"{tag} an environment note"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": f"{tag} file text"}]},
        ],
    }
    before = json.dumps(body)
    assert take_subagent_tag(body) is None and json.dumps(body) == before
