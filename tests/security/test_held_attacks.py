"""Attacks of issue 13 the router withstood, kept as reproductions so they stay withstood: the APIKEY on every
endpoint with data, browser Origins without one, request smuggling, hundreds of concurrent streams, a storm of
dropped streams. Against the real service process, on raw sockets where an HTTP client would normalise the attack;
each request carries a `held-...` marker the scripted provider echoes, so a test knows which requests reached it."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.security.streams import REQUEST, sse_events
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_text_reply
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for descriptors and sockets")

KEY = "router-key-0123456789abcdef"
SESSION = "held-session"
DATA_ENDPOINTS = [  # every endpoint that answers with data or spends the provider's tokens
    ("POST", "/v1/messages"), ("POST", "/v1/messages/count_tokens"), ("GET", "/v1/models"), ("GET", "/api/cooldowns"),
    ("GET", f"/api/sessions/{SESSION}"),
]  # fmt: skip


def _config(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}, **extra}


def _marker_of(received: Received) -> str:
    found = re.search(r"held-[\w-]+", json.dumps(received.body))
    return found.group(0) if found else ""


def _answer_naming_the_marker(delay: float = 0.0, stall: str = "held-drop") -> Callable[[Received], Scripted]:
    """A provider that answers "answer to <marker>" (streamed with `delay` s between chunks when asked to); a
    stream whose marker starts with `stall` sends its first text, then nothing, its connection held open."""

    def reply(received: Received) -> Scripted:
        stream = isinstance(received.body, dict) and bool(received.body.get("stream"))
        answer = dataclasses.replace(openai_text_reply(f"answer to {_marker_of(received)}", stream), delay=delay)
        return dataclasses.replace(answer, stall_after=2) if _marker_of(received).startswith(stall) else answer

    return reply


def _request(marker: str, stream: bool = False) -> dict[str, Any]:
    return {**REQUEST, "stream": stream, "messages": [{"role": "user", "content": marker}]}


def _call(router: RouterProcess, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = _request("held-call") if method == "POST" else None
    return LOOPBACK.request(method, router.url + path, headers=headers or {}, json=body, timeout=20)


def _assert_error(response: httpx.Response, status: int, error_type: str, what: object) -> None:
    """`response` is Anthropic's error shape with `status` and `error_type`, and grants no browser CORS access."""
    assert response.status_code == status, (what, response.status_code, response.text)
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type and body["error"]["message"], (what, body)
    assert not any(name.startswith("access-control-") for name in response.headers), (what, response.headers)


# -- 1. the APIKEY on every endpoint ----------------------------------------------------------------------------


