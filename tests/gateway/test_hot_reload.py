"""Config changes without a restart, as the real service picks them up from its config file: a valid change applies
to new requests while a stream in flight finishes on the config it started with; an invalid change, or one that
needs a restart, keeps the old config serving."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply, openai_text_stream
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider, sdk_client


def served_by(received: Received) -> Scripted:
    return openai_text_reply(f"served by {received.body['model']}", bool(received.body.get("stream")))


def config_with_default(upstream: ScriptedUpstream, model: str, **extra: Any) -> dict[str, Any]:
    return {
        "Providers": [openai_provider(upstream, models=["model-a", "model-b"])],
        "Router": {"default": f"fake,{model}"},
        **extra,
    }


def wait_for_log(router: RouterProcess, message: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in router.log_records() if r["msg"].startswith(message)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line {message!r} within {timeout} s: {router.log_records()}")


def ask(router: RouterProcess) -> httpx.Response:
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == f"served by {response.headers['x-ccr-model']}"
    return response


def start_slow_stream(upstream: ScriptedUpstream, router: RouterProcess) -> tuple[threading.Thread, dict[str, Any]]:
    """A stream of ~2.5 s in a thread, so a config change can land while it is in flight."""
    slow = openai_text_stream("slow stream done", pieces=8)
    slow.delay = 0.25
    upstream.queue(slow)
    outcome: dict[str, Any] = {}

    def stream_in_flight() -> None:
        with sdk_client(router.url).messages.stream(
            model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "long"}]
        ) as stream:
            outcome["headers"] = stream.response.headers
            outcome["message"] = stream.get_final_message()

    worker = threading.Thread(target=stream_in_flight)
    worker.start()
    time.sleep(0.5)
    return worker, outcome


def test_valid_change_applies_to_new_requests_while_a_stream_finishes_on_the_old(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = served_by
    router = start_router(config_with_default(upstream, "model-a"))
    worker, outcome = start_slow_stream(upstream, router)
    router.write_config(config_with_default(upstream, "model-b"))
    reloaded = wait_for_log(router, "config reloaded")
    assert reloaded[0]["routes"] == {"default": "fake,model-b"}
    assert worker.is_alive(), "the stream should still be in flight when the reload lands"
    after = ask(router)
    assert after.headers["x-ccr-model"] == "model-b"
    worker.join(15)
    assert outcome["message"].content[0].text == "slow stream done"
    assert outcome["headers"]["x-ccr-model"] == "model-a"
    assert [r.body["model"] for r in upstream.received] == ["model-a", "model-b"]


def test_invalid_change_keeps_the_old_config_and_logs_the_exact_error(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.default = served_by
    router = start_router(config_with_default(upstream, "model-a"))
    worker, outcome = start_slow_stream(upstream, router)
    broken = config_with_default(upstream, "model-a")
    broken["Router"]["default"] = "fake"  # the classic: no comma
    router.write_config(broken)
    errors = wait_for_log(router, "config change not applied")
    assert "Router.default" in errors[0]["error"] and '"provider,model"' in errors[0]["error"]
    assert worker.is_alive(), "the stream should still be in flight when the change lands"
    assert ask(router).headers["x-ccr-model"] == "model-a"
    worker.join(15)
    assert outcome["message"].content[0].text == "slow stream done"
    router.write_config(config_with_default(upstream, "model-a", PORT=router.port + 1))
    errors = wait_for_log(router, "config change not applied", count=2)
    assert "ccr restart" in errors[1]["error"] and "PORT" in errors[1]["error"]
    assert ask(router).headers["x-ccr-model"] == "model-a"
    router.write_config(config_with_default(upstream, "model-b"))
    wait_for_log(router, "config reloaded")
    assert ask(router).headers["x-ccr-model"] == "model-b"
