"""Server-sent events: the one decoder and the one encoder in ccrouter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    """Incremental SSE parser: feed it bytes as they arrive, get complete events back.

    Handles CRLF/LF/CR line endings, multi-line `data:`, comments and events split across chunks.
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
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not line:
                if self._data or self._event is not None:
                    events.append(SSEEvent(self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line[0] == ":":
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
        return events

    def close(self) -> list[SSEEvent]:
        """Flush an event the upstream ended without a blank line."""
        events = self.feed(b"\n\n") if self._buffer or self._data else []
        return events


def encode_event(event: str, data: dict[str, Any]) -> bytes:
    """One Anthropic-style SSE event: `event: NAME` and a JSON `data:` line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


PING = encode_event("ping", {"type": "ping"})
