"""What one client connection may take (issue 13, items 1 and 2), against the real service on raw sockets:
header bytes (431, memory flat however long a header runs), time for headers and body (408), idle connections
closed, a cap on connections that closes the longest-idle ones first (503 when all are busy), and a soft
file-descriptor limit raised at start."""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.fake_upstream import ScriptedUpstream
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider

MB = 1024 * 1024


def config(upstream: ScriptedUpstream, **limits: int) -> dict[str, Any]:
    return {"Providers": [openai_provider(upstream)], "Router": {"default": "fake,fake-model"}, "LIMITS": limits}


def connect(router: RouterProcess, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", router.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the one response on `sock` (the router closes the connection after it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the router closes `sock` (end of file or a reset after what is left to read) within the socket's
    time-out."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def rss_mb(router: RouterProcess) -> float:
    assert router.proc is not None
    with open(f"/proc/{router.proc.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def health(router: RouterProcess) -> dict[str, Any]:
    response = LOOPBACK.get(router.url + "/health", timeout=10)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def test_a_header_that_never_ends_gets_431_and_memory_stays_flat(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router(config(upstream))
    before = rss_mb(router)
    socks = [connect(router) for _ in range(8)]
    chunk = b"a" * (256 * 1024)
    try:
        for sock in socks:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
            try:
                for _ in range(32):  # 8 MB each, and no end: the old service buffered all of it and waited for more
                    sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                continue  # refused and closed before we were done
            status, body = read_response(sock)
            assert status == 431, body
            assert "LIMITS.max_header_bytes" in body["error"]["message"]
    finally:
        for sock in socks:
            sock.close()
    assert rss_mb(router) - before < 40, f"RSS grew from {before:.0f} MB to {rss_mb(router):.0f} MB"
    assert health(router)["status"] == "ok"


def test_a_complete_header_over_the_limit_gets_431_in_anthropic_shape(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router(config(upstream, max_header_bytes=8192))
    response = LOOPBACK.get(router.url + "/health", headers={"X-Padding": "b" * 9000}, timeout=10)
    assert response.status_code == 431
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"
    small = LOOPBACK.get(router.url + "/health", headers={"X-Padding": "b" * 7000}, timeout=10)
    assert small.status_code == 200


def test_headers_that_stop_coming_get_408(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    router = start_router(config(upstream, header_timeout_ms=300))
    with connect(router) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        status, body = read_response(sock)
    assert status == 408
    assert "LIMITS.header_timeout_ms" in body["error"]["message"]


def test_a_body_that_stops_coming_gets_408(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    router = start_router(config(upstream, body_timeout_ms=300))
    with connect(router) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            b'content-length: 1000\r\n\r\n{"model": '
        )
        status, body = read_response(sock)
    assert status == 408
    assert "LIMITS.body_timeout_ms" in body["error"]["message"]


def test_a_connection_that_sends_nothing_is_closed(upstream: ScriptedUpstream, start_router: StartRouter) -> None:
    router = start_router(config(upstream, idle_timeout_ms=300))
    with connect(router) as sock:
        assert closed_by_peer(sock)
    with connect(router) as sock:  # and after a response too (uvicorn's keep-alive timer, at the same limit)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
        assert closed_by_peer(sock)


def test_past_the_cap_the_longest_idle_connections_are_closed_first(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router(config(upstream, max_connections=20))
    idle = [connect(router) for _ in range(40)]
    try:
        assert health(router)["status"] == "ok"  # a new connection always gets in
        for sock in idle[:15]:  # the oldest ones made room
            assert closed_by_peer(sock)
        for sock in idle[-10:]:
            sock.settimeout(0.2)
            assert not closed_by_peer(sock)  # the newest are still open
    finally:
        for sock in idle:
            sock.close()


@contextmanager
def busy_connections(router: RouterProcess, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections whose requests are in the app, waiting for the rest of their body."""
    socks = [connect(router) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-length: 100\r\n\r\n{")
        yield socks
    finally:
        for sock in socks:
            sock.close()


def test_when_every_connection_is_busy_a_new_one_gets_503(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    router = start_router(config(upstream, max_connections=3))
    with busy_connections(router, 3):
        deadline = time.monotonic() + 10
        while True:  # the three are in the app once the service has read their headers
            with connect(router) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # a client's usual first step
                status, body = read_response(sock)
            if status == 503 or time.monotonic() > deadline:
                break
        assert status == 503
        assert body["error"]["type"] == "overloaded_error"
    assert health(router)["status"] == "ok"  # the busy ones gone, it serves again


def test_the_soft_file_limit_is_raised_at_start_and_health_says_how_many_connections_fit(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        raise AssertionError(f"this machine's hard limit on open files is {hard}: the test needs more than 1024")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # the child inherits the usual default soft limit
    try:
        router = start_router(config(upstream))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    connections = health(router)["connections"]
    assert connections["max"] > (1024 - 64) // 2, connections
    assert connections["open"] >= 1


def test_websocket_upgrades_are_answered_as_http_and_log_nothing(
    upstream: ScriptedUpstream, start_router: StartRouter
) -> None:
    """Any web page may open a WebSocket to 127.0.0.1: each attempt used to cost a 500 and a line of
    service-stderr.log, outside every cap (about 200 KB/s)."""
    router = start_router(config(upstream))
    before = router.stderr_path.stat().st_size
    upgrade = (
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    for _ in range(50):
        with connect(router) as sock:
            sock.sendall(upgrade)
            head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200"), head[:100]  # the models list: no switch of protocols
    assert health(router)["status"] == "ok"
    assert router.stderr_path.stat().st_size == before, router.stderr()[before:]
