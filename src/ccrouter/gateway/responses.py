"""Writing HTTP responses to an ASGI `send`: JSON bodies, Anthropic errors and SSE streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from ccrouter.errors import GatewayError, error_json

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Headers = Iterable[tuple[str, str]]

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def _encode_headers(extra: Headers) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in extra]


async def send_bytes(send: Send, status: int, body: bytes, headers: Headers = (), content_type: bool = True) -> None:
    raw = [_JSON] if content_type else []
    raw.append((b"content-length", str(len(body)).encode()))
    raw.extend(_encode_headers(headers))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any, headers: Headers = ()) -> None:
    await send_bytes(send, status, orjson.dumps(data), headers)


async def send_error(send: Send, error: GatewayError, headers: Headers = ()) -> None:
    await send_bytes(send, error.status, error_json(error.error_type, error.message), headers)


async def start_stream(send: Send, headers: Headers = ()) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS + _encode_headers(headers)})


async def stream_chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def end_stream(send: Send, data: bytes = b"") -> None:
    await send({"type": "http.response.body", "body": data, "more_body": False})
