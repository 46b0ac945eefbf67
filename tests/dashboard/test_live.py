"""The dashboard's live feed with real RequestRecords: the ring's bound, the filters, redaction of what providers
said, nothing done on the request path while no page listens, slow listeners dropped, the cap on listeners, log
entries from other threads, and the SSE stream itself."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from ccrouter.config.model import Provider, Target
from ccrouter.dashboard import live
from ccrouter.dashboard.live import LiveFeed, stream_events
from ccrouter.errors import GatewayError
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.paths import LOG_FILE
from ccrouter.providers.base import REDACTED
from ccrouter.untrusted import MAX_LOG_FIELD_CHARS

KEY = "sk-live-provider-key-0123456789"
NEW_KEY = "sk-after-reload-key-987654321"
PROVIDER = Provider("deepseek", "https://api.deepseek.com/chat/completions", KEY, ("deepseek-chat",))
BACKUP = Provider("openrouter", "https://openrouter.ai/api/v1/chat/completions", None, ("m",))
_ids = itertools.count(1)


def record(**fields: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": f"req_{next(_ids):06d}",
        "started_at": 1_750_000_000.0,
        "session_id": "s1",
        "scenario": "default",
        "provider": "deepseek",
        "model": "deepseek-chat",
        "status": 200,
        "latency_ms": 800.0,
    }
    values.update(fields)
    return RequestRecord(**values)


def feed_with(*secrets: str, **options: Any) -> LiveFeed:
    redactor = Redactor(secrets)
    return LiveFeed(lambda: redactor, **options)


class Collected:
    """An ASGI `send` that keeps what it was sent and lets a test wait for what it expects."""

    def __init__(self) -> None:
        self.messages: list[MutableMapping[str, Any]] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        self.messages.append(message)
        self._changed.set()

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")

    async def wait_for(self, wanted: bytes, timeout: float = 20.0) -> None:
        await self.wait_until(lambda: wanted in self.body, timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def events_of(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in body.split(b"\n\n"):
        lines = dict(line.split(b": ", 1) for line in block.split(b"\n") if line and not line.startswith(b":"))
        if b"event" in lines:
            found.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
    return found


def test_the_ring_keeps_the_newest_thousand_records() -> None:
    feed = LiveFeed(lambda: Redactor(()))
    records = [record() for _ in range(1005)]
    for each in records:
        feed(each)
    listed = feed.requests(limit=5000)
    assert len(listed) == 1000
    assert [r["request_id"] for r in listed[:2]] == [records[-1].request_id, records[-2].request_id]
    assert listed[-1]["request_id"] == records[5].request_id
    assert feed.find(records[4].request_id) is None and feed.request(records[4].request_id) is None
    assert feed.find(records[5].request_id) is records[5]


def test_filters_by_session_route_and_status() -> None:
    feed = feed_with()
    feed(record(session_id="a", scenario="default", status=200))
    feed(record(session_id="a", scenario="subagent:explore", status=502, error="bad gateway"))
    feed(record(session_id="b", scenario="subagent", status=499))
    feed(record(session_id="b", scenario="think", status=429))
    feed(record(session_id="b", scenario="default", status=200))

    def matching(**filters: Any) -> list[tuple[str | None, str | None, int]]:
        return [(r["session_id"], r["scenario"], r["status"]) for r in feed.requests(**filters)]

    assert matching(session="a") == [("a", "subagent:explore", 502), ("a", "default", 200)]
    assert matching(route="subagent") == [("b", "subagent", 499), ("a", "subagent:explore", 502)]
    assert matching(status="ok") == [("b", "default", 200), ("a", "default", 200)]
    assert matching(status="error") == [("b", "think", 429), ("a", "subagent:explore", 502)]  # 499: the client left
    assert matching(status="499", session="b") == [("b", "subagent", 499)]
    assert matching(limit=2) == [("b", "default", 200), ("b", "think", 429)]
    for bad in ({"status": "failed"}, {"status": "5000"}, {"limit": 0}):
        with pytest.raises(GatewayError) as caught:
            feed.requests(**bad)
        assert caught.value.status == 400


def test_summary_and_detail_have_the_contract_shape() -> None:
    feed = feed_with()
    tried = [Attempt(Target(PROVIDER, "deepseek-chat"), 503, "overloaded", 12.5), Attempt(Target(BACKUP, "m"), 200)]
    feed(
        record(
            request_id="req_shape", input_tokens=10, output_tokens=5, cache_read_input_tokens=3,
            cache_creation_input_tokens=2, cost_usd=0.25, stream=True, ttft_ms=120.0, attempts=tried,
            stop_reason="end_turn", budget="daily", pinned=True, request_class="main", requested_model="claude-x",
            user="ana",
        )
    )  # fmt: skip
    summary = feed.requests()[0]
    assert summary == {
        "request_id": "req_shape", "time": 1_750_000_000.0, "session_id": "s1", "user": "ana", "scenario": "default",
        "provider": "deepseek", "model": "deepseek-chat", "requested_model": "claude-x", "status": 200,
        "attempts": 2, "latency_ms": 800.0, "ttft_ms": 120.0, "input_tokens": 10, "output_tokens": 5,
        "cache_read_tokens": 3, "cache_write_tokens": 2, "cost_usd": 0.25, "stream": True, "error": None,
    }  # fmt: skip
    detail = feed.request("req_shape")
    assert detail == {
        **summary,
        "attempts": [
            {"target": "deepseek,deepseek-chat", "status": 503, "error": "overloaded", "ms": 12.5},
            {"target": "openrouter,m", "status": 200, "error": None, "ms": 0.0},
        ],
        "stop_reason": "end_turn",
        "budget": "daily",
        "pinned": True,
        "request_class": "main",
    }


def test_what_providers_said_is_redacted_with_the_current_config() -> None:
    redactor = Redactor([KEY])
    feed = LiveFeed(lambda: redactor)
    failed = Attempt(Target(PROVIDER, "deepseek-chat"), 401, f"invalid key {KEY} (and {NEW_KEY})")
    feed(record(request_id="req_key", status=401, error=f"Provider said: bad key {KEY}", attempts=[failed]))
    detail = feed.request("req_key")
    assert detail is not None
    assert detail["error"] == f"Provider said: bad key {REDACTED}"
    assert detail["attempts"][0]["error"] == f"invalid key {REDACTED} (and {NEW_KEY})"
    assert KEY not in orjson.dumps(feed.requests()).decode()
    redactor = Redactor([NEW_KEY])  # a reload: the feed asks for the redactor each time
    detail = feed.request("req_key")
    assert detail is not None and NEW_KEY not in detail["attempts"][0]["error"]


def test_nothing_but_an_append_happens_on_the_request_path_while_no_page_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversions = []
    summary = LiveFeed._summary

    def counted(item: RequestRecord, redact: live.Redact) -> dict[str, Any]:
        conversions.append(item.request_id)
        return summary(item, redact)

    monkeypatch.setattr(LiveFeed, "_summary", staticmethod(counted))
    monkeypatch.setattr(RequestRecord, "as_dict", lambda self: conversions.append("as_dict") or {})
    asked_for_redactor = []
    feed = LiveFeed(lambda: asked_for_redactor.append(1) or Redactor(()))
    for _ in range(50):
        feed(record())
    assert conversions == [] and asked_for_redactor == []

    async def listening() -> None:
        subscription = feed.subscribe()
        assert subscription is not None
        feed(record(request_id="req_heard"))
        assert conversions == ["req_heard"]
        event = await subscription.next()
        assert event is not None and events_of(event)[0][1]["request_id"] == "req_heard"

    asyncio.run(listening())


def test_a_listener_that_falls_behind_is_closed_and_the_others_go_on() -> None:
    async def scenario() -> None:
        feed = feed_with(queue_events=3)
        slow, quick = feed.subscribe(), feed.subscribe()
        assert slow is not None and quick is not None
        heard = []
        for _ in range(5):
            sent = record()
            feed(sent)
            event = await quick.next()
            assert event is not None
            heard.append(events_of(event)[0][1]["request_id"])
            assert heard[-1] == sent.request_id
        assert slow.closed and feed.subscribers == 1
        assert await slow.next() is None  # what it had queued is dropped: the page reconnects and reads the lists

    asyncio.run(scenario())


def test_at_most_sixteen_listen_and_the_seventeenth_page_is_told_why() -> None:
    async def scenario() -> None:
        feed = feed_with()
        subscriptions = [feed.subscribe() for _ in range(16)]
        assert all(s is not None for s in subscriptions)
        assert feed.subscribe() is None
        refused = Collected()
        await stream_events(feed, refused)
        assert refused.messages[0]["status"] == 503
        assert "close some dashboard tabs" in orjson.loads(refused.body)["error"]["message"]
        first = subscriptions[0]
        assert first is not None
        first.close()
        assert feed.subscribe() is not None

    asyncio.run(scenario())


def test_log_entries_from_another_thread_reach_the_listeners_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        log = Logger(None, "info", Redactor([KEY]))
        feed = feed_with(NEW_KEY)
        log.taps.append(feed.tap)
        subscription = feed.subscribe()
        assert subscription is not None
        publishing_threads = []
        publish = feed._publish

        def watched(event: bytes) -> None:
            publishing_threads.append(threading.get_ident())
            publish(event)

        monkeypatch.setattr(feed, "_publish", watched)

        def elsewhere() -> None:  # the reload thread, the ledger writer
            log.info("not for the dashboard", note="info")
            log.warn("reload failed", request_id="req_9", error=f"{KEY} and {NEW_KEY}", detail={"k": [NEW_KEY]})

        thread = threading.Thread(target=elsewhere)
        thread.start()
        async with asyncio.timeout(20):
            event = await subscription.next()
        thread.join()
        assert publishing_threads == [threading.get_ident()]  # handed to the loop's thread, not queued from the other
        assert event is not None
        [(name, entry)] = events_of(event)
        assert name == "log"
        assert entry["level"] == "warn" and entry["msg"] == "reload failed" and entry["request_id"] == "req_9"
        assert entry["fields"] == {"error": f"{REDACTED} and {REDACTED}", "detail": {"k": [REDACTED]}}
        assert feed.logs() == [entry]

    asyncio.run(scenario())


def test_the_log_ring_keeps_the_newest_entries() -> None:
    feed = feed_with(max_log_entries=3)
    for number in range(5):
        feed.tap("error", f"failure {number}", {})
    assert [entry["msg"] for entry in feed.logs()] == ["failure 4", "failure 3", "failure 2"]
    assert [entry["msg"] for entry in feed.logs(limit=1)] == ["failure 4"]


def test_the_event_stream_sends_records_keepalives_and_ends_when_closed() -> None:
    async def scenario() -> None:
        feed = feed_with(KEY, queue_events=5)
        sent = Collected()
        streaming = asyncio.create_task(stream_events(feed, sent, keepalive_s=0.05))
        await sent.wait_for(b": keepalive\n\n")
        start = sent.messages[0]
        assert start["status"] == 200
        assert dict(start["headers"])[b"content-type"].startswith(b"text/event-stream")
        assert dict(start["headers"])[b"cache-control"] == b"no-store"
        feed(record(request_id="req_live", status=502, error=f"upstream echoed {KEY}"))
        await sent.wait_for(b"req_live")
        [(name, summary)] = [e for e in events_of(sent.body) if e[0] == "request"]
        assert name == "request" and summary["error"] == f"upstream echoed {REDACTED}"
        for _ in range(6):  # more than it can queue before the stream reads again: the feed closes it
            feed(record())
        assert feed.subscribers == 0
        async with asyncio.timeout(20):
            await streaming
        assert sent.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        assert feed.subscribers == 0

    asyncio.run(scenario())


def test_a_page_that_leaves_stops_listening() -> None:
    async def scenario() -> None:
        feed = feed_with()
        sent = Collected()
        streaming = asyncio.create_task(stream_events(feed, sent))
        await sent.wait_until(lambda: bool(sent.messages))
        assert feed.subscribers == 1
        streaming.cancel()  # what App.until_disconnect does when the client goes
        with pytest.raises(asyncio.CancelledError):
            await streaming
        assert feed.subscribers == 0

    asyncio.run(scenario())


def test_recent_gives_the_requests_that_ended_lately() -> None:
    feed = feed_with()
    old = record(started_at=1000.0, latency_ms=1000.0)  # ended at 1001
    late = record(started_at=1500.0, latency_ms=600_000.0)  # started before the cut, ended after it
    new = record(started_at=2000.0, latency_ms=10.0)
    for each in (old, late, new):
        feed(each)
    assert feed.recent(900, now=2100.0) == [late, new]
    assert feed.recent(2000, now=2100.0) == [old, late, new]


def test_the_log_tap_hears_warnings_and_errors_as_written(tmp_path: Path) -> None:
    log = Logger(tmp_path, "debug", Redactor([KEY]))
    heard: list[tuple[str, str, dict[str, Any]]] = []

    def broken(level: str, msg: str, fields: dict[str, Any]) -> None:
        raise RuntimeError("a tap that fails")

    log.taps += [broken, lambda *entry: heard.append(entry)]
    log.debug("quiet", detail="x")
    log.info("request", status=200)
    log.warn(f"budget near its cap ({KEY})", budget="daily")
    log.error("upstream failed", error=f"{KEY} " + "y" * (MAX_LOG_FIELD_CHARS + 10))
    log.close()
    assert [(level, msg) for level, msg, _ in heard] == [("warn", f"budget near its cap ({REDACTED})"),
                                                         ("error", "upstream failed")]  # fmt: skip
    assert heard[0][2] == {"budget": "daily"}
    error = heard[1][2]["error"]
    assert error.startswith(f"{REDACTED} yyy") and error.endswith("more characters not shown)")
    lines = [orjson.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [line["msg"] for line in lines][-2:] == [heard[0][1], "upstream failed"]  # the broken tap stopped nothing
    assert lines[-1]["error"] == error
