"""What one client connection may take before the router closes it, enforced below the app.

uvicorn's httptools protocol reads headers of any size and waits forever for a request's headers or body; only
the keep-alive timer after a response fires. `guarded_protocol` adds, per connection:

- header bytes: past `LIMITS.max_header_bytes` a 431 and the connection closed (checked after every chunk read,
  so a header that never ends costs at most one read buffer more than the limit);
- time: a request's headers within `header_timeout_ms` of its first byte and its body within `body_timeout_ms`
  of its headers, else a 408; a connection with no request in progress is closed after `idle_timeout_ms`;
- count: at most `capacity` connections. A new one past that closes the longest-idle connection that has no
  request in the app (idle or still sending headers); when every connection is busy in the app, the new one gets
  a 503 and is closed. So idle and slow sockets can never starve real requests of file descriptors.

Errors are written in Anthropic's shape (the client may still read them) with `connection: close`.
"""

from __future__ import annotations

import asyncio
import enum
import http
import resource
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ccrouter.config.policy import ConnectionLimits
from ccrouter.errors import error_json

_HEADER_OVERHEAD = 4  # ": " and CRLF per header line
LINGER_S = 1.0  # after an error, what the client still sends is read and dropped this long, then the socket closes
SWEEP_S = 0.1  # how often the header and body deadlines of all connections are checked
RESERVED_FDS = 64  # for the listening socket, log files, the config, DNS and the Python runtime
FDS_PER_CONNECTION = 2  # the client's socket and, while it is served, one to the provider


@dataclass
class ConnectionGauge:
    """How many client connections are open and how many the router holds at most (for `ccr status`)."""

    capacity: int
    open: int = 0
    sweeping: bool = False  # the deadline sweep is scheduled (it stops while no connection is open)


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (the default soft limit, 1,024, is a few
    hundred connections); answer the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # some systems cap the soft limit below the hard one; keep what we have
    return soft


def connection_capacity(limits: ConnectionLimits, fd_limit: int) -> int:
    """`LIMITS.max_connections`, or as many as `fd_limit` allows (two descriptors each), whichever is lower."""
    fitting = max(1, (fd_limit - RESERVED_FDS) // FDS_PER_CONNECTION)
    return min(limits.max_connections, fitting) if limits.max_connections > 0 else fitting


class Phase(enum.Enum):
    IDLE = "idle"  # no byte of a request yet (new, or after a response)
    HEADERS = "headers"  # a request has started, its headers have not ended
    BODY = "body"  # headers read, the body still coming
    APP = "app"  # the whole request read; the app is answering


def guarded_protocol(limits: ConnectionLimits, gauge: ConnectionGauge) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with `limits` and at most `gauge.capacity` open connections, counted in `gauge`
    (give it to uvicorn as `http=`)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits, "gauge": gauge})


def _raw_response(status: int, message: str) -> bytes:
    body = error_json(_error_type(status), message)
    phrase = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _error_type(status: int) -> str:
    return "overloaded_error" if status == 503 else "invalid_request_error"


class _Refusal:
    """A tiny ASGI app answering one error with `connection: close`, for a request refused once its headers are in
    (uvicorn then drains and discards its body)."""

    def __init__(self, status: int, message: str) -> None:
        self.body = error_json(_error_type(status), message)
        self.status = status

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _too_large(limit: int) -> str:
    return (
        f"The request's headers are larger than LIMITS.max_header_bytes ({limit} bytes). Claude Code sends about "
        "1.5 KB; check what adds headers (ANTHROPIC_CUSTOM_HEADERS, a proxy), or raise the limit in the config."
    )


