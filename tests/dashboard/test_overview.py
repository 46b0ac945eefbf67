"""The overview: the ledger's sums per local hour or day and group (hand-computed on a seeded SQLite ledger, every
bucket present, the groups past the eighth folded into "other"), what it says with the ledger off, what it refuses,
and provider health from the live feed's records and the cool-downs."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccrouter.config.model import Provider, Target
from ccrouter.dashboard.live import LiveFeed
from ccrouter.dashboard.overview import overview
from ccrouter.errors import GatewayError
from ccrouter.gateway.cooldowns import Cooling
from ccrouter.gateway.logs import Redactor
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.ledger.budgets import BudgetStatus
from ccrouter.ledger.store import SqliteLedger
from ccrouter.ledger.writer import LedgerWriter
from ccrouter.providers.base import REDACTED
from tests.ledger.support import LOCAL_TZ, Reports, local, row, set_zone

KEY = "sk-overview-secret-0123456789"
HOUR = 3600


@pytest.fixture(autouse=True)
def local_zone() -> Iterator[None]:
    """UTC+10 without daylight saving: a local day is not a UTC day, so bucketing by UTC would show."""
    before = os.environ.get("TZ")
    set_zone(LOCAL_TZ)
    yield
    set_zone(before)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLedger]:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield ledger
    ledger.close()


def feed_of(*records: RequestRecord, secrets: tuple[str, ...] = ()) -> LiveFeed:
    redactor = Redactor(secrets)
    feed = LiveFeed(lambda: redactor)
    for record in records:
        feed(record)
    return feed


def test_hour_buckets_hold_hand_computed_sums_and_every_hour_is_there(store: SqliteLedger) -> None:
    now = local(2025, 3, 11, 12, 30)
    store.append(
        [
            row(time=local(2025, 3, 10, 12, 10), provider="deepseek", model="deepseek-chat"),  # before the window
            row(time=local(2025, 3, 10, 13, 5), provider="deepseek", model="deepseek-chat", input_tokens=100,
                output_tokens=10, cache_read_tokens=1000, cost_usd=0.001, baseline_cost_usd=0.01),
            row(time=local(2025, 3, 10, 13, 40), provider="deepseek", model="deepseek-reasoner", input_tokens=200,
                output_tokens=20, cost_usd=0.002, baseline_cost_usd=0.02),
            row(time=local(2025, 3, 10, 15), provider="ollama", model="qwen3", status=502, cost_usd=0.0,
                baseline_cost_usd=0.0),
            row(time=local(2025, 3, 11, 12, 10), provider="mystery", model="foo-1", input_tokens=70, output_tokens=7,
                cost_usd=None, baseline_cost_usd=0.003),
            row(time=local(2025, 3, 11, 12, 20), provider="deepseek", model="deepseek-chat", status=499,
                input_tokens=30, output_tokens=3, cost_usd=0.0005, baseline_cost_usd=0.004),
        ]
    )  # fmt: skip
    data = overview(store, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=(), now=now)
    assert data["ledger"] is True and data["since"] == now - 24 * HOUR
    assert (data["bucket"], data["by"]) == ("hour", "provider")
    times = data["times"]
    assert times[0] == local(2025, 3, 10, 12) and times[-1] == local(2025, 3, 11, 12)
    assert len(times) == 25 and all(b - a == HOUR for a, b in itertools.pairwise(times))
    assert data["groups"] == ["deepseek", "mystery", "ollama"]
    series = data["series"]
    at = {times.index(local(2025, 3, 10, 13)): "13h", times.index(local(2025, 3, 10, 15)): "15h", 24: "now"}
    zeros = [0] * 25

    def only(values: dict[int, float]) -> list[float]:
        return [values.get(i, 0) for i in range(25)]

    assert series["requests"] == {"deepseek": only({1: 2, 24: 1}), "mystery": only({24: 1}), "ollama": only({3: 1})}
    assert at == {1: "13h", 3: "15h", 24: "now"}
    assert series["errors"] == {"deepseek": zeros, "mystery": zeros, "ollama": only({3: 1})}  # 499 is no error
    assert series["input_tokens"]["deepseek"] == only({1: 300, 24: 30})
    assert series["output_tokens"]["mystery"] == only({24: 7})
    assert series["cost_usd"]["deepseek"] == only({1: 0.003, 24: 0.0005})
    assert series["cost_usd"]["mystery"] == zeros  # no known price: 0 in the chart, null in the totals
    assert series["savings_usd"]["deepseek"] == only({1: 0.027, 24: 0.0035})
    assert series["savings_usd"]["mystery"] == zeros
    totals = data["totals"]
    assert (totals["requests"], totals["errors"]) == (5, 1)
    assert (totals["input_tokens"], totals["output_tokens"], totals["cache_read_tokens"]) == (400, 40, 1000)
    assert totals["cost_usd"] is None and totals["savings_usd"] is None and totals["unpriced_requests"] == 1
    assert totals["baseline_cost_usd"] == pytest.approx(0.037)
    assert totals == store.aggregate(now - 24 * HOUR, "provider").total.as_dict()  # as `ccr usage --json` says


def test_day_buckets_are_local_days(store: SqliteLedger) -> None:
    now = local(2025, 3, 12, 9)
    just_after_midnight = local(2025, 3, 11, 0, 30)  # still the 10th in UTC
    store.append(
        [
            row(time=local(2025, 3, 10, 23, 50), scenario="default", cost_usd=0.5, baseline_cost_usd=1.0),
            row(time=just_after_midnight, scenario="default", cost_usd=0.25, baseline_cost_usd=1.0),
            row(time=just_after_midnight + 60, scenario="think", cost_usd=0.25, baseline_cost_usd=None),
            row(time=just_after_midnight + 120, scenario="default", cost_usd=None, baseline_cost_usd=2.0),
        ]
    )
    data = overview(store, "7d", "day", "scenario", feed=feed_of(), cooling=(), budgets=(), now=now)
    midnights = [local(2025, 3, day) for day in range(5, 13)]
    assert data["times"] == midnights  # the window's first (partial) day to today, each from local midnight
    assert data["groups"] == ["default", "think"]
    tenth, eleventh = midnights.index(local(2025, 3, 10)), midnights.index(local(2025, 3, 11))
    expected_default = [0] * 8
    expected_default[tenth], expected_default[eleventh] = 1, 2
    assert data["series"]["requests"]["default"] == expected_default
    assert data["series"]["cost_usd"]["default"][tenth] == 0.5
    assert data["series"]["cost_usd"]["default"][eleventh] == 0.25  # the unpriced row adds nothing
    assert data["series"]["savings_usd"]["default"][eleventh] == 0.75  # only the row with both prices saves
    assert data["series"]["cost_usd"]["think"][eleventh] == 0.25
    assert data["series"]["savings_usd"]["think"] == [0] * 8  # no baseline: no savings known
    assert data["totals"]["cost_usd"] is None and data["totals"]["baseline_cost_usd"] is None
    assert data["totals"]["unpriced_requests"] == 1 and data["totals"]["requests"] == 4


def test_past_eight_groups_the_rest_is_other(store: SqliteLedger) -> None:
    now = local(2025, 3, 11, 12)
    rows = []
    for rank in range(10):  # p0 has 10 requests ... p9 has 1
        provider = f"p{rank}"
        rows += [row(time=now - 60 * (i + 1), provider=provider, model="m", output_tokens=1) for i in range(10 - rank)]
    rows.append(row(time=now - 30, provider=None, model=None, status=400))  # refused before any provider
    store.append(rows)
    data = overview(store, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=(), now=now)
    assert data["times"][-1] == now  # the hour that starts at `now` is there: a request at this second counts
    assert data["groups"] == ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "other"]
    requests = {group: sum(values) for group, values in data["series"]["requests"].items()}
    assert requests == {"p0": 10, "p1": 9, "p2": 8, "p3": 7, "p4": 6, "p5": 5, "p6": 4, "p7": 3, "other": 4}
    assert sum(data["series"]["errors"]["other"]) == 1  # p8, p9 and the (none) row, folded
    assert data["totals"]["requests"] == 56
    by_model = overview(store, "24h", "hour", "model", feed=feed_of(), cooling=(), budgets=(), now=now)
    assert by_model["groups"][:2] == ["p0,m", "p1,m"]

    few = overview(store, "24h", "hour", "scenario", feed=feed_of(), cooling=(), budgets=(), now=now)
    assert few["groups"] == ["(none)"]  # no row has a scenario; nothing folded, no "other"


def test_bad_choices_are_refused_before_the_ledger_is_read(store: SqliteLedger) -> None:
    for since, bucket, by in (("1y", "hour", "provider"), ("24h", "week", "provider"), ("7d", "day", "session")):
        with pytest.raises(GatewayError) as caught:
            overview(store, since, bucket, by, feed=feed_of(), cooling=(), budgets=())
        assert caught.value.status == 400 and "use one of those" in caught.value.message


def test_with_the_ledger_off_it_says_so_and_still_gives_budgets_and_providers() -> None:
    budget = BudgetStatus("daily", "all", "day", 5.0, 4.5, 0.8, "warn", 1_750_000_000.0)
    data = overview(None, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=[budget], now=1000.0)
    assert data["ledger"] is False
    assert '"LEDGER": false' in data["message"] and "restart" in data["message"]
    assert data["budgets"] == [budget.as_dict()] and data["providers"] == []


def test_provider_health_counts_attempts_and_shows_cooling_targets() -> None:
    deepseek = Provider("deepseek", "https://api.deepseek.com", KEY, ("chat",))
    backup = Provider("openrouter", "https://openrouter.ai", None, ("m",))
    now = 10_000.0

    def served(latency: float, *attempts: Attempt, **fields: Any) -> RequestRecord:
        values: dict[str, Any] = {"status": 200, **fields}
        return RequestRecord(f"req{latency}", now - 60, latency_ms=latency, attempts=list(attempts), **values)

    ok = Attempt(Target(deepseek, "chat"), 200)
    records = [
        served(100.0, ok),
        served(300.0, ok),
        served(200.0, ok),
        served(5000.0, ok, status=499, error="the client closed the connection"),  # neither failure nor latency
        served(50.0, ok, error=f"the provider's stream ended in an error: key {KEY} rejected"),  # broke midway
        served(900.0, Attempt(Target(deepseek, "chat"), 503, f"overloaded ({KEY})"), Attempt(Target(backup, "m"), 200)),
        served(1.0, Attempt(Target(deepseek, "chat"), 0, "cooling down")),  # skipped: never sent
        RequestRecord("old", now - 3600, latency_ms=10.0, status=500, attempts=[Attempt(Target(backup, "m"), 500)]),
    ]
    cooling = [Cooling("deepseek,chat", 42.0, f"HTTP 503: {KEY}"), Cooling("gemini,flash", 5.0, "HTTP 429")]
    data = overview(
        None, "24h", "hour", "provider", feed=feed_of(*records, secrets=(KEY,)), cooling=cooling, budgets=(), now=now
    )
    assert data["providers"] == [
        {
            "provider": "deepseek", "requests": 6, "errors": 2, "error_rate": 0.333, "p50_ms": 200.0,
            "p95_ms": 300.0, "last_error": f"overloaded ({REDACTED})", "last_error_at": now - 60 + 0.9,
            "cooling": [{"target": "deepseek,chat", "until": now + 42.0, "reason": f"HTTP 503: {REDACTED}"}],
        },
        {
            "provider": "openrouter", "requests": 1, "errors": 0, "error_rate": 0.0, "p50_ms": 900.0,
            "p95_ms": 900.0, "last_error": None, "last_error_at": None, "cooling": [],
        },
        {
            "provider": "gemini", "requests": 0, "errors": 0, "error_rate": None, "p50_ms": None, "p95_ms": None,
            "last_error": None, "last_error_at": None,
            "cooling": [{"target": "gemini,flash", "until": now + 5.0, "reason": "HTTP 429"}],
        },
    ]  # fmt: skip


def test_the_series_is_read_in_a_worker_thread_while_the_writer_thread_writes(store: SqliteLedger) -> None:
    """As the service runs it: the writer thread appends batches; the overview reads in asyncio's worker threads."""
    now = local(2025, 3, 11, 12)
    store.append([row(time=now - 7200, provider="deepseek", model="m")])  # the file exists, as it long has
    writer = LedgerWriter(store, report=Reports(), flush_ms=10, batch_rows=7)
    total = 401

    def write() -> None:
        for number in range(total - 1):
            writer.put(row(time=now - number, provider="deepseek", model="m", output_tokens=1))

    async def read_while_written() -> list[int]:
        seen: list[int] = []
        writing = threading.Thread(target=write)
        writing.start()
        while not seen or seen[-1] < total:
            data = await asyncio.to_thread(
                overview, store, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=(), now=now
            )
            seen.append(data["totals"]["requests"])
        writing.join()
        return seen

    try:
        seen = asyncio.run(asyncio.wait_for(read_while_written(), 60))
    finally:
        writer.close()
    assert seen == sorted(seen) and seen[-1] == total  # each read a consistent snapshot; none failed


