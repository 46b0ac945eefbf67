"""The ledger writer: rows batched off the caller's thread and flushed on close; a bounded queue; a ledger file that
is locked, read-only, corrupt or on a full disk keeps the caller going, with one error and one recovery message."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from ccrouter.ledger.aggregate import UsageReport, UsageTotals
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SpendScope, SqliteLedger
from ccrouter.ledger.writer import LedgerWriter
from tests.ledger.support import Reports, row
from tests.support.paths import REPO_ROOT
from tests.support.waiting import wait_until

SLOW = 60_000  # a flush interval no test waits for: rows are written by batch size, flush() or close() only


class RecordingStore:
    """A real SqliteLedger that also notes each append tried and the size of each one that succeeded."""

    def __init__(self, path: Path, busy_timeout_ms: int = 2_000) -> None:
        self.inner = SqliteLedger(path, busy_timeout_ms=busy_timeout_ms)
        self.tries = 0
        self.batches: list[int] = []

    def append(self, rows: Sequence[LedgerRow]) -> None:
        self.tries += 1
        self.inner.append(rows)
        self.batches.append(len(rows))

    def aggregate(self, since: float | None, by: str) -> UsageReport:
        return self.inner.aggregate(since, by)

    def totals(self, since: float | None = None, *, session_id: str | None = None) -> UsageTotals:
        return self.inner.totals(since, session_id=session_id)

    def spend(self, scope: SpendScope, since: float) -> float:
        return self.inner.spend(scope, since)

    def close(self) -> None:
        self.inner.close()


def count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        found: int = db.execute("SELECT count(*) FROM requests").fetchone()[0]
    return found


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


def created(path: Path) -> Path:
    """A ledger file with its schema, and no connection left open."""
    store = SqliteLedger(path)
    store.schema_version()
    store.close()
    return path


# ---------------------------------------------------------------------------------------------------------------
# Batching and flushing


def test_rows_are_written_in_batches(path: Path) -> None:
    store = RecordingStore(path)
    writer = LedgerWriter(store, report=Reports(), flush_ms=SLOW, batch_rows=5)
    for _ in range(12):
        assert writer.put(row())
    wait_until(lambda: store.batches == [5, 5], "two full batches written")
    assert writer.stats().pending == 2 and count(path) == 10  # the rest waits for its interval (or close)
    writer.close()
    assert store.batches == [5, 5, 2] and count(path) == 12


def test_a_lone_row_is_written_after_the_flush_interval(path: Path) -> None:
    store = RecordingStore(path)
    writer = LedgerWriter(store, report=Reports(), flush_ms=50, batch_rows=500)
    writer.put(row())
    wait_until(lambda: store.batches == [1], "the row written without flush() or close()")
    writer.close()


def test_flush_writes_what_was_queued(path: Path) -> None:
    writer = LedgerWriter(SqliteLedger(path), report=Reports(), flush_ms=SLOW)
    for _ in range(3):
        writer.put(row())
    assert writer.flush(timeout=20)
    assert count(path) == 3
    writer.close()


def test_close_writes_what_is_waiting_and_refuses_more(path: Path) -> None:
    reports = Reports()
    writer = LedgerWriter(SqliteLedger(path), report=reports, flush_ms=SLOW)
    for _ in range(3):
        writer.put(row())
    writer.close()
    assert count(path) == 3
    assert not writer.put(row()) and reports.items == []


class Source:
    """What the gateway queues instead of a row: the writer's thread makes the row (`RowSource`)."""

    def __init__(self, request_id: str, broken: bool = False) -> None:
        self.request_id = request_id
        self.broken = broken
        self.built_on: str | None = None

    def ledger_row(self) -> LedgerRow:
        if self.broken:
            raise ValueError("a record the row cannot be made from")
        self.built_on = threading.current_thread().name
        return row(request_id=self.request_id)


def test_sources_become_rows_on_the_writers_thread(path: Path) -> None:
    writer = LedgerWriter(SqliteLedger(path), report=Reports(), flush_ms=SLOW)
    sources = [Source(f"req_{number}") for number in range(3)]
    for source in sources:
        assert writer.put(source)
    assert [source.built_on for source in sources] == [None] * 3  # nothing built on the caller's thread
    assert writer.flush(timeout=20)
    assert {source.built_on for source in sources} == {"ccr-ledger-writer"}
    assert request_ids(path) == ["req_0", "req_1", "req_2"]
    writer.close()


