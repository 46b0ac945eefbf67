"""Hot reload outlives any bad config version: a file that is not UTF-8 (or any error that is not a ConfigError)
is logged once, the previous config keeps serving, and the next valid change still applies."""

from __future__ import annotations

import time
from typing import Any

from tests.security.streams import REQUEST
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.waiting import wait_until


def served_by(received: Received) -> Scripted:
    return openai_text_reply(f"served by {received.body['model']}", bool(received.body.get("stream")))


def config_with_default(upstream: ScriptedUpstream, model: str) -> dict[str, Any]:
    return {
        "Providers": [openai_provider(upstream, models=["model-a", "model-b"])],
        "Router": {"default": f"fake,{model}"},
    }


def answer_of(router: RouterProcess) -> str:
    response = LOOPBACK.post(router.url + "/v1/messages", json=REQUEST, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["content"][0]["text"])


def test_a_config_that_is_not_utf8_does_not_stop_hot_reload(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = served_by
    router = start_router(config_with_default(upstream, "model-a"))
    assert answer_of(router) == "served by model-a"

    router.config_path.write_bytes(b'{"Router": {"default": "fake,model-\xff"}}')  # Latin-1, not UTF-8
    wait_until(
        lambda: any(r["level"] == "error" for r in router.log_records()),
        "the error line for the bad file",
        explain=router.log_records,
    )
    time.sleep(1.2)  # more polls of the same bad version: still one error line for it
    assert answer_of(router) == "served by model-a"

    router.write_config(config_with_default(upstream, "model-b"))
    wait_until(
        lambda: any(r["msg"] == "config reloaded" for r in router.log_records()),
        "the config reloaded line",
        explain=router.log_records,
    )
    assert answer_of(router) == "served by model-b"

    errors = [r for r in router.log_records() if r["level"] == "error"]
    assert len(errors) == 1, errors
    assert "is not UTF-8 text" in errors[0]["error"], errors[0]
