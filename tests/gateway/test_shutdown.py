"""SIGTERM ends the real service within `STOP_BOUND_S`, whatever it is doing, and writes every row it can.

Each test holds the stop up in one of the ways found to keep a stopped router running until it was killed (which
lost the ledger rows still in its memory): streams a provider stopped sending in the middle of, or before its
headers (uvicorn waited for every connection, with no deadline, up to API_TIMEOUT_MS); the dashboard's live view
(an endless stream: uvicorn waited forever); a PostgreSQL ledger that stopped answering (the last rows vanished
without a word); the same streams under WORKERS (ended by uvicorn's deadline as if their clients had left, and
cut off without an error); and user code that blocks the event loop (nothing on the loop runs any more: only the
watchdog, armed from the signal handler, ends the process). Every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ccrouter.gateway.in_flight import DRAIN_S, STOP_BOUND_S, STOPPED
from ccrouter.paths import LEDGER_FILE
from tests.support.fake_upstream import Received, Scripted, ScriptedUpstream, openai_completion, openai_text_stream
from tests.support.postgres_server import PostgresServer, own_postgres_fixture  # noqa: F401 (fixture)
from tests.support.router_process import RouterProcess
from tests.support.router_setup import StartRouter, openai_provider
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

APIKEY = "admin-key-shutdown-0123456789"
ADMIN = {"x-api-key": APIKEY}
MID_STREAM, BEFORE_HEADERS = "stall mid-stream", "stall before the headers"
HELD = 4  # requests of each kind held open when the stop begins
EXIT_WAIT_S = STOP_BOUND_S + 5.0  # the bound, and room for a busy machine; an old router never gets there
DEADLINE_S = 30.0


def stalling_provider(received: Received) -> Scripted:
    """A stream that sends its first words and then nothing (for an hour), or no answer at all for an hour."""
    if BEFORE_HEADERS in str(received.body):
        return Scripted(headers_delay=3600)
    if MID_STREAM in str(received.body):
        stream = openai_text_stream("the first words, then silence", pieces=3)
        stream.stall_after = 2
        return stream
    return openai_completion("a quick answer")


def config_of(upstream: ScriptedUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "LOG": True,
        "APIKEY": APIKEY,
        "Providers": [openai_provider(upstream)],
        "Router": {"default": "fake,fake-model"},
        **extra,
    }


def body(text: str, stream: bool = True) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


class Held:
    """One request sent from a thread of its own and read to its end: its status, every byte, and whether the
    provider's first words reached the client."""

    def __init__(self, client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
        self.status: int | None = None
        self.data = b""
        self.failure: Exception | None = None
        self.streaming = threading.Event()
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(client, url, payload), daemon=True).start()

    def _run(self, client: httpx.Client, url: str, payload: dict[str, Any]) -> None:
        try:
            with client.stream("POST", url + "/v1/messages", json=payload, headers=ADMIN) as response:
                self.status = response.status_code
                for chunk in response.iter_raw():
                    self.data += chunk
                    if b"content_block_delta" in self.data:
                        self.streaming.set()
        except httpx.HTTPError as exc:
            self.failure = exc
        finally:
            self.done.set()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=httpx.Timeout(60.0)) as opened:
        yield opened


def hold_streams(router: RouterProcess, upstream: ScriptedUpstream, client: httpx.Client) -> list[Held]:
    """HELD streams stalled in the middle (their first words delivered) and HELD stalled before the provider's
    headers (the provider has them), all in flight."""
    held = [Held(client, router.url, body(f"{kind} {n}")) for kind in (MID_STREAM, BEFORE_HEADERS) for n in range(HELD)]
    wait_until(lambda: all(h.streaming.is_set() for h in held[:HELD]), "the stalled streams' first words")
    wait_until(lambda: len(upstream.received) >= 2 * HELD, "the provider holding the other requests")
    return held


