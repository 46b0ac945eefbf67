"""The SQLite ledger on disk: rows in, sums per group out (every --by, since, totals, nulls for unknown prices),
spend per budget scope, and files written by an older schema upgraded in place."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.migrations import LATEST
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SpendScope, SqliteLedger
from ccrouter.ledger.writer import LedgerWriter
from tests.ledger.support import local, row


def day1() -> float:
    return local(2025, 3, 10, 9)


def day2() -> float:
    return local(2025, 3, 11, 0, 30)  # 00:30 local (UTC+10) on the 11th is still the 10th in UTC


def seed() -> list[LedgerRow]:
    """Rows of two local days (made inside a test: local time is the test's zone)."""
    d1, d2 = day1(), day2()
    return [
        row(time=d1, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s1", project="/p",
            input_tokens=100, output_tokens=10, cache_read_tokens=1000, cache_write_tokens=5,
            cost_usd=0.001, baseline_cost_usd=0.01),
        row(time=d1 + 60, scenario="think", provider="deepseek", model="deepseek-reasoner", session_id="s1",
            project="/p", input_tokens=200, output_tokens=20, cost_usd=0.002, baseline_cost_usd=0.02),
        row(time=d1 + 120, scenario="background", provider="ollama", model="qwen3", session_id="s2",
            input_tokens=50, output_tokens=5, cost_usd=0.0, baseline_cost_usd=0.005),
        row(time=d2, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s2", status=502,
            cost_usd=0.0, baseline_cost_usd=0.0),
        row(time=d2 + 60, scenario="default", provider="deepseek", model="deepseek-chat", session_id="s2", status=499,
            input_tokens=30, output_tokens=3, cost_usd=0.0005, baseline_cost_usd=0.004),
        row(time=d2 + 120, scenario="subagent:explore", provider="mystery", model="foo-1", session_id="s2",
            project="/q", input_tokens=70, output_tokens=7, cost_usd=None, baseline_cost_usd=0.003),
    ]  # fmt: skip


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    store = SqliteLedger(tmp_path / "ledger.db")
    store.append(seed())
    yield store
    store.close()


def groups(store: SqliteLedger, by: str, since: float | None = None) -> dict[Any, dict[str, Any]]:
    report = store.aggregate(since, by).as_dict()
    keys = {"model": ("provider", "model")}.get(by, (by,))
    return {tuple(group[k] for k in keys) if len(keys) > 1 else group[keys[0]]: group for group in report["rows"]}


def test_rows_come_back_whole(tmp_path: Path) -> None:
    written = row(
        session_id="s", project="/home/me/app", scenario="think", provider="deepseek", model="deepseek-reasoner",
        requested_model="claude-opus-4-1", attempts='[{"target":"deepseek,deepseek-reasoner","status":200}]',
        latency_ms=812.5, ttft_ms=120.25, input_tokens=1, output_tokens=2, cache_read_tokens=3, cache_write_tokens=4,
        cost_usd=0.5, baseline_cost_usd=1.5, prices='{"cost":null,"baseline":null}',
    )  # fmt: skip
    store = SqliteLedger(tmp_path / "ledger.db")
    store.append([written])
    store.close()
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        db.row_factory = sqlite3.Row
        stored = dict(db.execute("SELECT * FROM requests").fetchone())
    assert LedgerRow(**{name: value for name, value in stored.items() if name != "id"}) == written


def test_by_provider_sums_tokens_cost_baseline_and_savings(ledger: SqliteLedger) -> None:
    by = groups(ledger, "provider")
    assert set(by) == {"deepseek", "ollama", "mystery"}
    deepseek = by["deepseek"]
    assert deepseek["requests"] == 4 and deepseek["errors"] == 1  # the 502; a 499 (client left) is no error
    assert (deepseek["input_tokens"], deepseek["output_tokens"]) == (330, 33)
    assert (deepseek["cache_read_tokens"], deepseek["cache_write_tokens"]) == (1000, 5)
    assert deepseek["cost_usd"] == pytest.approx(0.0035)
    assert deepseek["baseline_cost_usd"] == pytest.approx(0.034)
    assert deepseek["savings_usd"] == pytest.approx(0.0305)
    assert by["ollama"]["savings_usd"] == pytest.approx(0.005)


def test_a_group_with_an_unpriced_row_has_null_cost_and_counts_it(ledger: SqliteLedger) -> None:
    mystery = groups(ledger, "provider")["mystery"]
    assert mystery["cost_usd"] is None and mystery["savings_usd"] is None and mystery["unpriced_requests"] == 1
    assert mystery["baseline_cost_usd"] == pytest.approx(0.003)
    total = ledger.aggregate(None, "provider").as_dict()["total"]
    assert total["cost_usd"] is None and total["unpriced_requests"] == 1
    assert total["baseline_cost_usd"] == pytest.approx(0.042)
    assert total["requests"] == 6 and total["errors"] == 1 and total["input_tokens"] == 450


def test_by_model_keys_provider_and_model(ledger: SqliteLedger) -> None:
    by = groups(ledger, "model")
    assert set(by) == {
        ("deepseek", "deepseek-chat"),
        ("deepseek", "deepseek-reasoner"),
        ("ollama", "qwen3"),
        ("mystery", "foo-1"),
    }
    assert by[("deepseek", "deepseek-chat")]["requests"] == 3
    assert by[("deepseek", "deepseek-chat")]["cost_usd"] == pytest.approx(0.0015)


def test_by_scenario_session_and_project(ledger: SqliteLedger) -> None:
    scenarios = groups(ledger, "scenario")
    assert {k: v["requests"] for k, v in scenarios.items()} == {
        "default": 3,
        "think": 1,
        "background": 1,
        "subagent:explore": 1,
    }
    sessions = groups(ledger, "session")
    assert {k: v["requests"] for k, v in sessions.items()} == {"s1": 2, "s2": 4}
    assert sessions["s1"]["cost_usd"] == pytest.approx(0.003)
    projects = groups(ledger, "project")
    assert {k: v["requests"] for k, v in projects.items()} == {"/p": 2, None: 3, "/q": 1}


def test_by_day_uses_local_days(ledger: SqliteLedger) -> None:
    days = groups(ledger, "day")
    assert list(days) == ["2025-03-10", "2025-03-11"]  # oldest first
    assert days["2025-03-10"]["requests"] == 3 and days["2025-03-11"]["requests"] == 3


def test_since_leaves_out_older_rows(ledger: SqliteLedger) -> None:
    report = ledger.aggregate(day2(), "provider").as_dict()
    assert report["total"]["requests"] == 3
    assert set(groups(ledger, "provider", day2())) == {"deepseek", "mystery"}
    assert report["since"].startswith("2025-03-11T00:30:00+10:00")
    assert report["by"] == "provider"


def test_an_unknown_grouping_is_refused_with_the_choices(ledger: SqliteLedger) -> None:
    with pytest.raises(ValueError, match="scenario, provider, model, session, project, user, day"):
        ledger.aggregate(None, "colour")


def test_totals_of_one_session(ledger: SqliteLedger) -> None:
    s1 = ledger.totals(session_id="s1")
    assert s1.requests == 2 and s1.cost_usd == pytest.approx(0.003) and s1.savings_usd == pytest.approx(0.027)
    assert ledger.totals(day2(), session_id="s1").requests == 0


def test_an_empty_ledger_sums_to_zero(tmp_path: Path) -> None:
    report = SqliteLedger(tmp_path / "ledger.db").aggregate(None, "day").as_dict()
    assert report["rows"] == [] and report["total"]["requests"] == 0 and report["total"]["cost_usd"] == 0.0


@pytest.mark.parametrize(
    ("scope", "since", "expected"),
    [
        (SpendScope(), day1, 0.0035),
        (SpendScope(), day2, 0.0005),
        (SpendScope(provider="DeepSeek"), day1, 0.0035),
        (SpendScope(provider="deepseek", model="deepseek-reasoner"), day1, 0.002),
        (SpendScope(route="default"), day1, 0.0015),
        (SpendScope(route="think"), day1, 0.002),
        (SpendScope(route="default", exclude=("deepseek", "deepseek-chat")), day1, 0.0),
        (SpendScope(exclude=("ollama", "qwen3")), day1, 0.0035),
    ],
)
def test_spend_in_a_scope(ledger: SqliteLedger, scope: SpendScope, since: Callable[[], float], expected: float) -> None:
    assert ledger.spend(scope, since()) == pytest.approx(expected)


def test_spend_of_the_subagent_route_covers_every_agent_type(tmp_path: Path) -> None:
    store = SqliteLedger(tmp_path / "ledger.db")
    store.append([row(scenario="subagent:explore", cost_usd=1.0), row(scenario="subagent", cost_usd=2.0)])
    assert store.spend(SpendScope(route="subagent"), 0) == 3.0
    assert store.spend(SpendScope(route="subagent:explore"), 0) == 1.0


def test_the_file_is_private_and_in_wal_mode(ledger: SqliteLedger, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    assert os.stat(path).st_mode & 0o077 == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_readers_in_other_threads_see_committed_rows(ledger: SqliteLedger, tmp_path: Path) -> None:
    seen: list[int] = []
    reader = SqliteLedger(tmp_path / "ledger.db", read_only=True)
    thread = threading.Thread(target=lambda: seen.append(reader.totals().requests))
    thread.start()
    thread.join()
    ledger.append([row()])
    assert seen == [6] and reader.totals().requests == 7
    reader.close()


def test_a_read_only_reader_of_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot be opened") as caught:
        SqliteLedger(tmp_path / "nothing.db", read_only=True).totals()
    assert not (tmp_path / "nothing.db").exists()
    assert caught.value.kind == "cannot-open"


# ---------------------------------------------------------------------------------------------------------------
# Migrations

VERSION_1_SCHEMA = """
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, request_id TEXT NOT NULL, status INTEGER NOT NULL,
    session_id TEXT, project TEXT, scenario TEXT, provider TEXT, model TEXT, requested_model TEXT,
    attempts TEXT NOT NULL DEFAULT '[]', latency_ms REAL NOT NULL DEFAULT 0, ttft_ms REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL, baseline_cost_usd REAL, prices TEXT
);
CREATE INDEX requests_by_time ON requests (time);
INSERT INTO requests (time, request_id, status, session_id, provider, model, input_tokens, cost_usd)
    VALUES (1741600000, 'old-1', 200, 'old-session', 'deepseek', 'deepseek-chat', 42, 0.5);
PRAGMA user_version = 1;
"""  # what migration 1 made, as a ccrouter of that schema wrote it (kept here verbatim, never edited)


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_a_version_1_file_upgrades_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1_SCHEMA)
    store = SqliteLedger(path)
    assert store.totals(session_id="old-session").input_tokens == 42
    assert store.schema_version() == LATEST == 4
    assert indexes(path) == {"requests_by_time"}  # migration 2's session index, dropped again by 3
    store.append([row(session_id="old-session", input_tokens=8, user_name="ana")])
    assert store.totals(session_id="old-session").input_tokens == 50
    by_user = {group.keys["user"]: group.totals.input_tokens for group in store.aggregate(None, "user").rows}
    assert by_user == {None: 42, "ana": 8}  # migration 4's user column: none for the old row
    store.close()


def test_an_empty_file_becomes_a_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"")  # version 0: what `touch` leaves
    store = SqliteLedger(path)
    store.append([row()])
    assert store.schema_version() == LATEST and store.totals().requests == 1
    store.close()


