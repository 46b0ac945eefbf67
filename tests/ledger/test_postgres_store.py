"""The PostgreSQL ledger against a real PostgreSQL server (tests/support/postgres_server.py): the same rows give the
same answers as the SQLite ledger for every grouping, local days and series in any zone, totals and spend in every
scope; sums computed by hand; batches all or none; older schemas upgraded, several routers migrating at once.
(Faults, restarts and logins: test_postgres_faults.py.)"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccrouter.ledger.aggregate import GROUPINGS, OTHER_GROUP, SERIES_GROUPS
from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.postgres_migrations import LATEST
from ccrouter.ledger.postgres_store import PostgresLedger
from ccrouter.ledger.rows import COLUMNS, LedgerRow
from ccrouter.ledger.store import SpendScope, SqliteLedger
from ccrouter.ledger.writer import LedgerWriter
from tests.ledger.support import Reports, local, row, set_zone
from tests.ledger.test_store import day1, day2, seed
from tests.support.postgres_server import (  # noqa: F401 (fixtures)
    OpenLedger,
    PostgresServer,
    open_ledger_fixture,
    postgres_server_fixture,
    postgres_url_fixture,
)

Both = Callable[[list[LedgerRow]], tuple[SqliteLedger, PostgresLedger]]


@pytest.fixture
def store(open_ledger: OpenLedger, postgres_url: str) -> PostgresLedger:
    return open_ledger(postgres_url)


@pytest.fixture
def both(tmp_path: Path, store: PostgresLedger) -> Iterator[Both]:
    """Stores `rows` in a SQLite ledger and in the PostgreSQL one."""
    sqlite = SqliteLedger(tmp_path / "ledger.db")

    def store_in_both(rows: list[LedgerRow]) -> tuple[SqliteLedger, PostgresLedger]:
        sqlite.append(rows)
        store.append(rows)
        return sqlite, store

    yield store_in_both
    sqlite.close()


# ---------------------------------------------------------------------------------------------------------------
# The same answers as SQLite


def varied_rows(count: int, start: float, span_s: float) -> list[LedgerRow]:
    """Rows with every kind of value a report groups or sums: names differing only in case or beyond ASCII, NULLs,
    errors and client exits, unpriced rows. Seeded: the same rows every run."""
    pick = random.Random(16).choice
    chance = random.Random(61)
    rows = []
    for number in range(count):
        provider = pick(["deepseek", "DeepSeek", "ollama", "mystère", "Zed", None])
        rows.append(
            row(
                time=start + span_s * number / count,
                status=pick([200, 200, 200, 400, 429, 499, 502]),
                session_id=pick(["s1", "s2", "S1", "sé", None]),
                project=pick(["/p", "/q", "/Ä", None]),
                scenario=pick(["default", "think", "background", "subagent", "subagent:explore", "Subagent:plan"]),
                provider=provider,
                model=None if provider is None else pick(["chat", "Chat", "reasoner", "qwen3"]),
                input_tokens=chance.randrange(0, 50_000),
                output_tokens=chance.randrange(0, 5_000),
                cache_read_tokens=chance.randrange(0, 100_000),
                cache_write_tokens=chance.randrange(0, 2_000),
                cost_usd=None if chance.random() < 0.1 else round(chance.random() / 100, 6),
                baseline_cost_usd=None if chance.random() < 0.1 else round(chance.random() / 10, 6),
                user_name=pick(["ana", "bo", "Ana", "admin", None]),
            )
        )
    return rows


@pytest.mark.parametrize("by", list(GROUPINGS))
def test_every_grouping_gives_what_sqlite_gives(both: Both, by: str) -> None:
    rows = varied_rows(400, local(2025, 3, 1), 40 * 86400)
    sqlite, postgres = both(rows)
    for since in (None, local(2025, 3, 20, 13, 30)):
        expected = sqlite.aggregate(since, by).as_dict()
        assert postgres.aggregate(since, by).as_dict() == expected
        assert len(expected["rows"]) > 1


def test_totals_and_spend_in_every_scope_give_what_sqlite_gives(both: Both) -> None:
    rows = varied_rows(300, local(2025, 3, 1), 10 * 86400)
    sqlite, postgres = both(rows)
    since = local(2025, 3, 4)
    for session in (None, "s1", "S1", "sé", "nobody"):
        assert postgres.totals(since, session_id=session) == sqlite.totals(since, session_id=session)
    assert postgres.totals() == sqlite.totals()
    scopes = [
        SpendScope(),
        SpendScope(provider="DEEPSEEK"),
        SpendScope(provider="mystère"),
        SpendScope(provider="MYSTÈRE"),  # NOCASE folds ASCII letters only: no match in either
        SpendScope(provider="deepseek", model="CHAT"),
        SpendScope(route="subagent"),
        SpendScope(user="ana"),  # exactly: "Ana" is someone else
        SpendScope(provider="deepseek", user="bo"),
        SpendScope(route="SUBAGENT"),
        SpendScope(route="subagent:explore"),
        SpendScope(route="default", exclude=("DeepSeek", "chat")),
        SpendScope(exclude=("", "")),  # the rows without provider and model
    ]
    spent = {scope: postgres.spend(scope, since) for scope in scopes}
    assert spent == pytest.approx({scope: sqlite.spend(scope, since) for scope in scopes}, rel=1e-12, abs=1e-12)
    assert spent[SpendScope(route="subagent")] > spent[SpendScope(route="subagent:explore")] > 0
    assert spent[SpendScope(provider="MYSTÈRE")] == 0 < spent[SpendScope(provider="mystère")]


@pytest.mark.parametrize(
    "zone",
    [
        "TST-10",  # UTC+10: a local day is not a UTC day
        "CET-1CEST,M3.5.0,M10.5.0/3",  # Europe: 23 and 25 hour days
        "<-04>4<-03>,M9.1.6/24,M4.1.6/24",  # Chile: clocks change at midnight, so one day has no 00:00
        "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",  # Lord Howe: half-hour offset and half-hour DST
        "<+0545>-5:45",  # Nepal
    ],
)
def test_local_days_are_sqlites_in_any_zone(both: Both, zone: str) -> None:
    set_zone(zone)  # the ledger's conftest puts the zone back after the test
    rows = [row(time=local(2025, 3, 25) + number * 37 * 60) for number in range(16 * 24 * 60 // 37)]
    rows += [row(time=local(2025, 9, 1) + number * 37 * 60) for number in range(12 * 24 * 60 // 37)]
    sqlite, postgres = both(rows)
    expected = sqlite.aggregate(None, "day").as_dict()
    assert postgres.aggregate(None, "day").as_dict() == expected
    assert (
        postgres.aggregate(local(2025, 4, 5, 23, 30), "day").as_dict()
        == sqlite.aggregate(local(2025, 4, 5, 23, 30), "day").as_dict()
    )
    assert len(expected["rows"]) >= 16 + 12  # (a 25-hour day makes the span reach one day further)


@pytest.mark.parametrize(
    "zone",
    [
        "TST-10",
        "CET-1CEST,M3.5.0,M10.5.0/3",  # a missing hour in March, an hour twice in October
        "<+0545>-5:45",  # hours that begin at :15 in UTC
    ],
)
def test_series_per_hour_and_day_are_sqlites_in_any_zone(both: Both, zone: str) -> None:
    set_zone(zone)
    rows = varied_rows(700, local(2025, 3, 28), 11 * 86400) + varied_rows(500, local(2025, 10, 1), 30 * 86400)
    sqlite, postgres = both(rows)
    windows = [(local(2025, 3, 29, 5, 30), local(2025, 4, 7, 7)), (local(2025, 10, 3), local(2025, 10, 28, 1, 15))]
    for since, until in windows:
        for bucket in ("hour", "day"):
            for by in SERIES_GROUPS:
                expected = sqlite.series(since, until, bucket, by).as_dict()
                assert postgres.series(since, until, bucket, by).as_dict() == expected, (bucket, by)
                assert expected["totals"]["requests"] > 100
    assert OTHER_GROUP in expected["groups"]  # more than MAX_SERIES_GROUPS: the rest folded, in both alike
    with pytest.raises(ValueError, match="not a bucket"):
        postgres.series(0, 1, "week", "provider")
    with pytest.raises(ValueError, match="not a series grouping"):
        postgres.series(0, 1, "hour", "session")


# ---------------------------------------------------------------------------------------------------------------
# Rows in, sums out (computed by hand, as tests/ledger/test_store.py does for SQLite)


def test_rows_come_back_whole(store: PostgresLedger, postgres_server: PostgresServer, postgres_url: str) -> None:
    written = row(
        session_id="s", project="/home/me/app", scenario="think", provider="deepseek", model="deepseek-reasoner",
        requested_model="claude-opus-4-1", attempts='[{"target":"deepseek,deepseek-reasoner","status":200}]',
        latency_ms=812.5, ttft_ms=120.25, input_tokens=1, output_tokens=2, cache_read_tokens=3, cache_write_tokens=4,
        cost_usd=0.5, baseline_cost_usd=1.5, prices='{"cost":null,"baseline":null}', time=1741600000.123456,
    )  # fmt: skip
    store.append([written])
    stored = postgres_server.execute(f"SELECT {', '.join(COLUMNS)} FROM ccr_requests", postgres_url.rsplit("/", 1)[1])
    assert [LedgerRow(*values) for values in stored] == [written]


def test_sums_per_group_are_the_rows_sums(store: PostgresLedger) -> None:
    store.append(seed())
    by = {group["provider"]: group for group in store.aggregate(None, "provider").as_dict()["rows"]}
    deepseek = by["deepseek"]
    assert deepseek["requests"] == 4 and deepseek["errors"] == 1  # the 502; a 499 (client left) is no error
    assert (deepseek["input_tokens"], deepseek["output_tokens"]) == (330, 33)
    assert (deepseek["cache_read_tokens"], deepseek["cache_write_tokens"]) == (1000, 5)
    assert deepseek["cost_usd"] == pytest.approx(0.0035) and deepseek["savings_usd"] == pytest.approx(0.0305)
    assert by["mystery"]["cost_usd"] is None and by["mystery"]["unpriced_requests"] == 1
    days = store.aggregate(None, "day").as_dict()["rows"]
    assert [(day["day"], day["requests"]) for day in days] == [("2025-03-10", 3), ("2025-03-11", 3)]
    assert store.totals(day2()).requests == 3 and store.totals(session_id="s1").cost_usd == pytest.approx(0.003)
    assert store.spend(SpendScope(provider="DeepSeek"), day1()) == pytest.approx(0.0035)
    assert isinstance(store.totals().input_tokens, int)  # not Decimal: PostgreSQL's SUM of bigint is numeric


def test_an_empty_ledger_sums_to_zero(store: PostgresLedger) -> None:
    for by in GROUPINGS:
        report = store.aggregate(None, by).as_dict()
        assert report["rows"] == [] and report["total"]["requests"] == 0 and report["total"]["cost_usd"] == 0.0
    assert store.spend(SpendScope(), 0) == 0.0


def test_an_unknown_grouping_is_refused_with_the_choices(store: PostgresLedger) -> None:
    with pytest.raises(ValueError, match="scenario, provider, model, session, project, user, day"):
        store.aggregate(None, "colour")


def test_a_batch_with_a_bad_row_stores_nothing(store: PostgresLedger) -> None:
    store.append([row()])
    bad = row(status=None)  # NOT NULL, as in SQLite
    with pytest.raises(LedgerError, match="refused a batch") as caught:
        store.append([row(), row(), bad, row()])
    assert caught.value.kind == "rejected"
    assert store.totals().requests == 1
    store.append([row(), row()])
    assert store.totals().requests == 3


def test_a_nul_character_from_a_client_does_not_block_the_ledger(store: PostgresLedger) -> None:
    store.append([row(session_id="evil\x00id", request_id="r\x00")])  # PostgreSQL text cannot hold NUL
    assert store.totals(session_id="evil\ufffdid").requests == 1


def test_threads_read_while_the_writer_thread_writes(store: PostgresLedger) -> None:
    writer = LedgerWriter(store, report=Reports(), flush_ms=5)
    failures: list[BaseException] = []
    seen: list[int] = []

    def read() -> None:
        try:
            for _ in range(30):
                report = store.aggregate(None, "day")
                assert report.total.requests == sum(group.totals.requests for group in report.rows)
                seen.append(report.total.requests)
        except BaseException as exc:
            failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for _ in range(200):
        writer.put(row(cost_usd=0.01))
    for reader in readers:
        reader.join()
    assert writer.flush(timeout=30)
    writer.close()
    assert failures == [] and store.totals().requests == 200 and max(seen) <= 200


# ---------------------------------------------------------------------------------------------------------------
# Migrations

VERSION_1_SCHEMA = [  # what migration 1 made, with the bookkeeping (kept here verbatim, never edited)
    """CREATE TABLE ccr_requests (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time DOUBLE PRECISION NOT NULL,
        request_id TEXT NOT NULL, status INTEGER NOT NULL, session_id TEXT, project TEXT, scenario TEXT,
        provider TEXT, model TEXT, requested_model TEXT, attempts TEXT NOT NULL DEFAULT '[]',
        latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0, ttft_ms DOUBLE PRECISION,
        input_tokens BIGINT NOT NULL DEFAULT 0, output_tokens BIGINT NOT NULL DEFAULT 0,
        cache_read_tokens BIGINT NOT NULL DEFAULT 0, cache_write_tokens BIGINT NOT NULL DEFAULT 0,
        cost_usd DOUBLE PRECISION, baseline_cost_usd DOUBLE PRECISION, prices TEXT)""",
    "CREATE TABLE ccr_schema (singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), version INTEGER NOT NULL)",
    "INSERT INTO ccr_schema (version) VALUES (1)",
    """INSERT INTO ccr_requests (time, request_id, status, session_id, provider, model, input_tokens, cost_usd)
        VALUES (1741600000, 'old-1', 200, 'old-session', 'deepseek', 'deepseek-chat', 42, 0.5)""",
]


def make_version_1(server: PostgresServer, url: str) -> str:
    database = url.rsplit("/", 1)[1]
    for statement in VERSION_1_SCHEMA:
        server.execute(statement, database)
    return database


def indexes(server: PostgresServer, database: str) -> set[str]:
    found = server.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'ccr_requests'", database)
    return {name for (name,) in found}


def test_a_version_1_database_upgrades_in_place_and_keeps_its_rows(
    postgres_server: PostgresServer, postgres_url: str, store: PostgresLedger
) -> None:
    database = make_version_1(postgres_server, postgres_url)
    assert indexes(postgres_server, database) == {"ccr_requests_pkey"}
    assert store.totals(session_id="old-session").input_tokens == 42
    assert store.schema_version() == LATEST == 3
    assert indexes(postgres_server, database) == {"ccr_requests_pkey", "ccr_requests_by_time"}
    store.append([row(session_id="old-session", input_tokens=8, user_name="ana")])
    assert store.totals(session_id="old-session").input_tokens == 50
    by_user = {group.keys["user"]: group.totals.input_tokens for group in store.aggregate(None, "user").rows}
    assert by_user == {None: 42, "ana": 8}  # migration 3's user column: none for the old row


def test_a_database_from_a_newer_ccrouter_is_refused_untouched(
    postgres_server: PostgresServer, postgres_url: str, store: PostgresLedger
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.execute("CREATE TABLE ccr_schema (singleton BOOLEAN PRIMARY KEY, version INTEGER)", database)
    postgres_server.execute("INSERT INTO ccr_schema VALUES (TRUE, 99)", database)
    with pytest.raises(LedgerError, match=r"newer ccrouter .*upgrade ccrouter") as caught:
        store.append([row()])
    assert caught.value.kind == "newer"
    tables = postgres_server.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", database)
    assert tables == [("ccr_schema",)]


@pytest.mark.parametrize("old", [False, True], ids=["new database", "version 1"])
def test_routers_starting_at_once_migrate_once_and_all_work(
    postgres_server: PostgresServer, postgres_url: str, open_ledger: OpenLedger, old: bool
) -> None:
    if old:
        make_version_1(postgres_server, postgres_url)
    stores = [open_ledger(postgres_url) for _ in range(6)]
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def open_and_write(store: PostgresLedger) -> None:
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
    assert failures == []
    assert stores[0].totals().requests == 6 + old and stores[0].schema_version() == LATEST
