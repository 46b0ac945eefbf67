"""The dashboard's live view: the last requests and warnings in memory, and their stream to open pages.

`LiveFeed` is a record sink of the gateway's and a tap of its `Logger`. The request path pays a deque append per
record and nothing else while no page is open: records are kept as the objects themselves and turned into dicts only
when a page asks (`requests`, `request`) or listens (`subscribe`). Warnings and errors, rare, are kept as the
entries they became in the log (redacted and clipped), in a ring of their own.

A listening page is a `Subscription`: a bounded queue of encoded SSE events. One that falls behind (a stalled tab)
is closed rather than let grow; the browser's EventSource reconnects and reads the lists again. Records arrive on
the event loop; log entries may come from any thread (the reload thread, the ledger writer), so those are handed
to the loop before they reach a queue.

Everything that left a provider (a record's error, each attempt's error, log fields) goes through the current
config's redactor on its way out, and client strings (session ids, model names) are clipped as the log clips them.

With STATE_URL, `shared_feed.py` shares the feed with the other routers: it reads this ring in the background and
hands the others' records in (`add_other`, as the dicts the detail shows, in a ring of their own); the lists, the
detail and the stream then show every router's requests, each named by its `instance`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from ccrouter.errors import GatewayError
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.responses import Send, end_stream, send_error, stream_chunk
from ccrouter.sse import encode_event
from ccrouter.untrusted import MAX_LOG_FIELD_CHARS, clip

Redact = Callable[[str], str]

MAX_RECORDS = 1000
MAX_LOG_ENTRIES = 500
MAX_SUBSCRIBERS = 16  # open pages listening at once; past it a page is told to close some
QUEUE_EVENTS = 1000  # events a page may be behind before it is dropped
MAX_LIMIT = 1000
KEEPALIVE_S = 15.0  # a comment line while nothing happens, so proxies and browsers keep the stream open
CLIENT_CLOSED = 499  # the client left: no failure of the router or the provider (as the ledger counts errors)
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
_KEEPALIVE = b": keepalive\n\n"
_DETAIL_ONLY = frozenset(("stop_reason", "budget", "pinned", "request_class"))


class Subscription:
    """One listening page: the encoded events waiting for it, then None once it is closed."""

    __slots__ = ("_drop", "_queue", "closed")

    def __init__(self, drop: Callable[[Subscription], None], size: int) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(size)
        self._drop = drop
        self.closed = False

    def offer(self, event: bytes) -> bool:
        """Queue `event`; False when the page is too far behind to take it."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    async def next(self) -> bytes | None:
        """The next event, waiting for it; None once the subscription is closed."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        """Stop listening: what was queued is dropped (the page reads the lists again when it reconnects)."""
        if self.closed:
            return
        self.closed = True
        self._drop(self)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class LiveFeed:
    """The last `MAX_RECORDS` request records and `MAX_LOG_ENTRIES` warnings/errors, and the pages listening.

    `redact_of` returns the current config's redactor (`lambda: gateway.runtime.redact`: it changes on reload)."""

    def __init__(
        self,
        redact_of: Callable[[], Redact],
        *,
        max_records: int = MAX_RECORDS,
        max_log_entries: int = MAX_LOG_ENTRIES,
        max_subscribers: int = MAX_SUBSCRIBERS,
        queue_events: int = QUEUE_EVENTS,
    ) -> None:
        self._redact_of = redact_of
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._others: deque[dict[str, Any]] = deque(maxlen=max_records)  # other routers' records (shared_feed.py)
        self.instance: str | None = None  # this router's name in a shared feed (shared_feed.py sets it)
        self._logs: deque[dict[str, Any]] = deque(maxlen=max_log_entries)
        self._logs_lock = threading.Lock()  # entries come from any thread
        self._subscribers: list[Subscription] = []
        self._max_subscribers = max_subscribers
        self._queue_events = queue_events
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the subscribers listen on

    # -----------------------------------------------------------------------------------------------------------
    # In: records (on the event loop) and log entries (any thread)

    def __call__(self, record: RequestRecord) -> None:
        """The record sink: keep the record; tell the listening pages, if any."""
        self._records.append(record)
        if self._subscribers:
            self._publish(encode_event("request", self._listed(record, self.redact)))

    def add_other(self, detail: dict[str, Any]) -> None:
        """Keep another router's record (a detail as it published it), redacted again with this config's secrets;
        tell the listening pages. Called by shared_feed.py's background loop, never on a request's path."""
        kept = _redacted(detail, self.redact)
        self._others.append(kept)
        if self._subscribers:
            self._publish(encode_event("request", _summary_of(kept)))

    def tap(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        """The `Logger` tap: one warn or error entry, its fields as the log wrote them."""
        entry = self._log_entry(level, msg, fields)
        with self._logs_lock:
            self._logs.append(entry)
        if self._subscribers:
            self._publish_from_any_thread(encode_event("log", entry))

    # -----------------------------------------------------------------------------------------------------------
    # Out: lists and single records (asked on the event loop)

    def requests(
        self, limit: int = 200, session: str | None = None, route: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Summaries of the records that match, newest first (the other routers' too, with a shared feed). `route`
        also matches "subagent:<type>" for "subagent"; `status` is "ok" (< 400), "error" (>= 400 but 499, the client
        leaving) or a status code."""
        wanted = _status_filter(status)
        count = _checked_limit(limit)
        redact = self.redact

        def matching(session_id: Any, scenario: Any, code: Any) -> bool:
            return (not session or session_id == session) and (not route or _on_route(scenario, route)) and wanted(code)

        own = (r for r in reversed(self._records) if matching(r.session_id, r.scenario, r.status))
        found = [self._listed(record, redact) for record in islice(own, count)]
        if not self._others:
            return found
        others = (d for d in reversed(self._others) if matching(d.get("session_id"), d.get("scenario"), d["status"]))
        return sorted([*found, *map(_summary_of, islice(others, count))], key=_ended_at, reverse=True)[:count]

    def request(self, request_id: str) -> dict[str, Any] | None:
        """One record in full (its attempts, stop reason, budget...); None when it is no longer in memory."""
        record = self.find(request_id)
        if record is not None:
            return self.detail(record)
        return next((dict(d) for d in reversed(self._others) if d["request_id"] == request_id), None)

    def detail(self, record: RequestRecord) -> dict[str, Any]:
        """`record` in full, redacted with the current config, named by this router's instance in a shared feed
        (what shared_feed.py publishes)."""
        return self._named(self._detail(record, self.redact))

    def find(self, request_id: str) -> RequestRecord | None:
        return next((r for r in reversed(self._records) if r.request_id == request_id), None)

    def last_of_session(self, session_id: str) -> RequestRecord | None:
        """The newest record of `session_id`."""
        return next((r for r in reversed(self._records) if r.session_id == session_id), None)

    def recent(self, seconds: float, now: float | None = None) -> list[RequestRecord]:
        """The records of the requests that ended in the last `seconds`, in the order they ended (provider health).
        Safe in any thread: it reads a snapshot of the ring."""
        cutoff = (time.time() if now is None else now) - seconds
        return [record for record in self.snapshot() if record.started_at + record.latency_ms / 1000 >= cutoff]

    def snapshot(self) -> list[RequestRecord]:
        """The ring's records, copied without a lock (the request path takes none): the copy runs in C, so no other
        thread appends meanwhile; should one ever, the copy is taken again."""
        while True:
            try:
                return list(self._records)
            except RuntimeError:  # "deque mutated during iteration"
                continue

    def logs(self, limit: int = 200) -> list[dict[str, Any]]:
        """The warn and error entries, newest first."""
        count = _checked_limit(limit)
        with self._logs_lock:
            entries = list(self._logs)
        return entries[::-1][:count]

    def redact(self, text: str) -> str:
        """`text` with the current config's secrets replaced."""
        return self._redact_of()(text)

    # -----------------------------------------------------------------------------------------------------------
    # Listening pages

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> Subscription | None:
        """A new listener (on the running event loop); None when `max_subscribers` already listen."""
        if len(self._subscribers) >= self._max_subscribers:
            return None
        self._loop = asyncio.get_running_loop()
        subscription = Subscription(self._unsubscribe, self._queue_events)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    def _publish(self, event: bytes) -> None:
        """Queue `event` for every listener (on the loop); one that is too far behind is closed."""
        for subscription in list(self._subscribers):
            if not subscription.offer(event):
                subscription.close()

    def _publish_from_any_thread(self, event: bytes) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._publish(event)
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed (the service is stopping)
            loop.call_soon_threadsafe(self._publish, event)

    # -----------------------------------------------------------------------------------------------------------
    # Shapes

    def _listed(self, record: RequestRecord, redact: Redact) -> dict[str, Any]:
        return self._named(self._summary(record, redact))

    def _named(self, shape: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            shape["instance"] = self.instance
        return shape

    @staticmethod
    def _summary(record: RequestRecord, redact: Redact) -> dict[str, Any]:
        return {
            "request_id": record.request_id,
            "time": round(record.started_at, 3),
            "session_id": _client_text(record.session_id),
            "user": record.user,
            "scenario": record.scenario,
            "provider": record.provider,
            "model": record.model,
            "requested_model": _client_text(record.requested_model),
            "status": record.status,
            "attempts": len(record.attempts),
            "latency_ms": record.latency_ms,
            "ttft_ms": record.ttft_ms,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cache_read_tokens": record.cache_read_input_tokens,
            "cache_write_tokens": record.cache_creation_input_tokens,
            "cost_usd": record.cost_usd,
            "stream": record.stream,
            "error": provider_text(record.error, redact),
        }

    @classmethod
    def _detail(cls, record: RequestRecord, redact: Redact) -> dict[str, Any]:
        attempts = [
            {"target": a.label, "status": a.status, "error": provider_text(a.error, redact), "ms": a.ms}
            for a in record.attempts
        ]
        return {
            **cls._summary(record, redact),
            "attempts": attempts,
            "stop_reason": record.stop_reason,
            "budget": record.budget,
            "pinned": record.pinned,
            "request_class": record.request_class,
        }

    def _log_entry(self, level: str, msg: str, fields: dict[str, Any]) -> dict[str, Any]:
        redact = self.redact
        rest = {key: _redacted(value, redact) for key, value in fields.items() if key != "request_id"}
        request_id = fields.get("request_id")
        return {
            "time": round(time.time(), 3),
            "level": level,
            "msg": redact(msg),
            "request_id": request_id if isinstance(request_id, str) else None,
            "fields": rest,
        }


async def stream_events(feed: LiveFeed, send: Send, *, keepalive_s: float = KEEPALIVE_S) -> None:
    """`GET /api/ui/events`: `request` and `log` events as they happen, `: keepalive` while nothing does. Ends when
    the subscription is closed (the page fell behind); the caller cancels it when the client leaves. A 503 when
    too many pages listen already."""
    subscription = feed.subscribe()
    if subscription is None:
        await send_error(
            send,
            GatewayError(
                503,
                f"{MAX_SUBSCRIBERS} dashboard pages are listening already: close some dashboard tabs, then reload.",
                "overloaded_error",
            ),
        )
        return
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        while True:
            try:
                async with asyncio.timeout(keepalive_s):
                    event = await subscription.next()
            except TimeoutError:
                await stream_chunk(send, _KEEPALIVE)
                continue
            if event is None:
                break
            await stream_chunk(send, event)
        await end_stream(send)
    finally:
        subscription.close()


def provider_text(text: str | None, redact: Redact) -> str | None:
    """A provider's words on their way out: secrets replaced, then clipped as a log field is."""
    return None if text is None else clip(redact(text), MAX_LOG_FIELD_CHARS)


def _client_text(text: str | None) -> str | None:
    return None if text is None else clip(text, MAX_LOG_FIELD_CHARS)


def _redacted(value: Any, redact: Redact) -> Any:
    """A JSON value with every string in it redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact) for item in value]
    return value


def _summary_of(detail: dict[str, Any]) -> dict[str, Any]:
    """Another router's record as the list shows it: its detail without the detail's own fields."""
    summary = {key: value for key, value in detail.items() if key not in _DETAIL_ONLY}
    summary["attempts"] = len(detail["attempts"])
    return summary


def _ended_at(summary: dict[str, Any]) -> float:
    """When the request ended: the order of the ring, so the routers' records interleave as they happened."""
    return float(summary["time"]) + float(summary["latency_ms"] or 0) / 1000


def _on_route(scenario: Any, route: str) -> bool:
    return isinstance(scenario, str) and (scenario == route or scenario.startswith(f"{route}:"))


def _status_filter(status: str | None) -> Callable[[int], bool]:
    if not status:
        return lambda code: True
    if status == "ok":
        return lambda code: code < 400
    if status == "error":
        return lambda code: code >= 400 and code != CLIENT_CLOSED
    if status.isdigit() and len(status) == 3:
        wanted = int(status)
        return lambda code: code == wanted
    raise GatewayError(400, f"status {clip(status)!r} is not a filter: use ok, error or an HTTP status such as 502.")


def _checked_limit(limit: int) -> int:
    """`limit` within 1..MAX_LIMIT (more is what is kept anyway)."""
    if limit < 1:
        raise GatewayError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}; it was {limit}.")
    return min(limit, MAX_LIMIT)
