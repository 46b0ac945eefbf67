"""Where the ledger's rows live: the `LedgerStore` interface, and `SqliteLedger` at `$CCR_HOME/ledger.db`.

The interface is what the service, `ccr usage` and the budgets use, and all a PostgreSQL ledger for teams has to
provide: append rows, sums per group, spend in a scope. `SqliteLedger` keeps one connection per thread (the
writer thread appends; readers aggregate), in WAL mode so readers never wait for the writer nor block it, with
`synchronous=NORMAL`: a committed batch survives the process being killed (a power cut may lose the last ones).
A connection that failed is dropped and the next call opens a new one, so a file that was locked, read-only,
corrupt or on a full disk works again once that is fixed. Every failure is a `LedgerError` saying what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from ccrouter.ledger.aggregate import (
    UsageReport,
    UsageSeries,
    UsageTotals,
    grouped_query,
    groups_of,
    series_query,
    usage_series,
)
from ccrouter.ledger.faults import LedgerError, describe
from ccrouter.ledger.migrations import check_not_newer, migrate, schema_version
from ccrouter.ledger.queries import SQLITE, spend_query, totals_query
from ccrouter.ledger.queries import SpendScope as SpendScope  # where the interface's users have always found it
from ccrouter.ledger.rows import COLUMNS, LedgerRow, values_of

T = TypeVar("T")
DEFAULT_BUSY_TIMEOUT_MS = 2_000  # how long a call waits for another program's lock before it is a fault
_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class LedgerStore(Protocol):
    def append(self, rows: Sequence[LedgerRow]) -> None:
        """Store `rows` all or none; raises LedgerError."""

    def aggregate(self, since: float | None, by: str) -> UsageReport:
        """Sums per group of `by` (see aggregate.GROUPINGS) and in total, of the rows since Unix time `since`."""

    def series(self, since: float, until: float, bucket: str, by: str) -> UsageSeries:
        """Sums per local `bucket` (hour, day) and group of `by` (see aggregate.SERIES_GROUPS) of the rows in
        [since, until]: every bucket present, the busiest groups and the rest as "other"."""

    def totals(self, since: float | None = None, *, session_id: str | None = None) -> UsageTotals:
        """Sums of the rows since `since`, of one session when `session_id` is given."""

    def spend(self, scope: SpendScope, since: float) -> float:
        """USD spent in `scope` since `since` (rows without a known price count 0)."""

    def close(self) -> None: ...


class SqliteLedger:
    """The ledger in one SQLite file. `read_only` opens it for reading only (never creates nor migrates it)."""

    def __init__(
        self, path: str | os.PathLike[str], *, read_only: bool = False, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    def append(self, rows: Sequence[LedgerRow]) -> None:
        if not rows:
            return

        def insert(connection: sqlite3.Connection) -> None:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_INSERT, [values_of(row) for row in rows])
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise

        self._use(insert)

    def aggregate(self, since: float | None, by: str) -> UsageReport:
        sql, parameters = grouped_query(by, since)  # ValueError for an unknown `by`, before touching the file
        groups = groups_of(by, self._read(sql, parameters))
        return UsageReport(since, by, groups, UsageTotals.combine(group.totals for group in groups))

    def series(self, since: float, until: float, bucket: str, by: str) -> UsageSeries:
        sql, parameters = series_query(bucket, by, since, until)  # ValueError for an unknown one, before the file
        return usage_series(bucket, by, since, until, self._read(sql, parameters))

    def totals(self, since: float | None = None, *, session_id: str | None = None) -> UsageTotals:
        records = self._read(*totals_query(SQLITE, since, session_id))
        return UsageTotals.from_sums(records[0]) if records else UsageTotals()

    def spend(self, scope: SpendScope, since: float) -> float:
        records = self._read(*spend_query(SQLITE, scope, since))
        return float(records[0][0]) if records else 0.0

    def schema_version(self) -> int:
        return self._use(schema_version)

    def close(self) -> None:
        """Close every thread's connection (WAL checkpointed by the last one). The store can be used again."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(sqlite3.Error):
                connection.close()
        self._local = threading.local()

    # -----------------------------------------------------------------------------------------------------------

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        def run(connection: sqlite3.Connection) -> list[Any]:
            if self.read_only and not _has_table(connection):
                return []  # a ledger not written yet reads as empty
            return connection.execute(sql, parameters).fetchall()

        return self._use(run)

    def _use(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job` on this thread's connection; on any failure the connection is dropped and a LedgerError raised."""
        try:
            return job(self._connection())
        except LedgerError:
            self._drop_connection()
            raise
        except (sqlite3.Error, OSError) as exc:
            self._drop_connection()
            raise describe(exc, self.path) from None

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            target, uri = f"file:{quote(self.path)}?mode=ro", True
        else:
            _create_private(self.path)
            target, uri = self.path, False
        connection = sqlite3.connect(
            target, uri=uri, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            if self.read_only:
                check_not_newer(connection, self.path)
            else:
                connection.execute("PRAGMA journal_mode = WAL").fetchall()
                connection.execute("PRAGMA synchronous = NORMAL")
                migrate(connection, self.path)
        except BaseException:
            connection.close()
            raise
        return connection

    def _drop_connection(self) -> None:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is None:
            return
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
        with contextlib.suppress(sqlite3.Error):
            connection.close()


def _create_private(path: str) -> None:
    """Create the file (and its folder) readable by its owner only, before SQLite creates it world-readable: rows
    name projects and sessions. SQLite gives its -wal and -shm files the same mode. An existing file is left as is."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))


def _has_table(connection: sqlite3.Connection) -> bool:
    found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests'").fetchone()
    return found is not None