class GuardedHttpProtocol(HttpToolsProtocol):
    limits: ConnectionLimits = ConnectionLimits()
    gauge: ConnectionGauge = ConnectionGauge(capacity=1024)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.idle_timeout_ms / 1000  # type: ignore[assignment]  # a float works
        self.phase = Phase.IDLE
        self.last_active = time.monotonic()
        self._header_bytes = 0
        # One deadline at a time (headers, then body), checked by the sweep: a request only stores a float, where
        # a timer per phase cost two handles made and cancelled per request.
        self._deadline = 0.0  # loop time; 0: none
        self._deadline_limit = ""
        self._refused = False

    # -- connection ---------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.gauge.open = len(self.connections)
        if len(self.connections) > self.gauge.capacity and not self._evict_one():
            self._refuse(503, "The router holds as many connections as it can, all busy. Retry in a moment.")
            return
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
        if not self.gauge.sweeping:
            self.gauge.sweeping = True
            self.loop.call_later(SWEEP_S, _sweep, self.loop, self.connections, self.gauge)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        self.gauge.open = len(self.connections)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self.last_active = time.monotonic()
        if self.phase is Phase.IDLE:
            self.phase = Phase.HEADERS
            self._header_bytes = 0
            self._arm("header_timeout_ms")
        if self.phase is Phase.HEADERS:
            self._header_bytes += len(data)
        super().data_received(data)
        if self.phase is Phase.HEADERS and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, _too_large(self.limits.max_header_bytes))

    # -- parser callbacks ---------------------------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        # Fewer bytes read so far than the limit: the headers are within it (no need to add them up).
        within = self.phase is Phase.HEADERS and self._header_bytes <= self.limits.max_header_bytes
        self.phase = Phase.BODY
        self._arm("body_timeout_ms")
        if within or self._headers_size() <= self.limits.max_header_bytes:
            super().on_headers_complete()
            return
        app, self.app = self.app, _Refusal(431, _too_large(self.limits.max_header_bytes))
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def _headers_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + _HEADER_OVERHEAD for name, value in self.headers)

    def on_message_complete(self) -> None:
        self.phase = Phase.APP
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.phase = Phase.IDLE
        self.last_active = time.monotonic()
        super().on_response_complete()  # arms uvicorn's keep-alive timer: LIMITS.idle_timeout_ms

    # -- limits -------------------------------------------------------------------------------------------------

    @property
    def evictable(self) -> bool:
        """Holding a descriptor without a request in the app: idle, or still sending its headers."""
        return self.phase in (Phase.IDLE, Phase.HEADERS) and not self._refused

    def _evict_one(self) -> bool:
        """Close the longest-idle evictable connection other than this one; False when there is none."""
        candidates = [c for c in self.connections if c is not self and isinstance(c, GuardedHttpProtocol)]
        idle = [c for c in candidates if c.evictable]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_active)
        oldest._refused = True
        oldest.transport.close()
        return True

    def _arm(self, limit: str) -> None:
        """Answer 408 unless the phase ends within `LIMITS.<limit>` milliseconds (the sweep checks)."""
        self._deadline = self.loop.time() + getattr(self.limits, limit) / 1000
        self._deadline_limit = limit

    def _disarm(self) -> None:
        self._deadline = 0.0

    def expire_if_due(self, now: float) -> None:
        """The sweep's check: past the deadline of its headers or body, the request gets its 408."""
        if self._deadline and now >= self._deadline:
            limit = self._deadline_limit
            what = (
                "The request's headers did not arrive"
                if limit == "header_timeout_ms"
                else "The request's body did not arrive"
            )
            self._refuse(
                408,
                f"{what} within LIMITS.{limit} ({getattr(self.limits, limit)} ms). Check the connection between the "
                "client and the router, or raise the limit in the config.",
            )

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` when nothing has been answered on this request yet, and close the connection.

        Closing a socket with unread bytes makes the kernel send a reset, which can destroy the answer before the
        client reads it; so after an answer the connection is half-closed and what still arrives is dropped for
        `LINGER_S` (bounded: every byte after the refusal is dropped, unparsed)."""
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self.transport.write(_raw_response(status, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], gauge: ConnectionGauge) -> None:
    """Every SWEEP_S while connections are open: refuse the requests past their header or body deadline."""
    now = loop.time()
    for connection in list(connections):
        if isinstance(connection, GuardedHttpProtocol):
            connection.expire_if_due(now)
    if connections:
        loop.call_later(SWEEP_S, _sweep, loop, connections, gauge)
    else:
        gauge.sweeping = False
