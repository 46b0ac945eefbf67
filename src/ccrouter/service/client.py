"""The one HTTP client for the local service: where a client reaches it, and a small GET within a time budget.

`ccr statusline` (GET /api/sessions/{id}), `ccr status` (GET /api/cooldowns) and the start and status checks
(GET /health) all ask the service through `get`. It talks to the address directly over a bare socket: proxy
settings must not get in the way, and http.client's imports (email, ...) alone take longer than the whole
request, which the statusline's 100 ms budget cannot afford. For the same reason only modules that the
interpreter and `socket` load anyway are imported here (not even `typing`).
"""

from __future__ import annotations

import socket
import time

_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "localhost", "127.0.0.1"})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def client_host(host: str, apikey: str | None) -> str:
    """The address a local client reaches the service at, given the configured HOST."""
    if host in _WILDCARD_HOSTS or (not apikey and host not in _LOOPBACK_HOSTS):
        return "127.0.0.1"  # a wildcard bind, or one that auth.bind_host narrows to loopback
    return host


def service_url(host: str, port: int) -> str:
    """`http://host:port`, an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def get(host: str, port: int, path: str, *, timeout: float, apikey: str | None = None) -> tuple[int, bytes]:
    """(status, body) of `GET path`, connecting and reading all within `timeout` seconds. `apikey` goes as
    `x-api-key`. Raises OSError when there is no complete answer (TimeoutError when the time is up)."""
    return request("GET", host, port, path, timeout=timeout, apikey=apikey)


def request(
    method: str,
    host: str,
    port: int,
    path: str,
    *,
    timeout: float,
    apikey: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """(status, body) of a bodiless `method path` with `headers`, as `get` does it."""
    deadline = time.monotonic() + timeout
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}", "Connection: close", "Accept: application/json"]
    if method != "GET":
        lines.append("Content-Length: 0")
    if apikey:
        lines.append(f"x-api-key: {apikey}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        length: int | None = None
        header_end = -1
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the service did not answer in time")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            if header_end < 0:
                header_end = received.find(b"\r\n\r\n")
                if header_end >= 0:
                    length = _content_length(received[:header_end])
            if length is not None and len(received) - header_end - 4 >= length:
                break
    if header_end < 0:
        raise OSError("the service sent no complete HTTP answer")
    status_line = received[: received.find(b"\r\n")].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError("the service sent no HTTP status")
    body = received[header_end + 4 :]
    return int(status_line[1]), body[:length] if length is not None else body


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def health_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """GET /health answers 200."""
    try:
        status, _ = get(host, port, "/health", timeout=timeout)
    except OSError:
        return False
    return status == 200
