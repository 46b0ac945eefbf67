"""A custom router that fails in any way (an answer whose `==` raises, SystemExit, KeyboardInterrupt, a
CancelledError of its own) is "the custom router failed": logged, ignored, and the request routed by the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.streams import REQUEST
from tests.support.fake_upstream import ScriptedUpstream, openai_text_reply
from tests.support.inprocess import ServeRouter
from tests.support.router_setup import LOOPBACK, openai_provider

ROUTERS = {
    "eq_raises": """
class Weird(str):
    def __eq__(self, other):
        raise RuntimeError("no comparing me")
    __hash__ = str.__hash__

class Odd:
    def __eq__(self, other):
        raise RuntimeError("no comparing me")
    def __repr__(self):
        raise RuntimeError("no showing me")

def router(request, config):
    return Odd()
""",
    "str_eq_raises": """
class Weird(str):
    def __eq__(self, other):
        raise RuntimeError("no comparing me")
    def __contains__(self, item):
        raise RuntimeError("no looking in me")
    __hash__ = str.__hash__

def router(request, config):
    return Weird("fake,other-model")
""",
    "system_exit": """
import sys
def router(request, config):
    sys.exit(3)
""",
    "keyboard_interrupt": """
def router(request, config):
    raise KeyboardInterrupt
""",
    "cancelled_sync": """
import asyncio
def router(request, config):
    raise asyncio.CancelledError()
""",
    "cancelled_async": """
import asyncio
async def router(request, config):
    raise asyncio.CancelledError()
""",
    "system_exit_async": """
async def router(request, config):
    raise SystemExit(1)
""",
}


@pytest.mark.parametrize("kind", sorted(ROUTERS))
def test_a_failing_custom_router_falls_back_to_the_rules(
    upstream: ScriptedUpstream, serve_router: ServeRouter, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"router_{kind}.py"
    path.write_text(ROUTERS[kind])
    upstream.default = lambda received: openai_text_reply(f"served by {received.body['model']}", False)
    config = {
        "Providers": [openai_provider(upstream, models=["fake-model", "other-model"])],
        "Router": {"default": "fake,fake-model"},
        "CUSTOM_ROUTER_PATH": str(path),
    }
    router = serve_router(config)
    response = LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, timeout=20)
    assert response.status_code == 200, response.text
    if kind == "str_eq_raises":  # a str, however odd: its text is the choice
        assert response.json()["content"][0]["text"] == "served by other-model"
        return
    assert response.json()["content"][0]["text"] == "served by fake-model"
    assert response.headers["x-ccr-route"] == "default"
    warnings = [r for r in router.log_records() if r["msg"].startswith("custom router")]
    assert warnings and warnings[0]["level"] == "warn", router.log_records()