def test_with_an_apikey_every_endpoint_with_data_needs_the_key(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream, APIKEY=KEY))
    for key_header in ({"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}):  # the first POST opens the session
        for method, path in DATA_ENDPOINTS:
            headers = {**key_header, "x-claude-code-session-id": SESSION}
            assert _call(router, method, path, headers).status_code == 200, (method, path, key_header)
    assert len(upstream.received) == 2
    for method, path in DATA_ENDPOINTS:  # sequential: each wrong key is answered after 0.25 s
        _assert_error(_call(router, method, path), 401, "authentication_error", (method, path))
        _assert_error(_call(router, method, path, {"x-api-key": "wrong"}), 401, "authentication_error", path)
    # Other spellings, sent raw (httpx would resolve the dots): the ASGI path is percent-decoded, dots are kept.
    for variant in ("/v1/%6dodels", "/api/sessions/../cooldowns", "/api/sessions/%2e%2e/cooldowns"):
        raw = f"GET {variant} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        assert _exchange(router, raw) == [b"HTTP/1.1 401"], variant
    for path in ("/v1/models/", "//v1/models", "/v1/messages", "/unknown"):  # no endpoint: a 404 with no data
        _assert_error(_call(router, "GET", path), 404, "not_found_error", path)
    for method, path in [("GET", "/health"), ("HEAD", "/health"), ("HEAD", "/"), ("HEAD", "/api/hello")]:
        assert _call(router, method, path).status_code == 200, (method, path)  # open, and they hold no data
    assert len(upstream.received) == 2  # no request without the key reached the provider


WRONG_FORMS = {
    "key with a suffix": {"x-api-key": KEY + "x"},
    "key with a prefix": {"x-api-key": "x" + KEY},
    "key cut short": {"x-api-key": KEY[:-1]},
    "key in upper case": {"x-api-key": KEY.upper()},
    "empty x-api-key": {"x-api-key": ""},
    "Basic with the key as password": {"authorization": "Basic " + base64.b64encode(f"u:{KEY}".encode()).decode()},
    "the bare key as Authorization": {"authorization": KEY},
    "Bearer without a key": {"authorization": "Bearer"},
    "Bearer and a tab": {"authorization": f"Bearer\t{KEY}"},
    "Bearer inside x-api-key": {"x-api-key": f"Bearer {KEY}"},
    "another header name": {"api-key": KEY},
    "a cookie": {"cookie": f"x-api-key={KEY}"},
}
RIGHT_FORMS = {
    "x-api-key": {"x-api-key": KEY}, "X-API-KEY": {"X-API-KEY": KEY}, "Bearer": {"authorization": f"Bearer {KEY}"},
    "bearer, any case": {"authorization": f"bEARER {KEY}"},
    "Bearer with extra spaces (stripped)": {"authorization": f"Bearer    {KEY}"},
    "a wrong x-api-key beside the right Bearer": {"x-api-key": "stray", "authorization": f"Bearer {KEY}"},
}  # fmt: skip


def test_the_key_in_a_wrong_form_is_refused_and_only_the_two_documented_forms_pass(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    """Sequential wrong keys (each answered after 0.25 s; parallel ones would get 429 from the guessing guard)."""
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream, APIKEY=KEY))
    for form, headers in WRONG_FORMS.items():
        _assert_error(_call(router, "POST", "/v1/messages", headers), 401, "authentication_error", form)
    query = LOOPBACK.get(f"{router.url}/v1/models?x-api-key={KEY}&key={KEY}", timeout=20)
    _assert_error(query, 401, "authentication_error", "the key in the query string")
    assert upstream.received == []
    for form, headers in RIGHT_FORMS.items():
        response = _call(router, "POST", "/v1/messages", headers)
        assert response.status_code == 200, (form, response.text)
        assert response.json()["content"][0]["text"] == "answer to held-call", form
    assert len(upstream.received) == len(RIGHT_FORMS)


# -- 2. browser Origins without an APIKEY -----------------------------------------------------------------------

FOREIGN_ORIGINS = [  # another site, opaque origins, look-alikes of the loopback names, other addresses, any case
    "https://evil.example", "null", "NULL", "http://localhost.evil.example:{port}", "http://127.0.0.1.evil.example",
    "HTTPS://EVIL.EXAMPLE:443/some/path", "http://localhost@evil.example", "http://127.0.0.2:{port}",
    "http://0.0.0.0:{port}", "http://[::ffff:127.0.0.1]:{port}", "chrome-extension://abcdefghijklmnop",
]  # fmt: skip
LOOPBACK_ORIGINS = [  # the three names the router answers to, with any scheme, port, path or case
    "http://localhost:{port}", "http://127.0.0.1", "http://[::1]:{port}", "https://localhost", "HTTP://LocalHost:{port}",
    "http://127.0.0.1:1/any/path",
]  # fmt: skip


def test_without_an_apikey_only_loopback_origins_reach_the_endpoints_with_data(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream))
    assert _call(router, "POST", "/v1/messages", {"x-claude-code-session-id": SESSION}).status_code == 200
    for origin in (o.format(port=router.port) for o in FOREIGN_ORIGINS):
        for method, path in DATA_ENDPOINTS:
            _assert_error(_call(router, method, path, {"origin": origin}), 403, "permission_error", (origin, path))
    assert len(upstream.received) == 1  # none of the refused POSTs reached the provider
    for origin in (o.format(port=router.port) for o in LOOPBACK_ORIGINS):
        for method, path in DATA_ENDPOINTS:
            response = _call(router, method, path, {"origin": origin})
            assert response.status_code == 200, (origin, method, path, response.text)
            assert not any(name.startswith("access-control-") for name in response.headers), response.headers
    # A browser's preflight for a JSON POST gets no CORS grant, so the browser never sends the POST itself.
    preflight_headers = {"origin": "https://evil.example", "access-control-request-method": "POST"}
    preflight = LOOPBACK.options(router.url + "/v1/messages", headers=preflight_headers, timeout=20)
    _assert_error(preflight, 404, "not_found_error", "preflight")


