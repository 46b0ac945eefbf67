"""Two fault-injecting OpenAI chat-completions upstreams for bench/faults.py, in one process on two ports.

    POST /v1/chat/completions  -> a streamed reply (20-50 text chunks, finish_reason, usage, [DONE]), or a fault
    GET  /health               -> 200
    GET  /stats                -> {"<upstream>": {"requests": N, "<kind>": N, ...}, ..., "loop": {lag of this process}}
    GET  /log                  -> {"<request id>": ["<upstream>:<kind>", ...], ...} in arrival order

Each request to an upstream fails with probability --<upstream>-rate, with a kind drawn from FAULT_WEIGHTS
(429 without and with `Retry-After: 1` share one eighth). The request id comes from the marker
`ccr-fault-bench id=N` in the body, which also fixes the reply text (`reply_pieces`, shared with the load
generator so it can check the text it was served). A marker with ` doom` makes both upstreams answer 503 to
every attempt: a request nobody can serve.

Run: python bench/fault_upstream.py --primary-port P --backup-port B [--primary-rate 0.05] [--backup-rate 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import socket
import struct
from collections import Counter

from fake_text import WORDS

FAULT_WEIGHTS = {
    "http_429": 0.5,
    "http_429_retry_after": 0.5,
    "http_500": 1.0,
    "http_503": 1.0,
    "http_529": 1.0,
    "reset_before_headers": 1.0,
    "reset_mid_stream": 1.0,
    "stall_before_headers": 1.0,
    "malformed_sse": 1.0,
}
# The router's attempt status for each kind: what x-ccr-attempts must say about that attempt.
EXPECTED_STATUS = {
    "ok": 200,
    "http_429": 429,
    "http_429_retry_after": 429,
    "http_500": 500,
    "http_503": 503,
    "http_529": 529,
    "reset_before_headers": 502,
    "reset_mid_stream": 200,  # the headers said 200; the stream breaks after its first chunks
    "stall_before_headers": 504,
    "malformed_sse": 502,
    "doomed": 503,
}
MARKER_RE = re.compile(rb"ccr-fault-bench id=(\d+)( doom)?")
MODEL = {"primary": "p-model", "backup": "b-model"}


def reply_pieces(upstream: str, request_id: int) -> list[str]:
    """The text chunks `upstream` streams for request `request_id` (20 to 50 of them)."""
    rng = random.Random(f"{upstream}:{request_id}")
    n = rng.randint(20, 50)
    return [f"[{upstream} #{request_id}] "] + [rng.choice(WORDS) + " " for _ in range(n - 1)]


def _sse(obj: object) -> bytes:
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def stream_events(upstream: str, request_id: int) -> list[bytes]:
    """The HTTP chunks of one streamed completion: role, text pieces, finish, usage, [DONE], end."""
    base = {"id": f"chatcmpl-{upstream}-{request_id}", "object": "chat.completion.chunk", "model": MODEL[upstream]}
    pieces = reply_pieces(upstream, request_id)
    out = [_sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    out += [_sse({**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}) for p in pieces]
    out.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": 60, "completion_tokens": len(pieces), "total_tokens": 60 + len(pieces)}
    out.append(_sse({**base, "choices": [], "usage": usage}))
    out.append(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    return out


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _response(status: int, reason: str, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _error(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"message": message, "type": "injected_fault", "code": status}}).encode()
    return _response(status, reason, body, extra)


FAULT_REPLIES = {
    "http_429": _error(429, "Too Many Requests", "injected 429: rate limited"),
    "http_429_retry_after": _error(429, "Too Many Requests", "injected 429: retry in 1 s", "retry-after: 1\r\n"),
    "http_500": _error(500, "Internal Server Error", "injected 500"),
    "http_503": _error(503, "Service Unavailable", "injected 503"),
    "http_529": _error(529, "Overloaded", "injected 529: overloaded"),
    "doomed": _error(503, "Service Unavailable", "injected 503: this request cannot be served"),
}


class Upstream:
    def __init__(self, name: str, rate: float, seed: int, log: dict[str, list[str]], settings: argparse.Namespace):
        self.name = name
        self.rate = rate
        self.rng = random.Random(f"{seed}:{name}")
        self.log = log
        self.peers: dict[str, Upstream] = {}  # both upstreams, for /stats
        self.counts: Counter[str] = Counter()
        self.stall_s = settings.stall_s
        self.interval = settings.chunk_interval_ms / 1000
        self.kinds = list(FAULT_WEIGHTS)
        self.weights = list(FAULT_WEIGHTS.values())

    def pick(self, doomed: bool) -> str:
        if doomed:
            return "doomed"
        if self.rng.random() < self.rate:
            return self.rng.choices(self.kinds, self.weights)[0]
        return "ok"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, _, header_text = head.partition(b"\r\n")
        headers = {}
        for line in header_text.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        method, path = request_line.split(b" ")[:2]
        if method == b"GET":
            writer.write(self._get(path))
            await writer.drain()
            return True
        if path != b"/v1/chat/completions":
            writer.write(_error(404, "Not Found", "no such endpoint"))
            await writer.drain()
            return True
        marker = MARKER_RE.search(body)
        request_id = int(marker.group(1)) if marker else -1
        kind = self.pick(bool(marker and marker.group(2)))
        self.counts["requests"] += 1
        self.counts[kind] += 1
        self.log.setdefault(str(request_id), []).append(f"{self.name}:{kind}")
        if kind in FAULT_REPLIES:
            writer.write(FAULT_REPLIES[kind])
            await writer.drain()
            return True
        if kind == "reset_before_headers":
            _reset(writer)
            return False
        if kind == "stall_before_headers":
            # The router should give up after RETRY.attempt_timeout_ms and close the connection.
            try:
                data = await asyncio.wait_for(reader.read(1), self.stall_s)
            except TimeoutError:
                data = b"?"
            self.counts["stall_abandoned_by_router" if not data else "stall_outlived"] += 1
            if not data:
                return False
            kind = "ok"  # the router waited longer than the stall: answer late, then close
        if kind == "malformed_sse":
            writer.write(SSE_HEAD + _chunk(b"data: {this is not json\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        events = stream_events(self.name, request_id)
        cut = self.rng.randint(2, len(events) - 4) if kind == "reset_mid_stream" else len(events)
        writer.write(SSE_HEAD + events[0])
        for event in events[1:cut]:
            if self.interval:
                await asyncio.sleep(self.interval)
            writer.write(event)
            await writer.drain()
        if kind == "reset_mid_stream":
            await asyncio.sleep(0.02)  # let the router translate and forward what it got first
            _reset(writer)
            return False
        await writer.drain()
        return True

    def _get(self, path: bytes) -> bytes:
        if path == b"/health":
            return _response(200, "OK", b'{"status":"ok"}')
        if path == b"/stats":
            stats: dict[str, object] = {n: dict(u.counts) for n, u in self.peers.items()}
            stats["loop"] = LOOP_LAG
            return _response(200, "OK", json.dumps(stats).encode())
        if path == b"/log":
            return _response(200, "OK", json.dumps(self.log).encode())
        return _error(404, "Not Found", "no such endpoint")


LOOP_LAG = {"max_ms": 0.0, "over_100ms": 0, "over_500ms": 0}  # how late this process's event loop ran


async def watch_loop_lag(interval: float = 0.01) -> None:
    """Record how late a 10 ms sleep wakes up: if the mocks fall behind, the router's time-outs are theirs."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval)
        lag_ms = (loop.time() - before - interval) * 1000
        LOOP_LAG["max_ms"] = round(max(LOOP_LAG["max_ms"], lag_ms), 1)
        LOOP_LAG["over_100ms"] += lag_ms > 100
        LOOP_LAG["over_500ms"] += lag_ms > 500


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), like a crashed server or a dropped load balancer connection."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def serve(args: argparse.Namespace) -> None:
    log: dict[str, list[str]] = {}
    peers = {
        "primary": Upstream("primary", args.primary_rate, args.seed, log, args),
        "backup": Upstream("backup", args.backup_rate, args.seed, log, args),
    }
    servers = []
    for name, port in (("primary", args.primary_port), ("backup", args.backup_port)):
        peers[name].peers = peers
        servers.append(await asyncio.start_server(peers[name].handle, "127.0.0.1", port, backlog=2048))
    watcher = asyncio.create_task(watch_loop_lag())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    watcher.cancel()
    for server in servers:
        server.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--primary-port", type=int, required=True)
    p.add_argument("--backup-port", type=int, required=True)
    p.add_argument("--primary-rate", type=float, default=0.05, help="share of primary requests that fail")
    p.add_argument("--backup-rate", type=float, default=0.01, help="share of backup requests that fail")
    p.add_argument("--stall-s", type=float, default=5.0, help="how long a stall before headers lasts")
    p.add_argument("--chunk-interval-ms", type=float, default=2.0, help="pause between streamed chunks")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a project dependency on Linux
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