def sigterm_and_wait(router: RouterProcess) -> tuple[int, float]:
    """SIGTERM the service; its exit status and the seconds it took (the test fails if it is still running)."""
    assert router.proc is not None
    started = time.monotonic()
    router.proc.send_signal(signal.SIGTERM)
    try:
        code = router.proc.wait(EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the router was still running {EXIT_WAIT_S:g} s after its SIGTERM") from None
    return code, time.monotonic() - started


def assert_told_to_retry(held: list[Held]) -> None:
    """The streams that had started end with an overloaded_error event; the others got a 503 overloaded_error."""
    for request in held:
        assert request.done.wait(DEADLINE_S), "a client still waits after the router stopped"
        assert request.failure is None, f"the answer broke off instead of ending: {request.failure!r}"
    stopped_json = STOPPED.replace('"', '\\"').encode()
    for request in held[:HELD]:
        assert request.status == 200
        assert request.data.rstrip().endswith(b"}"), request.data[-300:]
        last = request.data.rstrip().rsplit(b"\n\n", 1)[-1]
        assert last.startswith(b"event: error") and b'"overloaded_error"' in last and stopped_json in last, last
    for request in held[HELD:]:
        assert request.status == 503, request.data[:300]
        assert b'"overloaded_error"' in request.data and stopped_json in request.data


def test_streams_held_open_by_a_stalled_provider_are_ended_with_an_error_and_the_router_exits_in_time(
    start_router: StartRouter, upstream: ScriptedUpstream, client: httpx.Client
) -> None:
    upstream.default = stalling_provider
    router = start_router(config_of(upstream))  # API_TIMEOUT_MS: 10 minutes, the default
    held = hold_streams(router, upstream, client)

    code, took = sigterm_and_wait(router)

    assert code == -signal.SIGTERM, f"exit status {code}: the watchdog had to end it ({router.stderr()[-500:]})"
    assert took >= DRAIN_S, "the requests in flight did not get their drain"
    assert_told_to_retry(held)
    records = {r["request_id"]: r for r in router.request_records()}
    assert len(records) == 2 * HELD and all(r["error"] == STOPPED for r in records.values())
    assert sorted(r["status"] for r in records.values()) == [200] * HELD + [503] * HELD
    with contextlib.closing(sqlite3.connect(router.home / LEDGER_FILE)) as ledger:
        rows = dict(ledger.execute("SELECT request_id, status FROM requests").fetchall())
    assert rows == {request_id: record["status"] for request_id, record in records.items()}
    ended = [r for r in router.log_records() if r["msg"].startswith("stopping: requests still running")]
    assert [r["requests"] for r in ended] == [2 * HELD]


def test_workers_end_their_stalled_streams_the_same_way_and_stop_in_time(
    start_router: StartRouter, upstream: ScriptedUpstream, client: httpx.Client
) -> None:
    upstream.default = stalling_provider
    router = start_router(config_of(upstream, WORKERS=2))
    held = hold_streams(router, upstream, client)

    code, _ = sigterm_and_wait(router)

    assert code == -signal.SIGTERM, router.stderr()[-1000:]
    assert_told_to_retry(held)
    records = router.request_records()
    assert len(records) == 2 * HELD and all(r["error"] == STOPPED for r in records), [r["error"] for r in records]


def test_an_open_dashboard_live_view_does_not_hold_the_stop(
    start_router: StartRouter, upstream: ScriptedUpstream
) -> None:
    router = start_router(config_of(upstream))
    opened = threading.Event()

    def watch() -> None:
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream("GET", router.url + "/api/ui/events", headers=ADMIN, timeout=60.0, trust_env=False) as events,
        ):
            opened.set()
            for _ in events.iter_raw():
                pass

    threading.Thread(target=watch, daemon=True).start()
    assert opened.wait(DEADLINE_S), "the live view did not open"

    code, took = sigterm_and_wait(router)

    assert code == -signal.SIGTERM
    assert took < DRAIN_S, f"{took:.1f} s: a feed is ended at once, it has no drain to wait for"


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (PostgreSQL's backends), from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry))
    return [pid, *children]


def post(router: RouterProcess, client: httpx.Client) -> None:
    response = client.post(router.url + "/v1/messages", json=body("quick", stream=False), headers=ADMIN)
    assert response.status_code == 200, response.text


def test_a_frozen_postgresql_ledger_holds_the_stop_at_most_its_close_time_and_the_lost_rows_are_counted(
    start_router: StartRouter, upstream: ScriptedUpstream, own_postgres: PostgresServer, client: httpx.Client
) -> None:
    upstream.default = stalling_provider
    url = own_postgres.create_database()
    router = start_router(config_of(upstream, LEDGER_URL=url))
    post(router, client)
    database = url.rsplit("/", 1)[1]
    wait_until(lambda: own_postgres.execute("SELECT count(*) FROM ccr_requests", database) == [(1,)], "the first row")
    assert own_postgres.pid is not None
    frozen = process_tree(own_postgres.pid)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            post(router, client)
        code, took = sigterm_and_wait(router)
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    assert code == -signal.SIGTERM, router.stderr()[-1000:]
    lost = [r for r in router.log_records() if "rows were not written" in r["msg"]]
    assert [(r["level"], r["rows"], r["database"]) for r in lost] == [("error", 3, "LEDGER_URL")], lost
    assert took < STOP_BOUND_S


BLOCKS_THE_LOOP = """
import time
from pathlib import Path

async def router(request, config):
    if "block the loop" in str(request["messages"]):
        (Path({signals!r}) / "started").write_text("")
        deadline = time.monotonic() + 60  # never awaits: the whole event loop waits here
        while not (Path({signals!r}) / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return None
"""


def test_a_stop_stuck_in_user_code_is_ended_by_the_watchdog_which_says_where_it_was(
    start_router: StartRouter, upstream: ScriptedUpstream, client: httpx.Client, tmp_path: Path
) -> None:
    upstream.default = stalling_provider
    signals = tmp_path / "signals"
    signals.mkdir()
    router_file = tmp_path / "router.py"
    router_file.write_text(BLOCKS_THE_LOOP.format(signals=str(signals)))
    router = start_router(config_of(upstream, CUSTOM_ROUTER_PATH=str(router_file), CUSTOM_ROUTER_TIMEOUT_MS=60_000))
    post(router, client)  # a row for the ledger before the loop is stuck
    try:
        Held(client, router.url, body("block the loop", stream=False))
        wait_until((signals / "started").exists, "the custom router blocking the event loop")

        code, took = sigterm_and_wait(router)
    finally:
        (signals / "release").write_text("")

    assert code == 1, "the watchdog ends a stuck stop with status 1"
    assert took >= STOP_BOUND_S - 1
    last_words = [r for r in router.log_records() if "did not stop within" in r["msg"]]
    assert len(last_words) == 1 and last_words[0]["level"] == "error", last_words
    assert last_words[0]["stuck_at"] == "serving"  # the loop never got to begin the stop
    assert last_words[0]["requests_in_flight"] == 1
    with contextlib.closing(sqlite3.connect(router.home / LEDGER_FILE)) as ledger:
        assert ledger.execute("SELECT count(*) FROM requests").fetchone() == (1,)  # the earlier row is written