# -- 3. request smuggling ---------------------------------------------------------------------------------------


def _raw_post(marker: str, stream: bool = False, headers: str = "") -> bytes:
    """A whole POST /v1/messages whose text is `marker`: if the router served it, the provider's record shows it."""
    body = json.dumps(_request(marker, stream)).encode()
    head = f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}content-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _head(headers: str) -> bytes:
    return f"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()


def _smuggling_attempts() -> dict[str, bytes]:
    """Each: a request whose framing is ambiguous or broken, followed by a hidden request under its own marker."""
    attempts = {
        "CL and TE": _head("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + b"0\r\n\r\n",
        "TE and CL": _head("Transfer-Encoding: chunked\r\nContent-Length: 200\r\n") + b"0\r\n\r\n",
        "two CLs": _head("Content-Length: 2\r\nContent-Length: 300\r\n") + b"{}",
        "CL list": _head("Content-Length: 2, 300\r\n") + b"{}",
        "CL with a sign": _head("Content-Length: +2\r\n") + b"{}",
        "TE not chunked": _head("Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n") + b"0\r\n\r\n",
        "TE chunked, identity": _head("Transfer-Encoding: chunked, identity\r\n") + b"0\r\n\r\n",
        "two TEs": _head("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n") + b"0\r\n\r\n",
        "space before the colon": _head("Transfer-Encoding : chunked\r\n") + b"0\r\n\r\n",
        "folded TE": _head("Transfer-Encoding:\r\n chunked\r\n") + b"0\r\n\r\n",
        "bare LF lines": b"POST /v1/messages/count_tokens HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 2\n\n{}",
        "bare CR in a header": _head("X-A: 1\rContent-Length: 2\r\n") + b"{}",
    }
    chunked = _head("Transfer-Encoding: chunked\r\n")
    for size in ("zz", "-1", "0x2", " 2", "1", "10000000000000002"):  # not hex, signed, prefixed, short, overflowing
        attempts[f"chunk size {size!r}"] = chunked + f"{size}\r\n{{}}\r\n0\r\n\r\n".encode()
    return {name: data + _raw_post(f"held-smuggled-{n}") for n, (name, data) in enumerate(attempts.items())}


def _exchange(router: RouterProcess, data: bytes) -> list[bytes]:
    """Send `data` on a fresh connection and read until the router closes it: the status lines of its responses,
    and `still open` when it kept the connection for more."""
    received = b""
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            received += b"still open"
    return re.findall(rb"HTTP/1\.1 \d{3}|still open", received)


def _served_markers(upstream: ScriptedUpstream, router: RouterProcess) -> set[str]:
    """The markers the provider received, once a sentinel request sent last has reached it."""
    LOOPBACK.post(router.url + "/v1/messages", json=_request("held-sentinel"), timeout=20)
    wait_until(lambda: "held-sentinel" in {_marker_of(r) for r in upstream.received}, "the sentinel at the provider")
    return {_marker_of(r) for r in upstream.received} - {"held-sentinel"}


def test_ambiguous_framing_gets_400_and_the_request_hidden_behind_it_is_never_served(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream))
    answers = {name: _exchange(router, data) for name, data in _smuggling_attempts().items()}
    assert {name: got for name, got in answers.items() if got != [b"HTTP/1.1 400"]} == {}  # one answer, then closed
    assert _served_markers(upstream, router) == set()


