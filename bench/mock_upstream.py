"""A very fast OpenAI chat-completions mock upstream for the overhead benchmark.

Raw asyncio protocol on uvloop with a minimal HTTP/1.1 parser: it must never be the bottleneck, so every
response is pre-encoded at start-up and the request body is only scanned, never JSON-decoded.

    POST /v1/chat/completions          non-stream -> a fixed small completion with usage
    POST /v1/chat/completions  stream  -> 100 SSE content chunks, a finish chunk, a usage chunk, [DONE]
    GET  /health                       -> 200

Streams are sent with `Transfer-Encoding: chunked` (one HTTP chunk per SSE event, like a real provider);
non-stream responses carry Content-Length. Connections are kept alive unless the client says otherwise.

Run: python bench/mock_upstream.py --port 18080 [--chunks 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from typing import cast

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024

# Streaming detection on the raw body: `"stream": true` with any JSON whitespace. The bench bodies put
# `stream` at top level; a nested `"stream": true` elsewhere would also match, which the workloads never have.
# A prompt that merely contains the text `"stream"` is skipped unless `: true` follows it.
_STREAM_KEY = b'"stream"'
_STREAM_TRUE_RE = re.compile(rb"\s*:\s*true")
_CONTENT_LENGTH_RE = re.compile(rb"\r\ncontent-length\s*:\s*(\d+)", re.IGNORECASE)
_CHUNKED_RE = re.compile(rb"\r\ntransfer-encoding\s*:[^\r]*chunked", re.IGNORECASE)
_CONN_CLOSE_RE = re.compile(rb"\r\nconnection\s*:\s*close", re.IGNORECASE)

MODEL = "bench-model"
COMPLETION_ID = "chatcmpl-bench0000000000000000000000"
CREATED = 1_700_000_000


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def build_completion() -> bytes:
    """The fixed non-stream completion body (OpenAI chat.completion with usage)."""
    return _json(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! This is a fixed benchmark reply from the mock upstream.",
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 512, "completion_tokens": 14, "total_tokens": 526},
        }
    )


def build_stream_events(chunks: int) -> list[bytes]:
    """The SSE events of one streamed completion, each already framed as `data: ...\\n\\n`."""
    base = {"id": COMPLETION_ID, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL}
    events: list[dict[str, object]] = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    for i in range(chunks):
        events.append({**base, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 512, "completion_tokens": chunks, "total_tokens": 512 + chunks},
        }
    )
    framed = [b"data: " + _json(e) + b"\n\n" for e in events]
    framed.append(b"data: [DONE]\n\n")
    return framed


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class Responses:
    """All response bytes, encoded once."""

    def __init__(self, chunks: int) -> None:
        body = build_completion()
        self.completion = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        events = build_stream_events(chunks)
        # Headers plus the first event go out together; the remaining events are written one by one so
        # that the gateway sees a real multi-packet stream, then the terminating zero-length chunk.
        self.stream_parts = [head + _http_chunk(events[0])] + [_http_chunk(e) for e in events[1:]]
        self.stream_parts[-1] += b"0\r\n\r\n"
        health = b'{"status":"ok"}'
        self.health = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(health)}\r\n\r\n".encode()
            + health
        )
        nf = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
        self.not_found = (
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(nf)}\r\n\r\n".encode()
            + nf
        )
        self.bad_request = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class MockProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; bodies by Content-Length or chunked transfer encoding."""

    __slots__ = ("buf", "responses", "stream_pause", "transport")

    def __init__(self, responses: Responses, stream_pause: bool) -> None:
        self.responses = responses
        self.stream_pause = stream_pause
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.buf:
            self.buf += data
        else:
            self.buf = bytearray(data)
        while self.transport is not None and self._handle_one():
            pass

    def _handle_one(self) -> bool:
        """Serve one complete request from the buffer; False when more bytes are needed."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEADER_BYTES:
                self._close_with(self.responses.bad_request)
            return False
        head = bytes(buf[: end + 2])  # keep the last CRLF so every header line starts with CRLF
        body_start = end + 4
        if _CHUNKED_RE.search(head):
            parsed = _parse_chunked(buf, body_start)
            if parsed is None:
                return False
            body, consumed = parsed
            stream = _wants_stream(body, 0, len(body))
        else:
            m = _CONTENT_LENGTH_RE.search(head)
            length = int(m.group(1)) if m else 0
            if length > MAX_BODY_BYTES:
                self._close_with(self.responses.bad_request)
                return False
            if len(buf) < body_start + length:
                return False
            consumed = body_start + length
            stream = _wants_stream(buf, body_start, consumed)
        if consumed == len(buf):
            self.buf = bytearray()
        else:
            del buf[:consumed]
        close = _CONN_CLOSE_RE.search(head) is not None

        line_end = head.find(b"\r\n")
        request_line = head[:line_end]
        transport = self.transport
        assert transport is not None
        if request_line.startswith(b"POST /v1/chat/completions"):
            if stream:
                if self.stream_pause:
                    asyncio.get_running_loop().create_task(self._stream_slowly(transport, close))
                    if close:
                        self.transport = None
                    return not close
                transport.writelines(self.responses.stream_parts)
            else:
                transport.write(self.responses.completion)
        elif request_line.startswith(b"GET /health"):
            transport.write(self.responses.health)
        else:
            transport.write(self.responses.not_found)
        if close:
            transport.close()
            self.transport = None
            return False
        return True

    async def _stream_slowly(self, transport: asyncio.Transport, close: bool) -> None:
        """Yield to the loop between events so each one leaves in its own packet (--stream-pause)."""
        for part in self.responses.stream_parts:
            if transport.is_closing():
                return
            transport.write(part)
            await asyncio.sleep(0)
        if close:
            transport.close()

    def _close_with(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
            self.transport.close()
            self.transport = None


def _wants_stream(buf: bytes | bytearray, start: int, end: int) -> bool:
    """True if the body in buf[start:end] has `"stream": true` (found with a fast substring search)."""
    pos = buf.find(_STREAM_KEY, start, end)
    while pos >= 0:
        if _STREAM_TRUE_RE.match(buf, pos + len(_STREAM_KEY), end):
            return True
        pos = buf.find(_STREAM_KEY, pos + len(_STREAM_KEY), end)
    return False


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at pos; None if incomplete. Returns (body, bytes consumed)."""
    out = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0].strip() or b"0", 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(out), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        out += buf[pos : pos + size]
        pos += size + 2


async def serve(host: str, port: int, chunks: int, stream_pause: bool) -> None:
    responses = Responses(chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: MockProtocol(responses, stream_pause), host, port, reuse_address=True, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--chunks", type=int, default=100, help="content chunks per streamed completion")
    parser.add_argument(
        "--stream-pause",
        action="store_true",
        help="yield to the event loop between SSE events (more packets, slower mock)",
    )
    args = parser.parse_args()
    coro = serve(args.host, args.port, args.chunks, args.stream_pause)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a project dependency on Linux
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
