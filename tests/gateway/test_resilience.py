"""Fault injection: every way a provider fails, what the client sees, which targets were tried, and that the
provider saw the cancellation.

Two scripted providers on loopback: `upstream` (the route's target, "primary") and `backup` (its fallback). The
router app is served in this process (`serve_router`), driven by the official anthropic SDK (without its own
retries) or raw HTTP where the bytes matter.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.fake_upstream import (
    Scripted,
    ScriptedUpstream,
    error_reply,
    openai_completion,
    openai_text_stream,
    sse_reply,
)
from tests.support.inprocess import ServeRouter
from tests.support.router_process import free_port
from tests.support.router_setup import LOOPBACK, openai_provider, sdk_client
from tests.support.served_router import ServedRouter

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
FAST_RETRY = {"max_retries": 2, "initial_backoff_ms": 50, "max_backoff_ms": 200}


@pytest.fixture
def backup() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream().start()
    yield server
    server.stop()


def config(primary: ScriptedUpstream, backup: ScriptedUpstream | None = None, **extra: Any) -> dict[str, Any]:
    providers = [openai_provider(primary, "primary", ["p-model"])]
    data: dict[str, Any] = {"Providers": providers, "Router": {"default": "primary,p-model"}, "LOG_LEVEL": "info"}
    if backup is not None:
        providers.append(openai_provider(backup, "backup", ["b-model"]))
        data["fallback"] = {"default": ["backup,b-model"]}
    data.setdefault("RETRY", {"max_retries": 0})
    data.update(extra)
    return data


def attempts_of(router: ServedRouter, count: int = 1) -> list[list[tuple[str, int]]]:
    records = router.wait_for_records(count)
    return [[(a["target"], a["status"]) for a in record["attempts"]] for record in records]


def backup_serves(backup: ScriptedUpstream, stream: bool) -> None:
    backup.queue(openai_text_stream("from the backup") if stream else openai_completion("from the backup"))


def ask(router: ServedRouter, stream: bool) -> tuple[str, httpx.Headers]:
    """The text of the answer (read with the SDK's stream accumulator when streaming) and the response headers."""
    client = sdk_client(router.url)
    if stream:
        with client.messages.stream(**REQUEST) as events:
            message = events.get_final_message()
            headers = events.response.headers
        return "".join(b.text for b in message.content if b.type == "text"), headers
    raw_response = client.messages.with_raw_response.create(**REQUEST)
    message = raw_response.parse()
    return "".join(b.text for b in message.content if b.type == "text"), raw_response.headers


# ---------------------------------------------------------------------------------------------------------------
# Before the first byte: fall back


@pytest.mark.parametrize("status", [429, 500, 502, 503, 529, 408, 409])
@pytest.mark.parametrize("stream", [False, True])
def test_retryable_status_falls_back(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter, status: int, stream: bool
) -> None:
    upstream.queue(error_reply(status, {"error": {"message": f"primary is down ({status})"}}))
    backup_serves(backup, stream)
    router = serve_router(config(upstream, backup))
    client = sdk_client(router.url)
    response = client.messages.with_raw_response.create(**REQUEST, stream=stream)
    if stream:
        text = "".join(
            e.delta.text for e in response.parse() if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    else:
        text = "".join(b.text for b in response.parse().content if b.type == "text")
    assert text == "from the backup"
    assert response.headers["x-ccr-provider"] == "backup" and response.headers["x-ccr-model"] == "b-model"
    assert response.headers["x-ccr-attempts"] == f"primary,p-model={status}, backup,b-model=200"
    assert len(upstream.received) == 1 and len(backup.received) == 1
    assert backup.received[0].body["model"] == "b-model"
    record = router.wait_for_records(1)[0]
    assert record["status"] == 200 and record["provider"] == "backup"
    assert [(a["target"], a["status"]) for a in record["attempts"]] == [
        ("primary,p-model", status),
        ("backup,b-model", 200),
    ]
    assert f"primary is down ({status})" in record["attempts"][0]["error"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_not_retried(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter, status: int
) -> None:
    upstream.queue(error_reply(status, {"error": {"message": "your request is wrong"}}))
    router = serve_router(config(upstream, backup, RETRY=FAST_RETRY))
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk_client(router.url).messages.create(**REQUEST)
    assert raised.value.status_code == status
    assert "your request is wrong" in raised.value.message
    assert len(upstream.received) == 1 and backup.received == []
    assert attempts_of(router) == [[("primary,p-model", status)]]


def test_429_with_retry_after_falls_back_and_cools_the_target_down(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(error_reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "30"}))
    backup.default = lambda received: openai_completion("from the backup")
    router = serve_router(config(upstream, backup))
    first, _ = ask(router, stream=False)
    second, headers = ask(router, stream=False)
    assert first == second == "from the backup"
    # The second request went straight to the backup: the primary rests for its Retry-After.
    assert len(upstream.received) == 1 and len(backup.received) == 2
    assert headers["x-ccr-attempts"] == "primary,p-model=cooling, backup,b-model=200"
    assert attempts_of(router, 2)[1] == [("primary,p-model", 0), ("backup,b-model", 200)]
    cooling = LOOPBACK.get(router.url + "/api/cooldowns").json()["cooling"]
    assert [c["target"] for c in cooling] == ["primary,p-model"] and 25 < cooling[0]["seconds_left"] <= 30
    assert "HTTP 429" in cooling[0]["reason"] and "slow down" in cooling[0]["reason"]
    warnings = [r for r in router.log_records() if r.get("msg", "").startswith("primary,p-model is cooling down")]
    assert warnings and warnings[0]["seconds"] == 30


def test_three_failures_in_a_window_cool_a_target_down(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.default = lambda received: error_reply(500, {"error": {"message": "boom"}})
    backup.default = lambda received: openai_completion("from the backup")
    router = serve_router(config(upstream, backup, COOLDOWN={"failures": 3, "window_ms": 60000, "duration_ms": 60000}))
    for _ in range(4):
        assert ask(router, stream=False)[0] == "from the backup"
    assert len(upstream.received) == 3 and len(backup.received) == 4
    assert attempts_of(router, 4)[3] == [("primary,p-model", 0), ("backup,b-model", 200)]


def test_when_every_target_cools_the_route_is_still_tried(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(error_reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "60"}))
    upstream.queue(openai_completion("rested enough"))
    router = serve_router(config(upstream))
    with pytest.raises(anthropic.RateLimitError) as raised:
        sdk_client(router.url).messages.create(**REQUEST)
    assert raised.value.response.headers["retry-after"] == "60"
    assert ask(router, stream=False)[0] == "rested enough"


def test_429_without_retry_after_is_retried_with_backoff(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(
        error_reply(429, {"error": {"message": "busy 1"}}),
        error_reply(429, {"error": {"message": "busy 2"}}),
        openai_completion("third time lucky"),
    )
    router = serve_router(config(upstream, RETRY=FAST_RETRY))
    started = time.monotonic()
    text, headers = ask(router, stream=False)
    elapsed = time.monotonic() - started
    assert text == "third time lucky"
    assert headers["x-ccr-attempts"] == "primary,p-model=429, primary,p-model=429, primary,p-model=200"
    # Back-off 50 ms then 100 ms, each +-25 %: at least ~110 ms in all (an upper bound would be a timing test).
    assert elapsed >= 0.11
    assert len(upstream.received) == 3


def test_retries_give_up_with_the_last_error_and_every_attempt_named(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.default = lambda received: error_reply(503, {"error": {"message": "primary overloaded"}})
    backup.default = lambda received: error_reply(529, {"error": {"message": "backup overloaded"}})
    router = serve_router(config(upstream, backup, RETRY={**FAST_RETRY, "max_retries": 1}))
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk_client(router.url).messages.create(**REQUEST)
    error = raised.value
    assert error.status_code == 529
    assert error.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert "backup overloaded" in error.message and "all 4 attempts failed" in error.message
    assert "primary,p-model: HTTP 503" in error.message and "backup,b-model: HTTP 529" in error.message
    assert error.response.headers["x-ccr-attempts"] == (
        "primary,p-model=503, backup,b-model=529, primary,p-model=503, backup,b-model=529"
    )
    assert len(upstream.received) == 2 and len(backup.received) == 2
    # ccrouter spent the retries: Claude Code's SDK must not start ten more of its own.
    assert error.response.headers["x-should-retry"] == "false"


def test_retry_after_beyond_the_cap_is_handed_to_the_client(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(error_reply(429, {"error": {"message": "come back in 10 minutes"}}, headers={"Retry-After": "600"}))
    router = serve_router(config(upstream, RETRY=FAST_RETRY))
    with pytest.raises(anthropic.RateLimitError) as raised:
        sdk_client(router.url).messages.create(**REQUEST)
    assert raised.value.response.headers["retry-after"] == "600"
    assert "x-should-retry" not in raised.value.response.headers  # the provider said when: the client decides
    assert len(upstream.received) == 1


def test_a_refused_connection_on_this_machine_gets_no_backoff_rounds(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """A local server that refuses connections is not running: waiting and trying again cannot help, so the client
    hears at once (a provider that answers 503 is still retried after a back-off)."""
    dead = {"name": "dead", "api_base_url": f"http://127.0.0.1:{free_port()}/v1/chat/completions", "models": ["m"]}
    busy = openai_provider(upstream, "busy", ["b-model"])
    upstream.default = lambda received: error_reply(503, {"error": {"message": "busy"}})
    retry = {"max_retries": 2, "initial_backoff_ms": 50, "max_backoff_ms": 50}
    router = serve_router({"Providers": [dead, busy], "Router": {"default": "dead,m"}, "RETRY": retry})
    with pytest.raises(anthropic.InternalServerError):
        sdk_client(router.url).messages.create(**REQUEST)
    assert attempts_of(router) == [[("dead,m", 502)]]

    router = serve_router(
        {"Providers": [dead, busy], "Router": {"default": ["dead,m", "busy,b-model"]}, "RETRY": retry}
    )
    with pytest.raises(anthropic.InternalServerError):
        sdk_client(router.url).messages.create(**REQUEST)
    # Each round tries both; the 503 makes the next round worth it, the refusal alone would not.
    assert attempts_of(router) == [[("dead,m", 502), ("busy,b-model", 503)] * 3]


def test_connection_refused_falls_back(backup: ScriptedUpstream, serve_router: ServeRouter) -> None:
    dead = {
        "name": "primary",
        "api_base_url": f"http://127.0.0.1:{free_port()}/v1/chat/completions",
        "api_key": "sk-x",
        "models": ["p-model"],
    }
    backup_serves(backup, stream=True)
    router = serve_router(
        {
            "Providers": [dead, openai_provider(backup, "backup", ["b-model"])],
            "Router": {"default": ["primary,p-model", "backup,b-model"]},  # the list form of a fallback
            "RETRY": {"max_retries": 0},
        }
    )
    text, headers = ask(router, stream=True)
    assert text == "from the backup"
    assert headers["x-ccr-attempts"] == "primary,p-model=502, backup,b-model=200"
    attempts = router.wait_for_records(1)[0]["attempts"]
    assert "Could not connect to provider 'primary'" in attempts[0]["error"]


def test_connection_reset_mid_body_falls_back_when_nothing_was_sent(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    body = json.dumps({"id": "x", "choices": [{"message": {"content": "a long answer"}}]}).encode()
    upstream.queue(Scripted(chunks=[body[:20], body[20:]], reset_after=1))
    backup_serves(backup, stream=False)
    router = serve_router(config(upstream, backup))
    text, headers = ask(router, stream=False)
    assert text == "from the backup"
    assert headers["x-ccr-attempts"] == "primary,p-model=502, backup,b-model=200"


def test_timeout_before_headers_falls_back_and_cancels_the_slow_provider(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(Scripted(headers_delay=30, body=b"{}"))
    backup_serves(backup, stream=True)
    router = serve_router(config(upstream, backup, API_TIMEOUT_MS=20000, RETRY={"attempt_timeout_ms": 800}))
    text, headers = ask(router, stream=True)
    assert text == "from the backup"
    assert headers["x-ccr-attempts"] == "primary,p-model=504, backup,b-model=200"
    assert upstream.client_went_away.wait(3), "the slow provider never saw the cancellation"
    assert "RETRY.attempt_timeout_ms (800 ms)" in router.wait_for_records(1)[0]["attempts"][0]["error"]


def test_timeout_with_nowhere_to_go_is_a_504_timeout_error(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(Scripted(headers_delay=30, body=b"{}"))
    router = serve_router(config(upstream, API_TIMEOUT_MS=800))
    with pytest.raises(anthropic.APIStatusError) as raised:
        sdk_client(router.url).messages.create(**REQUEST)
    assert raised.value.status_code == 504
    assert raised.value.body["error"]["type"] == "timeout_error"  # type: ignore[index]
    assert "API_TIMEOUT_MS (800 ms)" in raised.value.message
    assert upstream.client_went_away.wait(3)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(sse_reply([b"data: {this is not json\n\n"], done=False), id="malformed-sse"),
        pytest.param(Scripted(content_type="text/event-stream", body=b"<html>502 Bad Gateway</html>"), id="html"),
        pytest.param(sse_reply([], done=False), id="empty-stream"),
        pytest.param(
            Scripted(content_type="text/event-stream", body=b'{"error": {"message": "quota exceeded", "code": 429}}'),
            id="json-error-with-200",
        ),
    ],
)
def test_a_stream_broken_before_its_first_token_falls_back(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter, broken: Scripted
) -> None:
    upstream.queue(broken)
    backup_serves(backup, stream=True)
    router = serve_router(config(upstream, backup))
    text, headers = ask(router, stream=True)
    assert text == "from the backup"
    assert headers["x-ccr-attempts"] == "primary,p-model=502, backup,b-model=200"


@pytest.mark.parametrize(
    "garbage", [b"this is not json", b"[1, 2, 3]", b'{"choices": "nope"}', b""], ids=["text", "array", "shape", "empty"]
)
def test_garbage_json_without_a_fallback_is_a_clear_502(
    upstream: ScriptedUpstream, serve_router: ServeRouter, garbage: bytes
) -> None:
    upstream.queue(Scripted(body=garbage))
    router = serve_router(config(upstream))
    response = LOOPBACK.post(router.url + "/v1/messages", json=REQUEST)
    assert response.status_code == 502, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "Try again" in error["error"]["message"] and "Traceback" not in response.text


# ---------------------------------------------------------------------------------------------------------------
# After the first byte: an honest error event, never a silent truncated success


def _raw_stream(router: ServedRouter) -> tuple[httpx.Headers, list[tuple[str, dict[str, Any]]]]:
    with LOOPBACK.stream("POST", router.url + "/v1/messages", json={**REQUEST, "stream": True}, timeout=20) as response:
        text = response.read().decode()
        headers = response.headers
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return headers, events


def _first_text_then(broken_after: int, **kwargs: Any) -> Scripted:
    reply = openai_text_stream("one two three four", pieces=4)
    assert reply.chunks is not None
    reply.chunks = reply.chunks[:-3]  # no finish chunk, no usage, no [DONE]
    for key, value in kwargs.items():
        setattr(reply, key, value)
    reply.reset_after = broken_after if "stall_after" not in kwargs else None
    return reply


def test_reset_after_the_first_byte_ends_in_an_error_event_and_no_fallback(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(_first_text_then(2))
    router = serve_router(config(upstream, backup))
    headers, events = _raw_stream(router)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and "content_block_delta" in names
    assert names[-1] == "error" and "message_stop" not in names
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "connection failed in the middle of the stream" in events[-1][1]["error"]["message"]
    assert headers["x-ccr-attempts"] == "primary,p-model=200" and backup.received == []
    record = router.wait_for_records(1)[0]
    assert record["error"] and record["provider"] == "primary"


def test_a_stall_mid_stream_times_out_into_an_error_event(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(_first_text_then(0, stall_after=2))
    router = serve_router(config(upstream, backup, API_TIMEOUT_MS=1000))
    _, events = _raw_stream(router)
    assert events[0][0] == "message_start" and events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "api_error"
    assert "did not answer in time" in events[-1][1]["error"]["message"]
    assert upstream.client_went_away.wait(3), "the stalled provider's connection was left open"
    assert backup.received == []


def test_the_sdk_raises_instead_of_returning_a_truncated_message(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(_first_text_then(2))
    router = serve_router(config(upstream))
    with pytest.raises(anthropic.APIStatusError), sdk_client(router.url).messages.stream(**REQUEST) as stream:
        stream.get_final_message()


def test_pings_keep_a_silent_stream_alive(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    reply = openai_text_stream("late answer")
    reply.delay = 0.3  # twice the ping interval of silence before each chunk
    upstream.queue(reply)
    router = serve_router(config(upstream, PING_INTERVAL_MS=150))
    _, events = _raw_stream(router)
    names = [name for name, _ in events]
    assert "ping" in names and names[-1] == "message_stop"


# ---------------------------------------------------------------------------------------------------------------
# The client goes away


def test_client_disconnect_mid_stream_cancels_the_provider(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(_first_text_then(0, stall_after=2))
    router = serve_router(config(upstream, backup))
    with LOOPBACK.stream("POST", router.url + "/v1/messages", json={**REQUEST, "stream": True}, timeout=10) as response:
        for chunk in response.iter_raw():
            if b"content_block_delta" in chunk:
                break
    assert upstream.client_went_away.wait(3), "the provider never saw the cancellation"
    record = router.wait_for_records(1)[0]
    assert record["status"] == 499 and record["attempts"] == [
        {"target": "primary,p-model", "status": 200, "error": None, "ms": record["attempts"][0]["ms"]}
    ]
    assert backup.received == []


def test_client_disconnect_during_backoff_stops_retrying(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.default = lambda received: error_reply(503, {"error": {"message": "busy"}})
    router = serve_router(config(upstream, RETRY={"max_retries": 2, "initial_backoff_ms": 1500}))
    body = json.dumps(REQUEST).encode()
    port = int(router.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        deadline = time.monotonic() + 10
        while not upstream.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(upstream.received) == 1
    # The client has gone while ccrouter waits >= 1.1 s before its retry.
    record = router.wait_for_records(1)[0]
    assert record["status"] == 499 and record["attempts"][0]["status"] == 503
    time.sleep(2)
    assert len(upstream.received) == 1, "a retry went out after the client had gone"


# ---------------------------------------------------------------------------------------------------------------
# Bad input: a clear 4xx, never a 500


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "must be a JSON object"),
        (b'{"messages": []}', 400, "model: this field is required"),
        (b'{"model": "m", "messages": {}}', 400, "messages: this field is required and must be a list"),
        (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', 400, "messages.0.content"),
        (b'{"model": "m", "max_tokens": "5", "messages": []}', 400, "max_tokens: must be a whole number"),
        (b'{"model": "m", "stream": "yes", "messages": []}', 400, "stream: must be true or false"),
        (b'{"model": "nope,model", "messages": [{"role": "user", "content": "x"}]}', 400, "not configured"),
        (b"\xff\xfe\x00", 400, "not valid JSON"),
    ],
)
def test_bad_input_is_a_clear_400(
    upstream: ScriptedUpstream, serve_router: ServeRouter, body: bytes, status: int, phrase: str
) -> None:
    router = serve_router(config(upstream))
    response = LOOPBACK.post(router.url + "/v1/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and phrase in error["message"]
    assert upstream.received == []


def test_a_body_over_the_configured_limit_is_413(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    router = serve_router(config(upstream, MAX_REQUEST_BODY_MB=0.5))
    big = {**REQUEST, "messages": [{"role": "user", "content": "x" * 600_000}]}
    response = LOOPBACK.post(router.url + "/v1/messages", json=big)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "request_too_large" and "MAX_REQUEST_BODY_MB (0.5 MB)" in error["message"]
    small = LOOPBACK.post(router.url + "/v1/messages", json={**REQUEST, "max_tokens": "x"})
    assert small.status_code == 400 and upstream.received == []


def test_a_fallback_gets_the_body_the_client_sent_not_what_the_first_adapter_made_of_it(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """The Anthropic adapter leaves out thinking that another provider made; the OpenAI-style fallback (DeepSeek
    reasoner needs it back) must still get it."""
    upstream.queue(error_reply(503, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
    backup_serves(backup, stream=False)
    primary = {
        "name": "primary",
        "api_base_url": f"{upstream.url}/v1/messages",
        "api_key": "sk-anthropic-key-123456",
        "models": ["p-model"],
        "transformer": {"use": ["Anthropic"]},
    }
    router = serve_router(
        {
            "Providers": [primary, openai_provider(backup, "backup", ["b-model"])],
            "Router": {"default": ["primary,p-model", "backup,b-model"]},
            "RETRY": {"max_retries": 0},
        }
    )
    history = [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "use ls", "signature": "ccrouter-openai-chat"},
                {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]},
    ]
    reply = sdk_client(router.url).messages.create(model="claude-sonnet-5-5", max_tokens=50, messages=history)
    assert reply.content[0].type == "text" and reply.content[0].text == "from the backup"
    sent_to_anthropic = upstream.received[0].body["messages"][1]["content"]
    assert [block["type"] for block in sent_to_anthropic] == ["tool_use"]
    assistant = backup.received[0].body["messages"][1]
    assert assistant["reasoning_content"] == "use ls" and assistant["tool_calls"][0]["id"] == "call_1"


def test_a_provider_that_ignores_stream_true_still_streams_to_the_client(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """Some OpenAI-compatible servers answer a stream request with one JSON completion: the client asked for a
    stream, so it gets the same content as a correct Anthropic event stream."""
    completion = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "think first",
                    "content": "Let me look.",
                    "tool_calls": [
                        {"id": "call_9", "type": "function", "function": {"name": "Read", "arguments": '{"p": "a"}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42},
    }
    upstream.default = lambda received: Scripted(body=json.dumps(completion).encode())
    router = serve_router(config(upstream))
    plain = sdk_client(router.url).messages.create(**REQUEST)
    with sdk_client(router.url).messages.stream(**REQUEST) as stream:
        streamed = stream.get_final_message()
    assert upstream.received[1].body["stream"] is True
    assert streamed.model_dump() == plain.model_dump()
    assert [b.type for b in streamed.content] == ["thinking", "text", "tool_use"]
    assert streamed.content[2].input == {"p": "a"} and streamed.content[2].id == "call_9"
    assert streamed.stop_reason == "tool_use" and streamed.usage.output_tokens == 12
    assert streamed.usage.input_tokens == 30


def test_a_cooldown_reason_never_shows_the_providers_key(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    key = "sk-anthropic-key-echoed-123456"
    upstream.queue(error_reply(429, {"error": {"message": f"key {key} is over quota"}}, headers={"Retry-After": "30"}))
    backup_serves(backup, stream=False)
    primary = {
        "name": "primary",
        "api_base_url": f"{upstream.url}/v1/messages",
        "api_key": key,
        "models": ["p-model"],
        "transformer": {"use": ["Anthropic"]},
    }
    router = serve_router(
        {
            "Providers": [primary, openai_provider(backup, "backup", ["b-model"])],
            "Router": {"default": "primary,p-model"},
            "fallback": {"default": ["backup,b-model"]},
        }
    )
    assert ask(router, stream=False)[0] == "from the backup"
    cooling = LOOPBACK.get(router.url + "/api/cooldowns").json()["cooling"]
    assert "over quota" in cooling[0]["reason"] and key not in cooling[0]["reason"]
    assert key not in (router.home / "logs" / "ccr-router.log").read_text()


def test_an_explicit_provider_model_falls_back_to_the_default_routes_fallbacks(
    upstream: ScriptedUpstream, backup: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    """CCR 2.x treats `/model provider,model` as the default scenario for fallback; the attempts show it."""
    upstream.default = lambda received: error_reply(503, {"error": {"message": "primary overloaded"}})
    backup_serves(backup, stream=False)
    router = serve_router(config(upstream, backup))
    response = sdk_client(router.url).messages.with_raw_response.create(**{**REQUEST, "model": "primary,p-model"})
    assert response.parse().content[0].text == "from the backup"  # type: ignore[union-attr]
    assert response.headers["x-ccr-route"] == "explicit"
    assert response.headers["x-ccr-attempts"] == "primary,p-model=503, backup,b-model=200"