def test_a_request_inside_a_well_framed_body_stays_body_while_an_open_pipeline_is_served(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    """The framing is read one way only: bytes inside a body are never a request. The last exchange is the control:
    the same kind of request pipelined openly is served, so the provider's record would show a smuggled one."""
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream))
    close = "Connection: close\r\n"
    as_json = json.dumps({"text": _raw_post("held-in-json").decode()}).encode()
    assert _exchange(router, _head(f"{close}Content-Length: {len(as_json)}\r\n") + as_json) == [b"HTTP/1.1 200"]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (as_json[:40], as_json[40:])) + b"0\r\n\r\n"
    assert _exchange(router, _head(f"{close}Transfer-Encoding: chunked\r\n") + chunked) == [b"HTTP/1.1 200"]
    raw = _raw_post("held-as-body")
    assert _exchange(router, _head(f"{close}Content-Length: {len(raw)}\r\n") + raw) == [b"HTTP/1.1 400"]  # not JSON
    raw = _raw_post("held-in-get")
    get = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{close}Content-Length: {len(raw)}\r\n\r\n".encode()
    assert _exchange(router, get + raw) == [b"HTTP/1.1 200"]
    open_pipeline = _head("Content-Length: 2\r\n") + b"{}" + _raw_post("held-pipelined", headers=close)
    assert _exchange(router, open_pipeline) == [b"HTTP/1.1 200", b"HTTP/1.1 200"]
    assert _served_markers(upstream, router) == {"held-pipelined"}


# -- 4. hundreds of concurrent streams --------------------------------------------------------------------------

STREAMS = 300  # with the provider in this process, 600 descriptors here: under the usual limit of 1,024


def _assert_complete_stream(status: int, body: str, marker: str) -> None:
    """A whole Anthropic SSE stream, every event ended, carrying exactly this request's answer."""
    assert status == 200 and body.endswith("\n\n"), (marker, status, body[-300:])
    events = sse_events(body)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-1] == "message_stop" and "error" not in names, (marker, names)
    assert names.count("content_block_start") == names.count("content_block_stop") == 1, (marker, names)
    text = "".join(data["delta"].get("text", "") for name, data in events if name == "content_block_delta")
    assert text == f"answer to {marker}", (marker, text)


async def _stream(client: httpx.AsyncClient, url: str, marker: str) -> tuple[int, str, str]:
    async with client.stream("POST", url + "/v1/messages", json=_request(marker, stream=True)) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response.status_code, body.decode(), marker


async def _health_while(streaming: asyncio.Future[Any], url: str) -> list[tuple[float, int]]:
    """(seconds, connections open) of each /health answer, asked on its own connection until `streaming` ends."""
    answers: list[tuple[float, int]] = []
    async with httpx.AsyncClient(trust_env=False, timeout=10) as prober:
        while not streaming.done():
            started = time.perf_counter()
            response = await prober.get(url + "/health")
            assert response.status_code == 200
            answers.append((time.perf_counter() - started, response.json()["connections"]["open"]))
            await asyncio.sleep(0.05)  # polling, not synchronisation: the loop ends with the streams
    return answers


async def _many_streams(url: str, count: int) -> tuple[list[tuple[int, str, str]], list[tuple[float, int]]]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)  # open connections = streams running
    async with httpx.AsyncClient(trust_env=False, timeout=30, limits=limits) as client:
        streaming = asyncio.ensure_future(asyncio.gather(*(_stream(client, url, f"held-s{n}") for n in range(count))))
        health = await _health_while(streaming, url)
        return await streaming, health


