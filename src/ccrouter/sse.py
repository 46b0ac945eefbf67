"""Server-sent events: the one decoder and the one encoder in ccrouter."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson


class SSEEvent(NamedTuple):
    event: str | None
    data: str


class SSEDecoder:
    """Incremental SSE parser: feed it bytes as they arrive, get complete events back.

    Handles CRLF/LF/CR line endings, multi-line `data:`, comments and events split across chunks. It runs once
    per streamed chunk, so the common lines (`data:`, `event:`, blank) are recognised on bytes before decoding.
    """

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            # A trailing CR may be half of a CRLF split across chunks; keep it for the next feed.
            hold_cr = buffer.endswith(b"\r")
            if hold_cr:
                buffer = buffer[:-1]
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if hold_cr:
                buffer += b"\r"
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data or self._event is not None:
                    events.append(SSEEvent(self._event, data[0] if len(data) == 1 else "\n".join(data)))
                    data = []
                self._event = None
            elif line.startswith(b"data:"):
                data.append(_field_value(line, 5))
            elif line.startswith(b"event:"):
                self._event = _field_value(line, 6)
            # comments (":...") and the fields ccrouter has no use for (id, retry) are skipped
        self._data = data
        return events

    def close(self) -> list[SSEEvent]:
        """Flush an event the upstream ended without a blank line."""
        return self.feed(b"\n\n") if self._buffer or self._data else []


def _field_value(line: bytes, start: int) -> str:
    if line[start : start + 1] == b" ":
        start += 1
    return line[start:].decode("utf-8", "replace")


def encode_event(event: str, data: dict[str, Any]) -> bytes:
    """One Anthropic-style SSE event: `event: NAME` and a JSON `data:` line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


PING = encode_event("ping", {"type": "ping"})
