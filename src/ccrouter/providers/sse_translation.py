"""Provider SSE bytes -> Anthropic SSE bytes: the translator skeleton every SSE provider's stream shares.

`SSETranslator` owns the byte side: the SSE decoder, the first bytes kept until an SSE event shows the body is a
stream, the end of the stream, the failure it ended in (`error`, so nobody re-reads it from the bytes), and
encoding (with adjacent deltas of one read joined). A provider's subclass says how one read's SSE events reach its
state machine (`_translate`), and what a body that was JSON rather than a stream means (`_json_instead_of_stream`;
by default an error that quotes it). `event_object` reads one SSE event's data as the JSON object every provider
sends.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import orjson

from ccrouter.providers.base import StreamFailure, Usage, provider_error_text
from ccrouter.providers.stream_events import Event
from ccrouter.sse import SSEDecoder, SSEEvent, encode_event

NOT_JSON = "The provider sent a stream event that is not valid JSON. Try again."


def event_object(data: str) -> dict[str, Any] | None:
    """An SSE event's data as a JSON object; None when it is not JSON or not an object (the caller's `NOT_JSON`)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class EventStateMachine(Protocol):
    """What the translator needs of a provider's state machine (the subclass feeds it)."""

    @property
    def usage(self) -> Usage: ...

    @property
    def stop_reason(self) -> str | None: ...

    def finish(self) -> list[Event]: ...

    def fail(self, error_type: str, message: str, /) -> list[Event]: ...


State = TypeVar("State", bound=EventStateMachine)


class SSETranslator(ABC, Generic[State]):
    """Provider SSE bytes -> Anthropic SSE bytes, around a state machine (a `StreamTranslator`).

    Until the first SSE event arrives, up to `head_limit` bytes of the body are kept: a provider that ignored
    `stream: true`, or answered an error with status 200, sent JSON instead, and `finish` hands it to
    `_json_instead_of_stream` when it starts with one of `json_starts`.
    """

    head_limit: ClassVar[int] = 2000  # bytes kept from a "stream" that may turn out to be a plain JSON error body
    json_starts: ClassVar[tuple[bytes, ...]] = (b"{",)

    def __init__(self, state: State) -> None:
        self._state = state
        self._decoder = SSEDecoder()
        self.usage = state.usage  # the same object: the state updates it in place
        self.stop_reason: str | None = None
        self.error: StreamFailure | None = None
        self._quiet = True  # no event emitted yet
        self._done = False  # the state machine ended: `_translate` sets it
        self._head: bytearray | None = bytearray()  # None once an SSE event arrived

    def feed(self, chunk: bytes) -> bytes:
        if self._done:
            return b""
        if self._head is not None:
            self._keep_head(self._head, chunk)
        sse_events = self._decoder.feed(chunk)
        if not sse_events:
            return b""
        self._head = None
        return self._encode(self._translate(sse_events))

    def finish(self) -> bytes:
        if self._done:
            return b""
        events: list[Event] = []
        sse_events = self._decoder.close()
        if sse_events:
            self._head = None
            events = self._translate(sse_events)
            if self._done:
                return self._encode(events)
        self._done = True
        state = self._state
        head = bytes(self._head).strip() if self._head is not None else b""
        events += self._json_instead_of_stream(head) if head[:1] in self.json_starts else state.finish()
        self.stop_reason = state.stop_reason
        return self._encode(events)

    def _encode(self, events: list[Event]) -> bytes:
        """One read's events as bytes; an `error` event (always the last: the state machine ends with it) is kept
        as `error`."""
        if events:
            if self._done and events[-1][0] == "error":
                self.error = StreamFailure.of_event(events[-1][1], at_start=self._quiet and len(events) == 1)
            self._quiet = False
        return encode_events(events)

    def _keep_head(self, head: bytearray, chunk: bytes) -> None:
        """Keep the start of a body that may not be a stream (each read cut to `head_limit`)."""
        if len(head) < self.head_limit:
            head += chunk[: self.head_limit]

    @abstractmethod
    def _translate(self, sse_events: list[SSEEvent]) -> list[Event]:
        """One read's SSE events (never empty) -> Anthropic events; sets `stop_reason`, and `_done` once the
        state machine has ended."""

    def _json_instead_of_stream(self, head: bytes) -> list[Event]:
        """The provider sent JSON, not a stream: most likely an error (with status 200) to pass on."""
        text = provider_error_text(head)
        return self._state.fail("api_error", f"The provider answered with JSON instead of a stream: {text}")


def encode_events(events: list[Event]) -> bytes:
    """Anthropic SSE bytes for one read's events, with adjacent deltas of one block joined (see `_coalesce`)."""
    if not events:
        return b""
    if len(events) == 1:
        return encode_event(*events[0])
    return b"".join([encode_event(name, data) for name, data in _coalesce(events)])


# Delta types whose pieces may be joined, and the field that holds the piece.
_JOINABLE = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def _coalesce(events: list[Event]) -> list[Event]:
    """Join adjacent deltas of one block that arrived in the same read into one event.

    A provider that sends many small chunks at once (or a client that reads slowly) would otherwise cost one
    encoded event per chunk; Anthropic streams carry deltas of any size, so the client sees the same content.
    """
    merged: list[Event] = []
    pieces: list[str] = []  # the pieces of merged[-1] while it is a joinable delta
    for name, data in events:
        if name == "content_block_delta" and pieces and data["index"] == merged[-1][1]["index"]:
            delta, last = data["delta"], merged[-1][1]["delta"]
            field = _JOINABLE.get(delta["type"])
            if field is not None and last["type"] == delta["type"]:
                pieces.append(delta[field])
                continue
        if pieces and len(pieces) > 1:
            last = merged[-1][1]["delta"]
            last[_JOINABLE[last["type"]]] = "".join(pieces)
        pieces = []
        merged.append((name, data))
        if name == "content_block_delta":
            field = _JOINABLE.get(data["delta"]["type"])
            if field is not None:
                pieces = [data["delta"][field]]
    if len(pieces) > 1:
        last = merged[-1][1]["delta"]
        last[_JOINABLE[last["type"]]] = "".join(pieces)
    return merged