def test_hundreds_of_concurrent_streams_all_complete_and_health_answers_meanwhile(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    upstream.default = _answer_naming_the_marker(delay=0.1)  # each stream lasts ~0.7 s: they overlap
    router = start_router(_config(upstream))
    started = time.perf_counter()
    results, health = asyncio.run(asyncio.wait_for(_many_streams(router.url, STREAMS), 60))
    elapsed = time.perf_counter() - started
    for status, body, marker in results:
        _assert_complete_stream(status, body, marker)
    assert len({marker for _, _, marker in results}) == STREAMS
    assert health, "/health was never answered while the streams ran"
    most_open = max(open_ for _, open_ in health)
    seconds = sorted(seconds for seconds, _ in health)
    median, slowest = seconds[len(seconds) // 2], seconds[-1]
    assert most_open >= STREAMS // 2, f"at most {most_open} connections were open at once: the streams did not overlap"
    assert median < 0.25 and slowest < 5.0, f"/health took {seconds} s under the streams"  # the first meets the burst
    print(
        f"\n{STREAMS} streams in {elapsed:.1f} s; /health answered {len(health)} times meanwhile, slowest "
        f"{slowest * 1000:.0f} ms (median {median * 1000:.0f} ms), with up to {most_open} connections open"
    )


# -- 5. a storm of clients that drop their streams --------------------------------------------------------------

DROPPED = 300
_LIVE_TCP_STATES = {"01", "02", "03", "04", "05", "08", "09", "0B"}  # all but TIME_WAIT, CLOSE and LISTEN


def _descriptors(router: RouterProcess) -> int:
    assert router.proc is not None
    return len(os.listdir(f"/proc/{router.proc.pid}/fd"))


def _live_sockets_on(port: int) -> int:
    """TCP sockets on this machine still open at either end of a connection to or from `port`."""
    count = 0
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            ports = {int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)}
            count += port in ports and fields[3] in _LIVE_TCP_STATES
    return count


async def _drop_mid_stream(port: int, marker: str, reset: bool) -> None:
    """Start a stream on a raw socket, read until the provider's first text arrives, then hang up (FIN or RST)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_raw_post(marker, stream=True))
        await reader.readuntil(b"event: content_block_delta")
    finally:
        if reset:
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        await writer.wait_closed()


async def _storm(port: int, count: int) -> None:
    await asyncio.gather(*(_drop_mid_stream(port, f"held-drop-{n}", reset=n % 2 == 1) for n in range(count)))


def test_a_disconnect_storm_leaves_no_descriptors_or_provider_connections_behind(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    """The provider stalls every dropped stream after its first text, so only the router's noticing the client
    gone can free the two sockets each one holds (pings, which would also notice, are pushed past the test)."""
    upstream.default = _answer_naming_the_marker()
    router = start_router(_config(upstream, PING_INTERVAL_MS=600_000))
    warm = LOOPBACK.post(router.url + "/v1/messages", json=_request("held-warm-up", stream=True), timeout=20)
    _assert_complete_stream(warm.status_code, warm.text, "held-warm-up")
    descriptors, provider_sockets = _descriptors(router), _live_sockets_on(upstream.port)
    asyncio.run(asyncio.wait_for(_storm(router.port, DROPPED), 30))
    assert len(upstream.received) == 1 + DROPPED  # every dropped stream was mid-answer at the provider
    wait_until(
        lambda: _descriptors(router) <= descriptors + 4,
        f"router descriptors <= {descriptors} + 4",
        explain=lambda: _descriptors(router),
    )
    # The router closed each provider connection and the provider saw it (no CLOSE_WAIT left on its side either).
    wait_until(
        lambda: _live_sockets_on(upstream.port) <= provider_sockets,
        f"provider sockets <= {provider_sockets}",
        explain=lambda: _live_sockets_on(upstream.port),
    )
    assert upstream.client_went_away.is_set()
    after = LOOPBACK.post(router.url + "/v1/messages", json=_request("held-after", stream=True), timeout=20)
    _assert_complete_stream(after.status_code, after.text, "held-after")
    assert LOOPBACK.get(router.url + "/health", timeout=10).json()["connections"]["open"] <= 2