def test_two_processes_opening_an_old_file_at_once_both_work(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.executescript(VERSION_1_SCHEMA)
    stores = [SqliteLedger(path), SqliteLedger(path)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def open_and_write(store: SqliteLedger) -> None:
        start.wait()
        try:
            store.append([row()])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and stores[0].totals().requests == 3
    for store in stores:
        store.close()


def test_a_file_from_a_newer_ccrouter_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(LedgerError, match="newer ccrouter") as caught:
        SqliteLedger(path).append([row()])
    assert caught.value.kind == "newer"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_two_readers_aggregate_while_the_writer_writes(tmp_path: Path) -> None:
    """Two `ccr usage` runs (each its own read-only store, as a separate process would open) during steady writes:
    neither waits for nor disturbs the writer, and each sees a consistent, growing ledger."""
    path = tmp_path / "ledger.db"
    writer = LedgerWriter(SqliteLedger(path), report=lambda level, message: None, flush_ms=5)
    writer.put(row(cost_usd=0.01))
    assert writer.flush(timeout=20)
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: list[list[int]] = [[], []]

    def write() -> None:
        while not stop.is_set():
            writer.put(row(cost_usd=0.01))
            stop.wait(0.0005)

    def read(into: list[int]) -> None:
        try:
            for _ in range(40):
                reader = SqliteLedger(path, read_only=True)
                report = reader.aggregate(None, "day")
                assert report.total.requests == sum(group.totals.requests for group in report.rows)
                assert report.total.cost_usd == pytest.approx(0.01 * report.total.requests)
                into.append(report.total.requests)
                reader.close()
        except BaseException as exc:
            failures.append(exc)

    writing = threading.Thread(target=write)
    readers = [threading.Thread(target=read, args=(into,)) for into in seen]
    writing.start()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    stop.set()
    writing.join()
    writer.close()
    assert failures == []
    assert all(counts == sorted(counts) and counts[0] >= 1 for counts in seen)
