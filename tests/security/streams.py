"""Shared by the security tests: providers of each wire format on a scripted upstream, and a raw stream reader."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_setup import LOOPBACK
from tests.support.served_router import ServedRouter

PROVIDER_KEY = "sk-prov-0123456789-SECRET"
REQUEST = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
WIRE_FORMATS = ("openai", "gemini", "responses", "anthropic")


def provider(upstream: ScriptedUpstream, wire: str, name: str = "prov", key: str = PROVIDER_KEY) -> dict[str, Any]:
    """A provider of wire format `wire` on `upstream`, with model "m" and key `key`."""
    base: dict[str, Any] = {"name": name, "api_key": key, "models": ["m"]}
    if wire == "openai":
        return {**base, "api_base_url": f"{upstream.url}/v1/chat/completions"}
    if wire == "gemini":
        return {**base, "api_base_url": f"{upstream.url}/v1beta/models/", "transformer": {"use": ["gemini"]}}
    if wire == "responses":
        return {**base, "api_base_url": f"{upstream.url}/v1/responses", "transformer": {"use": ["openai-responses"]}}
    return {**base, "api_base_url": f"{upstream.url}/v1/messages", "transformer": {"use": ["Anthropic"]}}


def single_provider_config(upstream: ScriptedUpstream, wire: str, **extra: Any) -> dict[str, Any]:
    return {"Providers": [provider(upstream, wire)], "Router": {"default": "prov,m"}, **extra}


def read_stream(router: ServedRouter, deadline_s: float = 20.0) -> tuple[int, str, bool]:
    """POST a streaming request; (status, the body read, whether the stream ended within `deadline_s` in all).

    Pings keep each read short, so the deadline is checked between reads rather than left to a read time-out."""
    ends_at = time.monotonic() + deadline_s
    parts: list[bytes] = []
    with LOOPBACK.stream(
        "POST", router.url + "/v1/messages", json={**REQUEST, "stream": True}, timeout=deadline_s
    ) as response:
        for chunk in response.iter_raw():
            parts.append(chunk)
            if time.monotonic() > ends_at:
                return response.status_code, b"".join(parts).decode(), False
        return response.status_code, b"".join(parts).decode(), True


def sse_events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events
