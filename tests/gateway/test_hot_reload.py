"""Config changes without a restart, as the real service picks them up from its config file: a valid change applies
to new requests while a stream in flight finishes on the config it started with; an invalid change, or one that
needs a restart (PORT; STATE_URL, STATE_PREFIX and STATE_TIMEOUT_MS, which make the Redis client at start), keeps
the old config serving, and the old Redis with it, with a log line that names the key and `ccr restart` but never
Redis's password."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from ccrouter.config.loading import parse_config
from ccrouter.config.users_section import key_digest
from ccrouter.gateway.reload import restart_only_changes
from tests.ledger.test_service_postgres_ledger import everything_written
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply, openai_text_stream
from tests.support.redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    redis_server_fixture,
    redis_url_fixture,
)
from tests.support.router_process import RouterProcess, free_port
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider, sdk_client

APIKEY = "admin-key-0123456789abcdef"
ANA_KEY = "ccr_ana-0123456789"
REDIS_PASSWORD = "r3dis-Pw-7c41e0"  # must appear in no log line or output
GONE = "shared state (STATE_URL) unreachable"


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


def ask(router: RouterProcess, key: str | None = None) -> httpx.Response:
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": key} if key else {},
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


def sharing_state(redis_url: str, **extra: Any) -> dict[str, Any]:
    """STATE_URL and a user whose rate limit is counted in that Redis (`ccr:rl:ana:*`), to see which Redis serves."""
    ana = {"name": "ana", "key_sha256": key_digest(ANA_KEY), "rate_limit": {"requests_per_minute": 1_000}}
    return {"APIKEY": APIKEY, "STATE_URL": redis_url, "STATE_TIMEOUT_MS": 2000, "Users": [ana], **extra}


def counted_in(redis_server: RedisServer, prefix: str) -> bool:
    """Whether ana's rate limit is counted in `redis_server` under keys starting with `prefix`."""
    return redis_server.command("EXISTS", f"{prefix}rl:ana:at") == b":1"


def test_a_changed_state_url_is_refused_and_the_old_redis_keeps_serving(
    upstream: ScriptedUpstream, start_router: StartRouter, redis_server: RedisServer, redis_url: str
) -> None:
    upstream.default = served_by
    router = start_router(config_with_default(upstream, "model-a", **sharing_state(redis_url)))
    assert ask(router, ANA_KEY).headers["x-ccr-model"] == "model-a" and counted_in(redis_server, "ccr:")
    elsewhere = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"  # nothing listens there
    router.write_config(config_with_default(upstream, "model-b", **sharing_state(elsewhere)))
    error = wait_for_log(router, "config change not applied")[0]["error"]
    assert "STATE_URL" in error and "ccr restart" in error, error
    assert redis_server.command("FLUSHALL") == b"+OK"
    assert ask(router, ANA_KEY).headers["x-ccr-model"] == "model-a"  # the whole save waits for the restart
    assert counted_in(redis_server, "ccr:")  # the old Redis still serves
    assert not [r for r in router.log_records() if r["msg"].startswith(GONE)]
    assert REDIS_PASSWORD not in everything_written(router)


def test_a_changed_state_prefix_or_time_budget_is_refused_and_an_unchanged_state_reloads(
    upstream: ScriptedUpstream, start_router: StartRouter, redis_server: RedisServer, redis_url: str
) -> None:
    upstream.default = served_by
    router = start_router(config_with_default(upstream, "model-a", **sharing_state(redis_url)))
    changed = sharing_state(redis_url, STATE_PREFIX="team-b:", STATE_TIMEOUT_MS=500)
    router.write_config(config_with_default(upstream, "model-b", **changed))
    error = wait_for_log(router, "config change not applied")[0]["error"]
    assert "STATE_PREFIX" in error and "STATE_TIMEOUT_MS" in error and "ccr restart" in error, error
    assert "STATE_URL" not in error and redis_url not in error
    assert ask(router, ANA_KEY).headers["x-ccr-model"] == "model-a"
    assert counted_in(redis_server, "ccr:") and not counted_in(redis_server, "team-b:")
    router.write_config(config_with_default(upstream, "model-b", **sharing_state(redis_url)))
    wait_for_log(router, "config reloaded")
    assert ask(router, ANA_KEY).headers["x-ccr-model"] == "model-b"


def test_which_state_changes_need_a_restart() -> None:
    def state(**keys: Any) -> Any:
        return parse_config(json.dumps(keys), {})

    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    before = state(STATE_URL=url)
    assert restart_only_changes(before, state(STATE_URL=url, STATE_PREFIX="ccr:", STATE_TIMEOUT_MS=50)) == []
    assert restart_only_changes(state(), state(STATE_TIMEOUT_MS=500)) == []  # no Redis: nothing to wait on
    for after, key in [
        (state(STATE_URL=url.replace("6379", "6380")), "STATE_URL"),
        (state(), "STATE_URL"),
        (state(STATE_URL=url, STATE_PREFIX="team-b:"), "STATE_PREFIX"),
        (state(STATE_URL=url, STATE_TIMEOUT_MS=500), "STATE_TIMEOUT_MS"),
    ]:
        reasons = restart_only_changes(before, after)
        assert [reason.split()[0] for reason in reasons] == [key]
        assert REDIS_PASSWORD not in str(reasons)
    assert [reason.split()[0] for reason in restart_only_changes(state(), before)] == ["STATE_URL"]