def test_the_hour_repeated_when_clocks_go_back_is_one_bucket(store: SqliteLedger) -> None:
    set_zone("EST5EDT,M3.2.0,M11.1.0")  # 2025-11-02 02:00 EDT becomes 01:00 EST
    first_half_past_one = local(2025, 11, 2, 0, 30) + HOUR  # EDT
    second_half_past_one = first_half_past_one + HOUR  # EST: the same wall-clock hour again
    store.append([row(time=first_half_past_one), row(time=second_half_past_one)])
    now = local(2025, 11, 2, 4)
    data = overview(store, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=(), now=now)
    times = data["times"]
    assert times == sorted(set(times)) and len(times) == 24  # 25 hours passed; one of them twice on the clock
    one_o_clock = times.index(first_half_past_one - 30 * 60)
    assert data["series"]["requests"]["(none)"][one_o_clock] == 2
    assert times[one_o_clock + 1] == second_half_past_one + 30 * 60  # 02:00 EST follows
    later = local(2025, 11, 3, 4)
    days = overview(store, "7d", "day", "provider", feed=feed_of(), cooling=(), budgets=(), now=later)
    assert days["times"][-3:] == [local(2025, 11, 1), local(2025, 11, 2), local(2025, 11, 3)]  # local midnights
    assert days["times"][-1] - days["times"][-2] == 25 * HOUR  # the day the clocks went back
    assert days["series"]["requests"]["(none)"][-2] == 2


def test_hours_step_on_where_clocks_go_back_half_an_hour(store: SqliteLedger) -> None:
    """Lord Howe Island goes from +11 to +10:30 on the first Sunday of April: 02:00 becomes 01:30, and flooring
    "an hour later" to its hour lands on the same start again. Each hour is still listed once, in order."""
    set_zone("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")
    now = local(2025, 4, 6, 6)
    data = overview(store, "24h", "hour", "provider", feed=feed_of(), cooling=(), budgets=(), now=now)
    times = data["times"]
    assert times == sorted(set(times)) and len(times) == 25  # 24.5 hours on the clock, one hour bucket per hour