def test_a_source_whose_row_cannot_be_made_is_dropped_counted_and_reported_once(path: Path) -> None:
    reports = Reports()
    writer = LedgerWriter(SqliteLedger(path), report=reports, flush_ms=SLOW)
    for source in (Source("req_a"), Source("req_b", broken=True), Source("req_c"), Source("req_d", broken=True)):
        writer.put(source)
    assert writer.flush(timeout=20)  # the broken ones are settled too: flush() does not wait on them
    assert request_ids(path) == ["req_a", "req_c"]
    [error] = reports.of("error")  # one report for the two
    assert "ValueError: a record the row cannot be made from" in error and "a bug in ccrouter" in error
    assert writer.stats().dropped == 2
    writer.put(Source("req_e"))
    writer.close()
    assert request_ids(path) == ["req_a", "req_c", "req_e"]  # the thread goes on


def request_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [found for (found,) in db.execute("SELECT request_id FROM requests ORDER BY id")]


# ---------------------------------------------------------------------------------------------------------------
# Faults: the file locked, read-only, corrupt, on a full disk


@pytest.fixture
def lock_holder(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program holding the ledger's write lock (an exclusive transaction)."""
    holder = sqlite3.connect(created(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_a_locked_file_reports_once_keeps_the_rows_and_recovers(path: Path, lock_holder: sqlite3.Connection) -> None:
    reports = Reports()
    store = RecordingStore(path, busy_timeout_ms=50)
    writer = LedgerWriter(store, report=reports, flush_ms=10, retry_ms=20)
    started = time.monotonic()
    for _ in range(100):
        assert writer.put(row())
    assert time.monotonic() - started < 2.5  # each put would wait 50 ms for the lock if it touched the file

    error = reports.wait_for("error")[0]
    assert "is locked by another program" in error and str(path) in error and "Requests are served" in error
    wait_until(lambda: store.tries >= 5, "several retries")
    assert len(reports.of("error")) == 1  # retried, not reported again

    lock_holder.execute("ROLLBACK")
    assert "written again" in reports.wait_for("info")[0]
    assert writer.flush(timeout=20) and count(path) == 100
    writer.close()
    assert (len(reports.of("error")), len(reports.of("info"))) == (1, 1)


def test_a_full_queue_drops_and_counts_with_one_warning(path: Path, lock_holder: sqlite3.Connection) -> None:
    reports = Reports()
    writer = LedgerWriter(
        SqliteLedger(path, busy_timeout_ms=50), report=reports, flush_ms=10, retry_ms=20, max_pending=10
    )
    accepted = [writer.put(row()) for _ in range(15)]
    assert accepted == [True] * 10 + [False] * 5
    assert writer.stats().dropped == 5 and len(reports.of("warn")) == 1

    lock_holder.execute("ROLLBACK")
    assert "5 rows were dropped" in reports.wait_for("info")[0]
    assert writer.flush(timeout=20) and count(path) == 10
    writer.close()


def test_closing_while_the_file_fails_says_how_many_rows_are_lost(path: Path, lock_holder: sqlite3.Connection) -> None:
    reports = Reports()
    writer = LedgerWriter(SqliteLedger(path, busy_timeout_ms=50), report=reports, flush_ms=SLOW, retry_ms=20)
    for _ in range(3):
        writer.put(row())
    writer.close(timeout=20)
    assert any("3 rows are lost" in message for message in reports.of("error"))
    assert writer.stats().dropped == 3


@pytest.fixture
def make_read_only() -> Iterator[Callable[[Path], Callable[[], None]]]:
    """Makes a file or folder read-only, even for root (the immutable flag), and returns its undo."""
    undos: list[Callable[[], None]] = []

    def make(target: Path) -> Callable[[], None]:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(target)], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"root cannot make {target} read-only here (chattr: {done.stderr.strip()})")

            def undo() -> None:
                subprocess.run(["chattr", "-i", str(target)], check=True)
        else:
            mode = target.stat().st_mode
            target.chmod(0o555 if target.is_dir() else 0o444)

            def undo() -> None:
                target.chmod(mode)

        once = _once(undo)
        undos.append(once)
        return once

    yield make
    for undo in undos:
        undo()


def _once(action: Callable[[], None]) -> Callable[[], None]:
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            action()

    return run


def fault_then_recovery(path: Path, fault_words: str, fix: Callable[[], None]) -> None:
    """Rows put while the ledger fails give one error with `fault_words`; after `fix`, one recovery and every row."""
    reports = Reports()
    writer = LedgerWriter(SqliteLedger(path, busy_timeout_ms=50), report=reports, flush_ms=10, retry_ms=20)
    for _ in range(20):
        assert writer.put(row())
    error = reports.wait_for("error")[0]
    assert fault_words in error and "Requests are served as before" in error, error
    assert writer.stats().fault is not None
    fix()
    reports.wait_for("info")
    assert writer.flush(timeout=20)
    writer.close()
    assert count(path) == 20 and writer.stats().fault is None
    assert (len(reports.of("error")), len(reports.of("info"))) == (1, 1), reports.items


def test_a_read_only_file(path: Path, make_read_only: Callable[[Path], Callable[[], None]]) -> None:
    fault_then_recovery(path, "is read-only", make_read_only(created(path)))


def test_a_read_only_folder_without_the_file(
    tmp_path: Path, make_read_only: Callable[[Path], Callable[[], None]]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    fault_then_recovery(home / "ledger.db", "cannot be opened or created", make_read_only(home))


def test_a_read_only_folder_with_the_file(tmp_path: Path, make_read_only: Callable[[Path], Callable[[], None]]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    created(home / "ledger.db")  # WAL mode needs to create ledger.db-wal beside it
    undo = make_read_only(home)
    reports = Reports()
    writer = LedgerWriter(SqliteLedger(home / "ledger.db"), report=reports, flush_ms=10, retry_ms=20)
    writer.put(row())
    assert str(home / "ledger.db") in reports.wait_for("error")[0]
    undo()
    reports.wait_for("info")
    writer.close()
    assert count(home / "ledger.db") == 1


def test_a_corrupt_file_is_reported_with_how_to_start_afresh(path: Path) -> None:
    path.write_bytes(b"these bytes are no SQLite database\n" * 300)

    def move_aside() -> None:
        path.rename(path.with_name("ledger.db.corrupt"))

    fault_then_recovery(path, "is not a readable SQLite database", move_aside)
    assert path.with_name("ledger.db.corrupt").read_bytes().startswith(b"these bytes")  # kept for its owner


FULL_DISK_CHILD = r"""
import json, os, resource, signal, sys, threading, time
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import SqliteLedger
from ccrouter.ledger.writer import LedgerWriter

path = sys.argv[1]
events, cond = [], threading.Condition()

def report(level, message):
    with cond:
        events.append(level)
        print(json.dumps([level, message]), flush=True)
        cond.notify_all()

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing the process
store = SqliteLedger(path)
store.schema_version()
writer = LedgerWriter(store, report=report, flush_ms=10, retry_ms=20)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 64 * 1024, hard))  # room for a few rows
put = 0
with cond:
    while "error" not in events:
        writer.put(LedgerRow(time=time.time(), request_id=f"r{put}", status=200, attempts=json.dumps(["x" * 4000])))
        put += 1
        cond.wait(0.005)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
with cond:
    cond.wait_for(lambda: "info" in events, 30)
writer.flush(30)
writer.close()
print(json.dumps(["rows", put, store.totals().requests]), flush=True)
"""


def test_a_full_disk_is_reported_once_and_survived(path: Path) -> None:
    """The child process may write files of a few kilobytes only (RLIMIT_FSIZE): the kernel refuses the ledger's
    writes past that as a full disk would, until the limit is lifted."""
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *lines, (_, put, stored) = [json.loads(line) for line in done.stdout.splitlines()]
    errors = [message for level, message in lines if level == "error"]
    assert len(errors) == 1 and "the disk is full" in errors[0], lines
    assert [level for level, _ in lines] == ["error", "info"]
    assert stored == put > 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
