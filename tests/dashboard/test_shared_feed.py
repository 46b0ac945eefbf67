"""STATE_URL shares the dashboard's live feed: two real router processes and a real redis-server.

A request through router A is listed by router B (named by A's instance), its detail is readable on B, and B's
event stream delivers it; what reaches Redis carries no provider key; with Redis stopped B serves its own feed and
its requests, says so once, and what it served meanwhile reaches A when Redis is back. In process: the outbox that
holds a router's records until Redis takes them stays bounded (the oldest dropped and counted), and the merged
list is newest first.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import redis

from ccrouter.config.state_section import StateSettings
from ccrouter.dashboard.live import LiveFeed
from ccrouter.dashboard.shared_feed import Outbox, SharedFeed
from ccrouter.gateway.logs import Logger, Redactor
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.shared_state import SharedState
from ccrouter.providers.base import REDACTED
from tests.support.browser import ConsoleProblems, chromium, chromium_path, screenshot, sign_in_link
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream, error_reply, openai_completion
from tests.support.redis_server import (  # noqa: F401 (fixtures)
    RedisServer,
    redis_server_fixture,
    redis_url_fixture,
)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import LOOPBACK, StartRouter, openai_provider
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

APIKEY = "admin-key-0123456789abcdef"
PROVIDER_KEY = "sk-test-provider-key-123456"  # openai_provider's key (its adapter already hides it in errors)
SPARE_KEY = "sk-spare-provider-key-abcdef123"  # another provider's: only the config's redactor knows it
ADMIN = {"x-api-key": APIKEY}
REQUEST = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}
DEADLINE_S = 30.0
FEED_KEY = "ccr:feed"
_sessions = itertools.count(1)


def two_routers(start_router: StartRouter, redis_url: str, upstream: ScriptedUpstream) -> list[RouterProcess]:
    """Routers A and B routing to one provider (a spare one configured too), sharing `redis_url` (a generous time
    budget: a loaded test machine must not fall back to in-process state by accident)."""
    config = {
        "APIKEY": APIKEY,
        "STATE_URL": redis_url,
        "STATE_TIMEOUT_MS": 2000,
        "Providers": [openai_provider(upstream), openai_provider(upstream, name="spare", api_key=SPARE_KEY)],
        "Router": {"default": "fake,fake-model"},
    }
    return [start_router(config) for _ in range(2)]


def instance_of(router: RouterProcess) -> str:
    assert router.proc is not None
    return f"{socket.gethostname()}:{router.proc.pid}"


def post(router: RouterProcess) -> tuple[str, httpx.Response]:
    """A request through `router` in a session of its own (how the test finds its record); the session id."""
    session = f"sess-{next(_sessions)}"
    answer = LOOPBACK.post(
        router.url + "/v1/messages",
        json=REQUEST,
        headers={**ADMIN, "x-claude-code-session-id": session},
        timeout=30,
    )
    return session, answer


def listed(router: RouterProcess, **query: str) -> list[dict[str, Any]]:
    answer = LOOPBACK.get(router.url + "/api/ui/requests", params=query, headers=ADMIN, timeout=10)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["requests"]
    return rows


def of_session(router: RouterProcess, session: str) -> list[dict[str, Any]]:
    return [row for row in listed(router) if row["session_id"] == session]


def log_lines(router: RouterProcess, start: str) -> list[dict[str, Any]]:
    return [record for record in router.log_records() if str(record.get("msg", "")).startswith(start)]


def test_a_request_through_one_router_is_listed_and_detailed_on_the_other(
    start_router: StartRouter, redis_url: str, upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _: openai_completion("fine")
    a, b = two_routers(start_router, redis_url, upstream)
    session_a, answer = post(a)
    assert answer.status_code == 200
    [own] = of_session(a, session_a)
    assert own["instance"] == instance_of(a)
    wait_until(lambda: bool(of_session(b, session_a)), "B lists A's request")
    [seen] = of_session(b, session_a)
    assert seen["request_id"] == own["request_id"] and seen["instance"] == instance_of(a)
    assert seen["status"] == 200 and seen["attempts"] == 1 and seen["provider"] == "fake"

    detail = LOOPBACK.get(f"{b.url}/api/ui/requests/{own['request_id']}", headers=ADMIN, timeout=10)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["instance"] == instance_of(a) and body["session_id"] == session_a
    assert [(tried["target"], tried["status"], tried["error"]) for tried in body["attempts"]] == [
        ("fake,fake-model", 200, None)
    ]
    assert body["stop_reason"] == "end_turn"

    session_b, answer = post(b)
    assert answer.status_code == 200
    wait_until(lambda: bool(of_session(a, session_b)), "A lists B's request (so A has read past its own entry)")
    assert len(of_session(a, session_a)) == 1  # A's own entry, read back from the stream, is not listed twice
    on_b = [(row["session_id"], row["instance"]) for row in listed(b) if row["session_id"] in (session_a, session_b)]
    assert on_b == [(session_b, instance_of(b)), (session_a, instance_of(a))]  # newest first


def test_the_event_stream_of_one_router_delivers_the_others_requests(
    start_router: StartRouter, redis_url: str, upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _: openai_completion("fine")
    a, b = two_routers(start_router, redis_url, upstream)
    timeout = httpx.Timeout(10, read=DEADLINE_S)
    with LOOPBACK.stream("GET", b.url + "/api/ui/events", headers=ADMIN, timeout=timeout) as events:
        assert events.status_code == 200  # B is listening: its subscription exists before the answer starts
        session, answer = post(a)
        assert answer.status_code == 200
        deadline = time.monotonic() + DEADLINE_S
        heard: dict[str, Any] = {}
        for line in events.iter_lines():  # a keepalive every 15 s at least; the read time-out ends a silent one
            if line.startswith("data: ") and session in line:
                heard = orjson.loads(line[len("data: ") :])
                break
            assert time.monotonic() < deadline, f"B's event stream did not deliver A's request within {DEADLINE_S} s"
    assert heard["session_id"] == session and heard["instance"] == instance_of(a) and heard["status"] == 200


def test_no_provider_key_reaches_redis(start_router: StartRouter, redis_url: str, upstream: ScriptedUpstream) -> None:
    echoed = {"error": {"message": f"Bad keys: {PROVIDER_KEY} {SPARE_KEY} {APIKEY}", "type": "invalid_request_error"}}
    upstream.default = lambda _: error_reply(401, echoed)
    a, b = two_routers(start_router, redis_url, upstream)
    session, answer = post(a)
    assert answer.status_code == 401
    wait_until(lambda: bool(of_session(b, session)), "B lists A's failed request")
    client = redis.Redis.from_url(redis_url)
    try:
        entries: Any = client.xrange(FEED_KEY)
    finally:
        client.close()
    raw = b"\n".join(key + b"=" + value for _, fields in entries for key, value in fields.items())
    assert session.encode() in raw and REDACTED.encode() in raw  # the failed request is there, its error redacted
    assert not [key for key in (PROVIDER_KEY, SPARE_KEY, APIKEY) if key.encode() in raw]
    [row] = of_session(b, session)
    detail = LOOPBACK.get(f"{b.url}/api/ui/requests/{row['request_id']}", headers=ADMIN, timeout=10).json()
    assert detail["attempts"][0]["error"].count(REDACTED) == 3
    assert not [key for key in (PROVIDER_KEY, SPARE_KEY, APIKEY) if key in orjson.dumps(detail).decode()]


def test_with_redis_stopped_a_router_serves_its_own_feed_and_catches_up_later(
    start_router: StartRouter, redis_url: str, redis_server: RedisServer, upstream: ScriptedUpstream
) -> None:
    upstream.default = lambda _: openai_completion("fine")
    a, b = two_routers(start_router, redis_url, upstream)
    session_a, _ = post(a)
    wait_until(lambda: bool(of_session(b, session_a)), "B lists A's request")
    redis_server.stop()
    during = []
    for _ in range(5):
        session, answer = post(b)
        assert answer.status_code == 200
        during.append(session)
    wait_until(lambda: bool(log_lines(b, "shared state (STATE_URL) unreachable")), "B notices Redis is gone")
    sessions = [row["session_id"] for row in listed(b)]
    assert sessions[:5] == during[::-1] and session_a in sessions  # its own live, the others' it had kept
    assert all(row["instance"] == instance_of(b) for row in listed(b)[:5])

    redis_server.start()
    wait_until(lambda: bool(log_lines(b, "shared state (STATE_URL) answers again")), "B notices Redis is back")
    wait_until(lambda: all(of_session(a, session) for session in during), "what B served meanwhile reaches A")
    for router in (a, b):
        assert len(log_lines(router, "shared state (STATE_URL) unreachable")) <= 1
        assert not log_lines(router, "shared state refresh failed")  # the feed's loop raised nothing


def test_the_page_names_the_router_that_served_each_request(
    start_router: StartRouter, ccr: CcrHome, redis_url: str, upstream: ScriptedUpstream
) -> None:
    chromium_path()  # fail first, with the fix, when the browser is missing
    upstream.default = lambda _: openai_completion("fine")
    ccr.write_config(fake_provider_config(upstream, ccr.port, STATE_URL=redis_url, STATE_TIMEOUT_MS=2000))
    started = ccr.run("start")
    assert started.returncode == 0, started.stderr
    [a, _] = two_routers(start_router, redis_url, upstream)
    session, answer = post(a)
    assert answer.status_code == 200
    [row] = of_session(a, session)
    link = sign_in_link(ccr)
    with chromium() as browser:
        page: Page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        problems = ConsoleProblems(page)
        page.goto(link)
        page.goto(f"{ccr.url}/ui#/requests")
        shown = f'[data-testid="request-row"][data-request-id="{row["request_id"]}"]'
        page.wait_for_selector(shown, timeout=DEADLINE_S * 1000)
        assert page.inner_text(f'{shown} [data-testid="request-instance"]') == instance_of(a)
        page.click(shown)
        page.wait_for_selector('[data-testid="request-attempt"]', timeout=10_000)
        assert f"Router\n{instance_of(a)}" in page.inner_text('[data-testid="request-detail-fields"]')
        screenshot(page, "requests-of-two-routers")
        assert problems.seen == []


# -----------------------------------------------------------------------------------------------------------
# In process: the outbox and the merged list

_ids = itertools.count(1)


def record(started_at: float = 1_750_000_000.0, **fields: Any) -> RequestRecord:
    return RequestRecord(request_id=f"req_{next(_ids):06d}", started_at=started_at, status=200, **fields)


def encoded(record: RequestRecord) -> bytes:
    return record.request_id.encode()


def test_the_outbox_picks_up_only_new_records_and_keeps_the_newest_when_full() -> None:
    ring: deque[RequestRecord] = deque(maxlen=10)
    outbox = Outbox(capacity=4)
    first = [record() for _ in range(3)]
    ring.extend(first)
    outbox.pick_up(list(ring), encoded)
    assert outbox.take(10) == [encoded(r) for r in first]
    outbox.pick_up(list(ring), encoded)
    assert len(outbox) == 0  # nothing new since the last pick-up
    later = [record() for _ in range(6)]
    ring.extend(later)
    outbox.pick_up(list(ring), encoded)
    assert outbox.take(10) == [encoded(r) for r in later[2:]] and outbox.dropped == 2  # the oldest two dropped

    ring.extend(record() for _ in range(12))  # the last record picked up has left the ring
    outbox.pick_up(list(ring), encoded)
    assert outbox.gaps == 1 and outbox.take(10) == [encoded(r) for r in list(ring)[-4:]]


def test_a_batch_put_back_waits_in_front_and_the_oldest_go_when_full() -> None:
    ring = [record() for _ in range(3)]
    outbox = Outbox(capacity=4)
    outbox.pick_up(ring, encoded)
    batch = outbox.take(2)
    newer = [record() for _ in range(2)]
    outbox.pick_up(ring + newer, encoded)
    outbox.put_back(batch)
    assert outbox.dropped == 1  # five waiting for four places: the oldest goes
    assert outbox.take(10) == [encoded(r) for r in [*ring[1:], *newer]]


def test_while_redis_is_away_the_outbox_stays_bounded_and_nothing_is_raised() -> None:
    lines: list[str] = []
    log = Logger(None)
    log.write = lambda level, msg, fields: lines.append(msg)  # type: ignore[method-assign]
    state = SharedState(StateSettings("redis://127.0.0.1:1/0", timeout_ms=200), log)

    async def scenario() -> tuple[int, int, list[str]]:
        feed = LiveFeed(lambda: Redactor(()))
        shared = SharedFeed(feed, state, instance="here:1")
        shared.outbox = Outbox(capacity=50)
        try:
            for _ in range(4):
                for _ in range(200):
                    feed(record())
                await shared.tick()
                assert len(shared.outbox) == 50
        finally:
            await state.close()
        return len(feed.requests(limit=1000)), shared.outbox.dropped, lines

    shown, dropped, lines = asyncio.run(scenario())
    assert shown == 800  # the page shows this router's records all along
    assert dropped == 750
    # The feed's calls are not vital: its failures mark no outage and log nothing (the start's ping and the
    # requests' own calls report one, once); otherwise a slow batch on a busy host would send the requests to the
    # process's own state.
    assert lines == [] and state.up


def test_the_list_merges_the_routers_newest_first_and_filters_them_alike() -> None:
    feed = LiveFeed(lambda: Redactor([PROVIDER_KEY]))
    feed.instance = "here:1"
    feed(record(started_at=100.0, session_id="s1"))
    feed(record(started_at=300.0, session_id="s2", scenario="think"))
    for started, session in ((200.0, "s1"), (400.0, "s2")):
        feed.add_other(
            {"request_id": f"req_other_{session}_{started}", "time": started, "latency_ms": 0.0, "status": 502,
             "session_id": session, "scenario": "default", "attempts": [{"error": f"echo {PROVIDER_KEY}"}],
             "error": f"key {PROVIDER_KEY}", "stop_reason": None, "instance": "there:2"}
        )  # fmt: skip
    rows = feed.requests()
    assert [(row["time"], row["instance"]) for row in rows] == [
        (400.0, "there:2"), (300.0, "here:1"), (200.0, "there:2"), (100.0, "here:1"),
    ]  # fmt: skip
    assert rows[0]["attempts"] == 1 and "stop_reason" not in rows[0]
    assert rows[0]["error"] == f"key {REDACTED}"  # redacted again with this router's secrets
    assert [row["time"] for row in feed.requests(session="s1")] == [200.0, 100.0]
    assert [row["time"] for row in feed.requests(status="error", limit=1)] == [400.0]
    assert [row["time"] for row in feed.requests(route="think")] == [300.0]
    detail = feed.request("req_other_s2_400.0")
    assert detail is not None and detail["attempts"] == [{"error": f"echo {REDACTED}"}]
